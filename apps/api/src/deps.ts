import type { ApiConfig } from "@herald/config";
import type { DeliveryClient } from "@herald/delivery";
import type { DeliveryQueues, RedisClient } from "@herald/queue";
import type { Database, Sql } from "@herald/schema/client";
import type { MiddlewareHandler } from "hono";
import type { Logger } from "pino";

/** Everything the API needs from outside, passed in so tests build the real thing. */
export interface AppDeps {
  config: ApiConfig;
  db: Database;
  sql: Sql;
  redis: RedisClient;
  queues: DeliveryQueues;
  logger: Logger;
  deliveryClient: DeliveryClient;
  /**
   * With OpenTelemetry on, the middleware that gives every request a server span (an incoming traceparent is its
   * parent); none otherwise, not even a no-op span per request.
   */
  tracing?: MiddlewareHandler | undefined;
}

export type Principal = { kind: "admin" } | { kind: "tenant"; tenantId: string; keyId: string };

/** What a service call gets: the dependencies and who is asking. No HTTP in here. */
export interface ServiceContext extends AppDeps {
  principal: Principal;
}

export type AppEnv = {
  Variables: {
    requestId: string;
    principal: Principal;
    ctx: ServiceContext;
  };
};
