import { z } from "zod";
import { metadataSchema, timestampSchema } from "./common.ts";

export const tenantUidSchema = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, "letters, digits, and . _ : - only")
  .refine((value) => !/^ten_/.test(value), "must not start with ten_ (reserved for tenant ids)")
  .meta({ description: "Your own id for this customer; usable in place of the tenant id in paths.", example: "acme" });

const limitOverride = (description: string) =>
  z
    .number()
    .int()
    .min(1)
    .max(1_000_000)
    .nullable()
    .optional()
    .meta({ description: `${description} null returns it to the default.` });

export const tenantLimitsInputSchema = z
  .strictObject({
    maxEndpoints: limitOverride("Endpoints the tenant may have (default HERALD_TENANT_MAX_ENDPOINTS)."),
    testSendsPerMinute: limitOverride("Test sends per minute (default HERALD_TENANT_TEST_SENDS_PER_MINUTE)."),
    maxDeliveriesPerPublish: limitOverride("Deliveries one batch publish may create (default HERALD_TENANT_MAX_DELIVERIES_PER_PUBLISH)."),
    publishPerSecond: limitOverride("Events the tenant may publish per second (default HERALD_TENANT_PUBLISH_RATE, 0: no limit)."),
  })
  .meta({ id: "TenantLimitsInput", description: "Admin only: this tenant's own limits, overriding the deployment's defaults." });
export type TenantLimitsInput = z.infer<typeof tenantLimitsInputSchema>;

export const tenantLimitsSchema = z
  .object({
    maxEndpoints: z.number().int(),
    testSendsPerMinute: z.number().int(),
    maxDeliveriesPerPublish: z.number().int(),
    publishPerSecond: z.number().int().nullable().meta({ description: "Events per second the tenant may publish; null: no limit." }),
  })
  .meta({ id: "TenantLimits", description: "The limits in force for this tenant: its overrides, else the deployment's defaults." });
export type TenantLimits = z.infer<typeof tenantLimitsSchema>;

export const tenantCreateSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(200).meta({ example: "Acme Inc." }),
    uid: tenantUidSchema.optional(),
    metadata: metadataSchema.optional(),
    limits: tenantLimitsInputSchema.optional(),
  })
  .meta({ id: "TenantCreate" });
export type TenantCreate = z.infer<typeof tenantCreateSchema>;

export const tenantUpdateSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(200).optional(),
    uid: tenantUidSchema.nullable().optional().meta({ description: "Admin only: changing a uid changes where publishes go." }),
    metadata: metadataSchema.optional(),
    limits: tenantLimitsInputSchema.optional(),
  })
  .meta({ id: "TenantUpdate" });
export type TenantUpdate = z.infer<typeof tenantUpdateSchema>;

export const tenantSchema = z
  .object({
    id: z.string().meta({ example: "ten_01jdz3k5q8e6f0a1b2c3d4e5f6" }),
    name: z.string(),
    uid: z.string().nullable(),
    metadata: z.record(z.string(), z.string()),
    limits: tenantLimitsSchema,
    createdAt: timestampSchema,
    updatedAt: timestampSchema,
  })
  .meta({ id: "Tenant" });
export type TenantView = z.infer<typeof tenantSchema>;
