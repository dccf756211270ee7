import { signInFailures } from "@herald/schema";
import { and, count, eq, gte, lt } from "drizzle-orm";
import type { AppDeps } from "../deps.ts";

/**
 * What a failure is counted under besides the address: a tenant key's first
 * seven characters (the part the console already shows to tell keys apart),
 * or for anything else its first two, so guesses at the admin token spread
 * over buckets and one guesser cannot lock the admin out.
 */
export function tokenPrefix(token: string): string {
  return token.startsWith("hk_") ? token.slice(0, 7) : `~${token.slice(0, 2)}`;
}

/** Seconds until a sign-in from this address with this prefix may be tried again; 0 when it may now. */
export async function signInBlockedFor(deps: Pick<AppDeps, "db" | "config">, address: string, prefix: string): Promise<number> {
  const windowMs = deps.config.HERALD_SIGN_IN_WINDOW;
  const since = new Date(Date.now() - windowMs);
  const failures = (where: ReturnType<typeof eq>) =>
    deps.db
      .select({ n: count() })
      .from(signInFailures)
      .where(and(gte(signInFailures.failedAt, since), where));
  const [[fromAddress], [withPrefix]] = await Promise.all([
    failures(eq(signInFailures.address, address)),
    failures(eq(signInFailures.tokenPrefix, prefix)),
  ]);
  const max = deps.config.HERALD_SIGN_IN_MAX_FAILURES;
  return (fromAddress?.n ?? 0) >= max || (withPrefix?.n ?? 0) >= max ? Math.ceil(windowMs / 1000) : 0;
}

/** Records a failed sign-in and logs it (address and prefix, never the token); old records are dropped on the way. */
export async function recordSignInFailure(deps: Pick<AppDeps, "db" | "config" | "logger">, address: string, prefix: string): Promise<void> {
  deps.logger.warn({ address, tokenPrefix: prefix }, "console sign-in failed");
  await deps.db.insert(signInFailures).values({ address, tokenPrefix: prefix });
  await deps.db.delete(signInFailures).where(lt(signInFailures.failedAt, new Date(Date.now() - deps.config.HERALD_SIGN_IN_WINDOW)));
}
