import { z } from "zod";
import { timestampSchema } from "./common.ts";
import { deliveryStatusSchema } from "./events.ts";

const idFilter = (prefix: string, example: string) =>
  z
    .string()
    .regex(new RegExp(`^${prefix}_[0-9a-z]{26}$`), `expected an id starting with ${prefix}_`)
    .meta({ example });

/** `after`/`before` are compared with the time in the time-sortable id, so they cost nothing extra. */
export const timeRangeQuerySchema = z.object({
  after: timestampSchema.optional().meta({ description: "Only items created at or after this time (ISO 8601)." }),
  before: timestampSchema.optional().meta({ description: "Only items created before this time (ISO 8601)." }),
});

export const deliveryListQuerySchema = timeRangeQuerySchema.extend({
  status: deliveryStatusSchema.optional().meta({ description: "Only deliveries in this status.", example: "failed" }),
  endpointId: idFilter("ep", "ep_01jdz3k5q8e6f0a1b2c3d4e5f6").optional(),
  eventId: idFilter("evt", "evt_01jdz3k5q8e6f0a1b2c3d4e5f6").optional(),
});
export type DeliveryListQuery = z.infer<typeof deliveryListQuerySchema>;

export const deliveryRetrySchema = z
  .strictObject({
    force: z
      .boolean()
      .optional()
      .meta({ description: "Also re-send a delivery that already succeeded. Without it, retrying a succeeded delivery answers 409." }),
  })
  .meta({ id: "DeliveryRetry", example: { force: true } });
export type DeliveryRetry = z.infer<typeof deliveryRetrySchema>;

export const recoverSchema = z
  .strictObject({
    since: timestampSchema.meta({
      description: "Re-send the endpoint's failed, exhausted and held deliveries created at or after this time.",
      example: "2026-11-29T12:00:00.000Z",
    }),
  })
  .meta({ id: "EndpointRecover" });
export type Recover = z.infer<typeof recoverSchema>;

export const recoverResultSchema = z
  .object({
    queued: z.number().int().meta({ description: "How many deliveries were queued to be sent again.", example: 42 }),
  })
  .meta({ id: "EndpointRecovered" });
export type RecoverResult = z.infer<typeof recoverResultSchema>;
