/**
 * The body every receiver gets. Built once per event and reused for each of
 * its deliveries and retries, so the bytes that are signed never change.
 */
export function buildEnvelope(eventType: string, createdAt: Date, payload: unknown): string {
  return JSON.stringify({ type: eventType, timestamp: createdAt.toISOString(), data: payload });
}
