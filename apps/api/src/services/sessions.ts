import { apiKeys, type ConsoleSession, consoleSessions, newId, type SessionKind } from "@herald/schema";
import { and, desc, eq, gt, isNull, lt } from "drizzle-orm";
import type { AppDeps, ServiceContext } from "../deps.ts";
import { notFound } from "../errors.ts";
import { page } from "../pagination.ts";
import { requireAdmin } from "./tenants.ts";

export interface SessionOpening {
  kind: SessionKind;
  tenantId?: string | undefined;
  /** The key signed in with, or the key that minted the portal link. */
  keyId?: string | undefined;
  seconds: number;
  address?: string | undefined;
  userAgent?: string | undefined;
}

export async function openSession(deps: Pick<AppDeps, "db">, opening: SessionOpening): Promise<ConsoleSession> {
  await pruneSessions(deps);
  const [row] = await deps.db
    .insert(consoleSessions)
    .values({
      id: newId("session"),
      kind: opening.kind,
      tenantId: opening.tenantId ?? null,
      keyId: opening.keyId ?? null,
      address: opening.address?.slice(0, 100) ?? null,
      userAgent: opening.userAgent?.slice(0, 300) ?? null,
      expiresAt: new Date(Date.now() + opening.seconds * 1000),
    })
    .returning();
  return row as ConsoleSession;
}

/** True while the key exists, is not revoked and has not expired. */
export function keyIsLive(key: { revokedAt: Date | null; expiresAt: Date | null } | null | undefined, now = new Date()): boolean {
  return Boolean(key && !key.revokedAt && !(key.expiresAt && key.expiresAt <= now));
}

/**
 * The session row when it is still open: not ended, not expired, and the key
 * behind it (if any) still live. Checked on every console request.
 */
export async function liveSession(deps: Pick<AppDeps, "db">, id: string): Promise<ConsoleSession | undefined> {
  const [row] = await deps.db
    .select({ session: consoleSessions, key: apiKeys })
    .from(consoleSessions)
    .leftJoin(apiKeys, eq(apiKeys.id, consoleSessions.keyId))
    .where(eq(consoleSessions.id, id))
    .limit(1);
  const now = new Date();
  if (!row || row.session.revokedAt || row.session.expiresAt <= now) return undefined;
  if (row.session.keyId && !keyIsLive(row.key, now)) return undefined;
  return row.session;
}

export async function endSessionById(deps: Pick<AppDeps, "db">, id: string): Promise<boolean> {
  const ended = await deps.db
    .update(consoleSessions)
    .set({ revokedAt: new Date() })
    .where(and(eq(consoleSessions.id, id), isNull(consoleSessions.revokedAt)))
    .returning({ id: consoleSessions.id });
  return ended.length > 0;
}

/** Ends every session opened with a key, or through a portal link it minted. */
export async function endSessionsOfKey(deps: Pick<AppDeps, "db">, keyId: string): Promise<void> {
  await deps.db
    .update(consoleSessions)
    .set({ revokedAt: new Date() })
    .where(and(eq(consoleSessions.keyId, keyId), isNull(consoleSessions.revokedAt)));
}

/** Open sessions, newest first; the admin's view of who is signed in. */
export async function listSessions(ctx: ServiceContext, input: { limit: number; cursor?: string | undefined }) {
  requireAdmin(ctx);
  const rows = await ctx.db
    .select({ id: consoleSessions.id, session: consoleSessions, key: apiKeys })
    .from(consoleSessions)
    .leftJoin(apiKeys, eq(apiKeys.id, consoleSessions.keyId))
    .where(
      and(
        isNull(consoleSessions.revokedAt),
        gt(consoleSessions.expiresAt, new Date()),
        input.cursor ? lt(consoleSessions.id, input.cursor) : undefined,
      ),
    )
    .orderBy(desc(consoleSessions.id))
    .limit(input.limit + 1);
  const { rows: read, nextCursor } = page(rows, input.limit);
  // Sessions of a revoked or expired key are closed already; the cursor still follows the rows read.
  return { rows: read.filter((row) => !row.session.keyId || keyIsLive(row.key)).map((row) => row.session), nextCursor };
}

export async function adminEndSession(ctx: ServiceContext, id: string): Promise<void> {
  requireAdmin(ctx);
  if (!(await endSessionById(ctx, id))) throw notFound(`session ${id}`);
}

/** Drops rows that ended more than a day ago, so the table holds what is open and recent. */
export async function pruneSessions(deps: Pick<AppDeps, "db">): Promise<void> {
  await deps.db.delete(consoleSessions).where(lt(consoleSessions.expiresAt, new Date(Date.now() - 24 * 3600 * 1000)));
}
