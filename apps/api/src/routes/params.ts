import { z } from "zod";

export const tenantParams = z.object({
  tenantId: z
    .string()
    .min(1)
    .max(200)
    .meta({ param: { name: "tenantId", in: "path" }, description: "Tenant id or uid", example: "acme" }),
});
export const endpointParams = tenantParams.extend({
  endpointId: z
    .string()
    .min(1)
    .max(100)
    .meta({ param: { name: "endpointId", in: "path" }, example: "ep_01jdz3k5q8e6f0a1b2c3d4e5f6" }),
});
export const eventParams = tenantParams.extend({
  eventId: z
    .string()
    .min(1)
    .max(100)
    .meta({ param: { name: "eventId", in: "path" }, example: "evt_01jdz3k5q8e6f0a1b2c3d4e5f6" }),
});
