import type { Delivery, DeliveryStatus, Endpoint, Event, EventType, SvixEndpointOut, SvixMessageOut, Tenant } from "@herald/schema";
import type { AttemptRow } from "../services/attempts.ts";

const iso = (date: Date) => date.toISOString();

export function applicationOut(row: Tenant) {
  return {
    id: row.id,
    uid: row.uid,
    name: row.name,
    metadata: row.metadata,
    rateLimit: null,
    throttleRate: null,
    createdAt: iso(row.createdAt),
    updatedAt: iso(row.updatedAt),
  };
}

export function eventTypeOut(row: EventType) {
  return {
    name: row.name,
    description: row.description,
    archived: row.archived,
    deprecated: false as const,
    schemas: row.schema ? { "1": row.schema } : null,
    featureFlag: null,
    featureFlags: null,
    groupName: null,
    createdAt: iso(row.createdAt),
    updatedAt: iso(row.updatedAt),
  };
}

export function endpointOut(row: Endpoint): SvixEndpointOut {
  return {
    id: row.id,
    uid: row.uid,
    url: row.url,
    description: row.name === row.url ? "" : row.name,
    version: 1,
    disabled: row.disabled,
    filterTypes: row.eventTypes.length > 0 ? row.eventTypes : null,
    channels: null,
    rateLimit: row.rateLimit,
    throttleRate: row.rateLimit,
    metadata: row.metadata,
    createdAt: iso(row.createdAt),
    updatedAt: iso(row.updatedAt),
  };
}

/** A stored event's payload, kept as the JSON text the publisher sent, as a value for a Svix body. */
export function storedPayload(event: Pick<Event, "payload">): unknown {
  return JSON.parse(event.payload);
}

export function messageOut(row: Pick<Event, "id" | "uid" | "eventType" | "createdAt">, payload: unknown): SvixMessageOut {
  return {
    id: row.id,
    eventId: row.uid,
    eventType: row.eventType,
    payload,
    timestamp: iso(row.createdAt),
    channels: null,
    tags: null,
    deliverAt: null,
  };
}

const STATUS_TEXT = ["success", "pending", "fail", "sending", "canceled"] as const;

/**
 * A delivery's status in Svix's numbers: a failed delivery has a retry
 * scheduled (sending), an exhausted one has given up (fail), a held one waits
 * for its disabled endpoint (canceled, as Svix calls what a disabled endpoint
 * did not get; `recover` sends it).
 */
export function deliveryStatus(status: DeliveryStatus) {
  const number = ({ succeeded: 0, pending: 1, exhausted: 2, failed: 3, held: 4 } as const)[status];
  return { status: number, statusText: STATUS_TEXT[number] };
}

export function attemptOut(row: AttemptRow) {
  const status = row.errorKind === null ? (0 as const) : (2 as const);
  return {
    id: row.id,
    msgId: row.eventId,
    endpointId: row.endpointId,
    url: row.url,
    response: row.responseBody ?? row.errorMessage ?? "",
    responseStatusCode: row.statusCode ?? 0,
    responseDurationMs: row.durationMs,
    status,
    statusText: STATUS_TEXT[status],
    triggerType: row.isTest ? (1 as const) : (0 as const),
    timestamp: iso(row.startedAt),
  };
}

export function messageEndpointOut(endpoint: Endpoint, delivery: Delivery) {
  return {
    ...endpointOut(endpoint),
    ...deliveryStatus(delivery.status),
    nextAttempt: delivery.nextAttemptAt ? iso(delivery.nextAttemptAt) : null,
  };
}

/** Svix's page: `iterator` continues it, `done` says there is nothing after it. */
export function listOut<T>(data: T[], nextCursor: string | null) {
  return { data, iterator: nextCursor, prevIterator: null, done: nextCursor === null };
}

export function endpointMessageOut(event: Event, delivery: Delivery, withContent: boolean) {
  return {
    ...messageOut(event, withContent ? storedPayload(event) : {}),
    ...deliveryStatus(delivery.status),
    nextAttempt: delivery.nextAttemptAt ? iso(delivery.nextAttemptAt) : null,
  };
}
