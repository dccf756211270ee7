import { parseDuration } from "@herald/config";
import { checkWebhookUrl, customHeaderProblems, generateSecret, isValidSecret } from "@herald/delivery";
import {
  type Endpoint,
  type EndpointCreate,
  type EndpointSecretView,
  type EndpointUpdate,
  endpoints,
  eventTypes,
  newId,
  type SecretRotate,
} from "@herald/schema";
import { openSecret, sealSecret } from "@herald/schema/secrets";
import { and, asc, desc, eq, gt, inArray, lt, or } from "drizzle-orm";
import type { ServiceContext } from "../deps.ts";
import { ApiError, notFound } from "../errors.ts";
import { page } from "../pagination.ts";
import { closeCircuit } from "./requeue.ts";
import { checkEndpointLimit } from "./tenant-limits.ts";
import { isUniqueViolation, resolveTenant } from "./tenants.ts";

function validateUrl(ctx: ServiceContext, url: string): void {
  const problem = checkWebhookUrl(url, ctx.config.HERALD_ALLOW_PRIVATE_TARGETS);
  if (problem) throw new ApiError("invalid_url", `url ${problem.problem}`, [{ path: "url", message: problem.problem }]);
}

/** Exact names must be in the catalog; wildcards are kept as they are. */
async function validateSubscriptions(ctx: ServiceContext, names: string[] | undefined): Promise<string[]> {
  const unique = [...new Set(names ?? [])];
  const exact = unique.filter((name) => !name.endsWith("*"));
  if (exact.length > 0) {
    const known = await ctx.db.select({ name: eventTypes.name }).from(eventTypes).where(inArray(eventTypes.name, exact));
    const knownNames = new Set(known.map((row) => row.name));
    const unknown = exact.filter((name) => !knownNames.has(name));
    if (unknown.length > 0) {
      throw new ApiError(
        "unknown_event_type",
        `not in the event catalog: ${unknown.join(", ")}`,
        unknown.map((name) => ({ path: `eventTypes.${unique.indexOf(name)}`, message: `${name} is not in the event catalog` })),
      );
    }
  }
  return unique;
}

/**
 * Secrets are encrypted in the table (HERALD_ENCRYPTION_KEY); every endpoint
 * this module hands out holds them readable, and every write seals them.
 */
function readable(ctx: ServiceContext, row: Endpoint): Endpoint {
  const keys = ctx.config.HERALD_ENCRYPTION_KEY;
  return { ...row, secret: openSecret(keys, row.secret), previousSecret: row.previousSecret && openSecret(keys, row.previousSecret) };
}

/** Custom headers must be sendable as they are: the same rules the delivery engine applies, answered with a 422 naming each header. */
function checkHeaders(headers: Record<string, string> | undefined): void {
  const problems = customHeaderProblems(headers ?? {});
  if (problems.length === 0) return;
  const errors = problems.map((p) => ({ path: p.name ? `headers.${p.name}` : "headers", message: p.message }));
  throw new ApiError("invalid_header", errors.map((e) => `${e.path}: ${e.message}`).join("; "), errors);
}

function checkSecret(secret: string): void {
  if (!isValidSecret(secret)) {
    throw new ApiError("validation_failed", "secret must be whsec_ followed by base64 of 24 to 64 bytes", [
      { path: "secret", message: "must be whsec_ followed by base64 of 24 to 64 bytes" },
    ]);
  }
}

/** A repeated endpoint uid is the caller's conflict (409), named in the answer. */
async function orUidTaken<T>(uid: string | null | undefined, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (uid && isUniqueViolation(error)) throw new ApiError("conflict", `an endpoint with uid ${uid} already exists in this tenant`);
    throw error;
  }
}

