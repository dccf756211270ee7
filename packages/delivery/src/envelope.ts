/**
 * The body every receiver gets. Built once per event and reused for each of
 * its deliveries and retries, so the bytes that are signed never change.
 * `payloadJson` is the payload's stored JSON text, spliced in as it is: `data`
 * carries the publisher's bytes, not a re-serialisation of them.
 */
export function buildEnvelope(eventType: string, createdAt: Date, payloadJson: string): string {
  return `{"type":${JSON.stringify(eventType)},"timestamp":"${createdAt.toISOString()}","data":${payloadJson}}`;
}
