export { createDeliveryQueues, type DeliveryQueues, type DeliveryQueuesOptions } from "./delivery-queues.ts";
export {
  type Admission,
  type AdmissionReason,
  createEndpointGuard,
  type DeliveryRef,
  type EndpointGuard,
  type EndpointGuardOptions,
  type EndpointState,
  parkedWindow,
  refillThreshold,
} from "./endpoint-guard.ts";
export {
  BACKLOG_QUEUE,
  BACKOFF_TYPE,
  DEFAULT_QUEUE_PREFIX,
  DELIVERY_JOB_OPTIONS,
  DELIVERY_QUEUE,
  type DeliveryJob,
  deliveryJobEntry,
  deliveryJobSchema,
  JOB_NAMES,
} from "./jobs.ts";
export { createKeys, type Keys } from "./keys.ts";
export { endpointsWithParked, type ParkingDeps, releaseParkedMany } from "./parking.ts";
export { createRedisClient, duplicateRedis, firstRedisUrl, type RedisClient, type RedisClientOptions } from "./redis.ts";
export { shardOf, shardPrefix, shardPrefixes } from "./shards.ts";
