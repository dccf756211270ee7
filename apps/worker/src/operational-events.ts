import { generateSecret } from "@herald/delivery";
import { publish } from "@herald/publishing";
import type { DeliveryQueues } from "@herald/queue";
import { newId } from "@herald/schema";
import type { Sql } from "@herald/schema/client";
import { type SecretKeys, sealSecret } from "@herald/schema/secrets";
import type { Logger } from "pino";

export const OPERATIONAL_EVENT_TYPES = [
  {
    name: "endpoint.disabled",
    description: "Herald disabled an endpoint: it answered 410 Gone, or it failed continuously for the configured window.",
    example: {
      tenantId: "ten_01jd0000000000000000000000",
      endpointId: "ep_01jd0000000000000000000000",
      url: "https://example.com/webhooks",
      reason: "the receiver answered 410 Gone",
      failingSince: null,
    },
  },
  {
    name: "delivery.exhausted",
    description: "A delivery used every attempt of its retry schedule without a 2xx answer; it stays stored and can be retried.",
    example: {
      tenantId: "ten_01jd0000000000000000000000",
      endpointId: "ep_01jd0000000000000000000000",
      deliveryId: "dlv_01jd0000000000000000000000",
      eventId: "evt_01jd0000000000000000000000",
      attempts: 10,
      lastStatusCode: 500,
      lastError: "receiver answered 500",
    },
  },
] as const;

export interface OperationalEventsOptions {
  /** uid of the tenant that receives operational events. */
  tenantUid: string;
  /** When set, an endpoint of the operator tenant delivers operational events here. */
  webhookUrl?: string | undefined;
  /** HERALD_ENCRYPTION_KEY: the operator endpoint's secret is stored encrypted like any other. */
  secretKeys?: SecretKeys | undefined;
}

export interface DisabledEndpoint {
  endpointId: string;
  tenantId: string;
  url: string;
  reason: string;
  failingSince: string | null;
  disabledAt: string;
}

export interface ExhaustedDelivery {
  deliveryId: string;
  eventId: string;
  endpointId: string;
  tenantId: string;
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
}

/**
 * Publishes what operators must know (an endpoint disabled, a delivery out of
 * attempts) as ordinary events of an operator tenant, so they are stored,
 * signed and delivered like any webhook and visible in the API.
 */
export function createOperationalEvents(deps: { sql: Sql; queues: DeliveryQueues; logger: Logger }, options: OperationalEventsOptions) {
  let operatorTenantId: string | undefined;

  /**
   * At start: registers the two event types in the catalog if absent, and when
   * an operator webhook URL is configured, its tenant and endpoint too.
   * Safe in many workers at once.
   */
  async function start(): Promise<void> {
    for (const type of OPERATIONAL_EVENT_TYPES) {
      await deps.sql`
        insert into event_types (name, description, example)
        values (${type.name}, ${type.description}, ${JSON.stringify(type.example)}::jsonb)
        on conflict (name) do nothing`;
    }
    if (options.webhookUrl) await ensure();
  }

  /** The operator tenant (and the operator endpoint, if configured), created on first use. */
  async function ensure(): Promise<string> {
    if (operatorTenantId) return operatorTenantId;
    operatorTenantId = await deps.sql.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(hashtext('herald-operational-events'))`;
      await tx`
        insert into tenants (id, uid, name) values (${newId("tenant")}, ${options.tenantUid}, 'Herald operator')
        on conflict (uid) do nothing`;
      const [tenant] = await tx<{ id: string }[]>`select id from tenants where uid = ${options.tenantUid}`;
      if (!tenant) throw new Error(`operator tenant ${options.tenantUid} could not be created`);
      if (options.webhookUrl) {
        const [existing] = await tx`select id from endpoints where tenant_id = ${tenant.id} and url = ${options.webhookUrl}`;
        if (!existing) {
          await tx`
            insert into endpoints (id, tenant_id, name, url, event_types, secret)
            values (${newId("endpoint")}, ${tenant.id}, 'Operator webhook', ${options.webhookUrl},
                    ${OPERATIONAL_EVENT_TYPES.map((t) => t.name)}::text[], ${sealSecret(options.secretKeys, generateSecret())})`;
        }
      }
      return tenant.id;
    });
    return operatorTenantId;
  }

  async function isOperatorTenant(tenantId: string): Promise<boolean> {
    if (operatorTenantId) return tenantId === operatorTenantId;
    const [row] = await deps.sql`select 1 from tenants where id = ${tenantId} and uid = ${options.tenantUid}`;
    return row !== undefined;
  }

  async function emit(eventType: string, payload: object, idempotencyKey: string): Promise<void> {
    try {
      const tenantId = await ensure();
      await publish(deps, { tenantId, eventType, payload, idempotencyKey });
    } catch (error) {
      deps.logger.error({ err: error, eventType, idempotencyKey }, "could not publish an operational event");
    }
  }

  return {
    start,
    async endpointDisabled(endpoint: DisabledEndpoint): Promise<void> {
      // The operator's own endpoints failing must not feed events back to themselves.
      if (await isOperatorTenant(endpoint.tenantId)) return;
      await emit("endpoint.disabled", endpoint, `endpoint.disabled:${endpoint.endpointId}:${endpoint.disabledAt}`);
    },
    async deliveryExhausted(delivery: ExhaustedDelivery): Promise<void> {
      if (await isOperatorTenant(delivery.tenantId)) return;
      await emit("delivery.exhausted", delivery, `delivery.exhausted:${delivery.deliveryId}`);
    },
  };
}

export type OperationalEvents = ReturnType<typeof createOperationalEvents>;
