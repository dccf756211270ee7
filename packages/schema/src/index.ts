export * from "./api/common.ts";
export * from "./api/endpoints.ts";
export * from "./api/event-types.ts";
export * from "./api/events.ts";
export * from "./api/tenants.ts";
export * from "./ids.ts";
export * from "./queues.ts";
export * from "./tables.ts";
