import type {
  ApiKey,
  ApiKeyView,
  Attempt,
  AttemptView,
  Delivery,
  DeliveryView,
  Endpoint,
  EndpointView,
  Event,
  EventType,
  EventTypeView,
  EventView,
  Tenant,
  TenantView,
} from "@herald/schema";

import { tenantLimits } from "./services/tenant-limits.ts";

const iso = (date: Date) => date.toISOString();
const isoOrNull = (date: Date | null) => (date ? date.toISOString() : null);

export function tenantView(row: Tenant, config: Parameters<typeof tenantLimits>[0]): TenantView {
  return {
    id: row.id,
    name: row.name,
    uid: row.uid,
    metadata: row.metadata,
    limits: tenantLimits(config, row),
    createdAt: iso(row.createdAt),
    updatedAt: iso(row.updatedAt),
  };
}

export function eventTypeView(row: EventType): EventTypeView {
  return {
    name: row.name,
    description: row.description,
    example: row.example ?? null,
    schema: (row.schema as Record<string, unknown> | null) ?? null,
    archived: row.archived,
    createdAt: iso(row.createdAt),
    updatedAt: iso(row.updatedAt),
  };
}

export function endpointView(row: Endpoint): EndpointView {
  return {
    id: row.id,
    tenantId: row.tenantId,
    name: row.name,
    uid: row.uid,
    url: row.url,
    eventTypes: row.eventTypes,
    headers: row.headers,
    rateLimit: row.rateLimit,
    maxAttempts: row.maxAttempts,
    disabled: row.disabled,
    disabledReason: row.disabledReason,
    disabledAt: isoOrNull(row.disabledAt),
    metadata: row.metadata,
    stats: {
      sent: row.sentCount,
      succeeded: row.succeededCount,
      failed: row.failedCount,
      lastSuccessAt: isoOrNull(row.lastSuccessAt),
      lastFailureAt: isoOrNull(row.lastFailureAt),
    },
    createdAt: iso(row.createdAt),
    updatedAt: iso(row.updatedAt),
  };
}

export function eventView(row: Event): EventView {
  return {
    id: row.id,
    eventType: row.eventType,
    payload: JSON.parse(row.payload),
    idempotencyKey: row.idempotencyKey,
    createdAt: iso(row.createdAt),
  };
}

export function deliveryView(row: Delivery): DeliveryView {
  return {
    id: row.id,
    eventId: row.eventId,
    endpointId: row.endpointId,
    status: row.status,
    attempts: row.attempts,
    lastStatusCode: row.lastStatusCode,
    lastError: row.lastError,
    nextAttemptAt: isoOrNull(row.nextAttemptAt),
    isTest: row.isTest,
    createdAt: iso(row.createdAt),
    updatedAt: iso(row.updatedAt),
  };
}

export function attemptView(row: Attempt): AttemptView {
  return {
    id: row.id,
    attemptNumber: row.attemptNumber,
    startedAt: iso(row.startedAt),
    durationMs: row.durationMs,
    statusCode: row.statusCode,
    errorKind: row.errorKind,
    errorMessage: row.errorMessage,
    requestHeaders: row.requestHeaders ?? null,
    responseHeaders: row.responseHeaders ?? null,
    responseBody: row.responseBody,
  };
}

export function apiKeyView(row: ApiKey): ApiKeyView {
  return {
    id: row.id,
    tenantId: row.tenantId,
    name: row.name,
    start: row.start,
    createdAt: iso(row.createdAt),
    lastUsedAt: isoOrNull(row.lastUsedAt),
    expiresAt: isoOrNull(row.expiresAt),
    revokedAt: isoOrNull(row.revokedAt),
  };
}
