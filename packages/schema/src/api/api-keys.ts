import { z } from "zod";
import { timestampSchema } from "./common.ts";

export const apiKeyCreateSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(200).meta({ example: "billing backend" }),
    expiresAt: timestampSchema.optional().meta({ description: "When the key stops working; never when omitted." }),
  })
  .meta({ id: "ApiKeyCreate", example: { name: "billing backend" } });
export type ApiKeyCreate = z.infer<typeof apiKeyCreateSchema>;

export const apiKeySchema = z
  .object({
    id: z.string().meta({ example: "key_01jdz3k5q8e6f0a1b2c3d4e5f6" }),
    tenantId: z.string().meta({ example: "ten_01jdz3k5q8e6f0a1b2c3d4e5f6" }),
    name: z.string().meta({ example: "billing backend" }),
    start: z.string().meta({ description: "The first characters of the key, to tell keys apart.", example: "hk_3fQ9" }),
    createdAt: timestampSchema,
    lastUsedAt: timestampSchema.nullable().meta({ description: "Updated at most once a minute." }),
    expiresAt: timestampSchema.nullable(),
    revokedAt: timestampSchema.nullable(),
  })
  .meta({ id: "ApiKey" });
export type ApiKeyView = z.infer<typeof apiKeySchema>;

export const apiKeyCreatedSchema = apiKeySchema
  .extend({
    key: z.string().meta({
      description: "The key itself. It is shown only in this answer; Herald stores a hash.",
      example: "hk_3fQ9xq2Lw8Vb7Nc6Md5Ke4Jf3Hg2",
    }),
  })
  .meta({ id: "ApiKeyCreated" });
