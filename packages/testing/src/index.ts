export { createTestDatabase, TEST_ADMIN_URL, type TestDatabase } from "./database.ts";
export { startSilentServer, startTcpProxy, type TcpProxy } from "./faults.ts";
export { type Herald, startHerald, TEST_ADMIN_TOKEN } from "./herald.ts";
export { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from "./otlp-receiver.ts";
export { eventually, type HeraldProcess, REPO_ROOT, startProcess } from "./processes.ts";
export { type ReceivedRequest, type Receiver, type RequestMatch, type Responder, respondWith, startReceiver } from "./receiver.ts";
export { deletePrefix, freshQueuePrefix, TEST_REDIS_URL } from "./redis.ts";
export { type RedisCluster, startRedisCluster } from "./redis-cluster.ts";
export { freePort, type PrivateRedis, startPrivateRedis } from "./redis-server.ts";
