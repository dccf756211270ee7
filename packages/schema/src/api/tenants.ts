import { z } from "zod";
import { metadataSchema, timestampSchema } from "./common.ts";

export const tenantUidSchema = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, "letters, digits, and . _ : - only")
  .refine((value) => !/^ten_/.test(value), "must not start with ten_ (reserved for tenant ids)")
  .meta({ description: "Your own id for this customer; usable in place of the tenant id in paths.", example: "acme" });

export const tenantCreateSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(200).meta({ example: "Acme Inc." }),
    uid: tenantUidSchema.optional(),
    metadata: metadataSchema.optional(),
  })
  .meta({ id: "TenantCreate" });
export type TenantCreate = z.infer<typeof tenantCreateSchema>;

export const tenantUpdateSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(200).optional(),
    uid: tenantUidSchema.nullable().optional(),
    metadata: metadataSchema.optional(),
  })
  .meta({ id: "TenantUpdate" });
export type TenantUpdate = z.infer<typeof tenantUpdateSchema>;

export const tenantSchema = z
  .object({
    id: z.string().meta({ example: "ten_01jdz3k5q8e6f0a1b2c3d4e5f6" }),
    name: z.string(),
    uid: z.string().nullable(),
    metadata: z.record(z.string(), z.string()),
    createdAt: timestampSchema,
    updatedAt: timestampSchema,
  })
  .meta({ id: "Tenant" });
export type TenantView = z.infer<typeof tenantSchema>;