export async function createEndpoint(ctx: ServiceContext, tenantIdOrUid: string, input: EndpointCreate): Promise<Endpoint> {
  const tenant = await resolveTenant(ctx, tenantIdOrUid);
  validateUrl(ctx, input.url);
  checkHeaders(input.headers);
  await checkEndpointLimit(ctx, tenant);
  if (input.secret !== undefined) checkSecret(input.secret);
  const subscribed = await validateSubscriptions(ctx, input.eventTypes);
  const disabled = input.disabled ?? false;
  const [row] = await orUidTaken(input.uid, () =>
    ctx.db
      .insert(endpoints)
      .values({
        id: newId("endpoint"),
        tenantId: tenant.id,
        name: input.name,
        uid: input.uid ?? null,
        url: input.url,
        eventTypes: subscribed,
        headers: input.headers ?? {},
        rateLimit: input.rateLimit ?? null,
        maxAttempts: input.maxAttempts ?? null,
        secret: sealSecret(ctx.config.HERALD_ENCRYPTION_KEY, input.secret ?? generateSecret()),
        disabled,
        disabledReason: disabled ? "disabled on creation" : null,
        disabledAt: disabled ? new Date() : null,
        metadata: input.metadata ?? {},
      })
      .returning(),
  );
  return readable(ctx, row as Endpoint);
}

/** Newest first by default; `oldest` pages from the first created. */
export async function listEndpoints(
  ctx: ServiceContext,
  tenantIdOrUid: string,
  input: { limit: number; cursor?: string | undefined; order?: "newest" | "oldest" },
) {
  const tenant = await resolveTenant(ctx, tenantIdOrUid);
  const oldest = input.order === "oldest";
  const after = oldest ? gt : lt;
  const rows = await ctx.db
    .select()
    .from(endpoints)
    .where(and(eq(endpoints.tenantId, tenant.id), input.cursor ? after(endpoints.id, input.cursor) : undefined))
    .orderBy(oldest ? asc(endpoints.id) : desc(endpoints.id))
    .limit(input.limit + 1);
  return page(
    rows.map((row) => readable(ctx, row)),
    input.limit,
  );
}

/** The tenant's endpoint with this id, or with this uid. */
export async function findEndpoint(ctx: ServiceContext, tenantIdOrUid: string, endpointIdOrUid: string): Promise<Endpoint | undefined> {
  const tenant = await resolveTenant(ctx, tenantIdOrUid);
  const [row] = await ctx.db
    .select()
    .from(endpoints)
    .where(
      and(
        eq(endpoints.tenantId, tenant.id),
        endpointIdOrUid.startsWith("ep_")
          ? eq(endpoints.id, endpointIdOrUid)
          : or(eq(endpoints.uid, endpointIdOrUid), eq(endpoints.id, endpointIdOrUid)),
      ),
    )
    .limit(1);
  return row ? readable(ctx, row) : undefined;
}

export async function getEndpoint(ctx: ServiceContext, tenantIdOrUid: string, endpointIdOrUid: string): Promise<Endpoint> {
  const row = await findEndpoint(ctx, tenantIdOrUid, endpointIdOrUid);
  if (!row) throw notFound(`endpoint ${endpointIdOrUid}`);
  return row;
}

/** Disabling keeps a reason; enabling clears it and the failure streak that may have disabled it. */
function disabledFields(current: Endpoint, input: EndpointUpdate) {
  const disabled = input.disabled ?? current.disabled;
  if (input.disabledReason !== undefined && !disabled) {
    throw new ApiError("validation_failed", "disabledReason needs disabled: true", [
      { path: "disabledReason", message: "is only kept for a disabled endpoint" },
    ]);
  }
  if (disabled && (!current.disabled || input.disabledReason !== undefined)) {
    return {
      disabled: true,
      disabledReason: input.disabledReason ?? "disabled through the API",
      disabledAt: current.disabled ? current.disabledAt : new Date(),
    };
  }
  if (!disabled && current.disabled) return { disabled: false, disabledReason: null, disabledAt: null, failingSince: null };
  return {};
}

