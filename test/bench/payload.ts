import { buildEnvelope } from "@herald/delivery";

export const EVENT_TYPE = "order.paid";

/** A realistic order event; its envelope is about 1 KiB, the size every scenario sends. */
export const PAYLOAD = {
  orderId: "ord_01jq7k2m5n8p9r3s4t6v",
  customer: { id: "cus_8k2m5n8p9r", email: "jane.doe@example.com", name: "Jane Doe", country: "DE" },
  amount: { value: 4200, currency: "EUR", tax: 672 },
  items: Array.from({ length: 8 }, (_, i) => ({ sku: `SKU-${1000 + i}`, name: `Item number ${i + 1}`, quantity: i + 1, price: 700 })),
  shipping: { method: "standard", address: "Unter den Linden 1, 10117 Berlin", expectedAt: "2026-12-03" },
  metadata: { channel: "web", campaign: "winter-sale", reference: "a1b2c3d4e5f6" },
};

/** The body the reference points send: the same bytes Herald's envelope has. */
export const ENVELOPE = buildEnvelope(EVENT_TYPE, new Date("2026-11-30T12:00:00.000Z"), JSON.stringify(PAYLOAD));

export const PUBLISH_BODY = JSON.stringify({ eventType: EVENT_TYPE, payload: PAYLOAD });

/** The headers a reference request carries, shaped like Herald's (unsigned: references do no signing). */
export const REFERENCE_HEADERS = {
  "content-type": "application/json",
  "user-agent": "herald-bench",
  "webhook-id": "evt_reference",
  "webhook-timestamp": "1796040000",
};
