import { sign } from "./signing.ts";

export const HERALD_VERSION = "0.1.0";
export const USER_AGENT = `Herald/${HERALD_VERSION}`;

/**
 * The headers of one attempt, as DESIGN.md's delivery contract lists them.
 * Custom endpoint headers go first so that none can replace a signed one.
 */
export function buildHeaders(
  eventId: string,
  body: string,
  secrets: readonly string[],
  custom: Record<string, string>,
  timestampSeconds: number = Math.floor(Date.now() / 1000),
): Record<string, string> {
  return {
    ...custom,
    "content-type": "application/json",
    "user-agent": USER_AGENT,
    "webhook-id": eventId,
    "webhook-timestamp": String(timestampSeconds),
    "webhook-signature": sign(secrets, eventId, timestampSeconds, body),
  };
}