export async function updateEndpoint(
  ctx: ServiceContext,
  tenantIdOrUid: string,
  endpointId: string,
  input: EndpointUpdate,
): Promise<Endpoint> {
  const current = await getEndpoint(ctx, tenantIdOrUid, endpointId);
  if (input.url !== undefined) validateUrl(ctx, input.url);
  checkHeaders(input.headers);
  const eventTypesValue = input.eventTypes === undefined ? undefined : await validateSubscriptions(ctx, input.eventTypes);
  const disabledChange = disabledFields(current, input);
  const { disabled: _disabled, disabledReason: _reason, ...rest } = input;
  const [row] = await orUidTaken(input.uid, () =>
    ctx.db
      .update(endpoints)
      .set({ ...rest, ...(eventTypesValue ? { eventTypes: eventTypesValue } : {}), ...disabledChange, updatedAt: new Date() })
      .where(eq(endpoints.id, current.id))
      .returning(),
  );
  if (current.disabled && disabledChange.disabled === false) await closeCircuit(ctx, current.id);
  return readable(ctx, row as Endpoint);
}

export async function deleteEndpoint(ctx: ServiceContext, tenantIdOrUid: string, endpointId: string): Promise<void> {
  const current = await getEndpoint(ctx, tenantIdOrUid, endpointId);
  await ctx.db.delete(endpoints).where(eq(endpoints.id, current.id));
}

/** The secrets that sign right now: the current one, then the previous one while its grace period lasts. */
export function signingSecrets(endpoint: Endpoint, now: Date = new Date()): string[] {
  const graceLasts = endpoint.previousSecret && endpoint.previousSecretExpiresAt && endpoint.previousSecretExpiresAt > now;
  return graceLasts ? [endpoint.secret, endpoint.previousSecret as string] : [endpoint.secret];
}

export function secretView(endpoint: Endpoint, now: Date = new Date()): EndpointSecretView {
  const previous = signingSecrets(endpoint, now)[1];
  return {
    secret: endpoint.secret,
    previousSecret: previous ?? null,
    previousSecretExpiresAt: previous ? (endpoint.previousSecretExpiresAt as Date).toISOString() : null,
  };
}

const MAX_GRACE_MS = 30 * 86_400_000;

/**
 * Replaces the secret; the old one keeps signing (both signatures are sent)
 * until the grace period ends, so receivers can switch without losing a request.
 * A grace of 0 retires the old secret at once.
 */
export async function rotateSecret(ctx: ServiceContext, tenantIdOrUid: string, endpointId: string, input: SecretRotate): Promise<Endpoint> {
  const current = await getEndpoint(ctx, tenantIdOrUid, endpointId);
  if (input.secret !== undefined) checkSecret(input.secret);
  const graceMs = input.gracePeriod === undefined ? ctx.config.HERALD_SECRET_GRACE_PERIOD : parseDuration(input.gracePeriod);
  if (graceMs === undefined || graceMs > MAX_GRACE_MS) {
    throw new ApiError("validation_failed", "gracePeriod must be at most 30d", [{ path: "gracePeriod", message: "must be at most 30d" }]);
  }
  const secret = input.secret ?? generateSecret();
  if (secret === current.secret) {
    throw new ApiError("validation_failed", "the new secret is the current one", [{ path: "secret", message: "is the current secret" }]);
  }
  const [row] = await ctx.db
    .update(endpoints)
    .set({
      secret: sealSecret(ctx.config.HERALD_ENCRYPTION_KEY, secret),
      previousSecret: graceMs > 0 ? sealSecret(ctx.config.HERALD_ENCRYPTION_KEY, current.secret) : null,
      previousSecretExpiresAt: graceMs > 0 ? new Date(Date.now() + graceMs) : null,
      updatedAt: new Date(),
    })
    .where(eq(endpoints.id, current.id))
    .returning();
  return readable(ctx, row as Endpoint);
}

/** The tenant's endpoints among these ids (absent ones are left out). */
export async function endpointsByIds(ctx: ServiceContext, tenantIdOrUid: string, ids: string[]): Promise<Endpoint[]> {
  const tenant = await resolveTenant(ctx, tenantIdOrUid);
  if (ids.length === 0) return [];
  const rows = await ctx.db
    .select()
    .from(endpoints)
    .where(and(eq(endpoints.tenantId, tenant.id), inArray(endpoints.id, ids)));
  return rows.map((row) => readable(ctx, row));
}
