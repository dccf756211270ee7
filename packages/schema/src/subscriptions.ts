/** Subscriptions that match an event type: itself, `*`, and each prefix wildcard. */
export function matchingSubscriptions(eventType: string): string[] {
  const parts = eventType.split(".");
  const patterns = [eventType, "*"];
  for (let i = 1; i < parts.length; i++) patterns.push(`${parts.slice(0, i).join(".")}.*`);
  return patterns;
}
