import { listSchema, paginationQuerySchema, SESSION_KINDS, timestampSchema } from "@herald/schema";
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import type { AppEnv } from "../deps.ts";
import { bearerSecurity, errorResponses, jsonResponse } from "../openapi.ts";
import { adminEndSession, listSessions } from "../services/sessions.ts";

const tags = ["Sessions"];

const sessionSchema = z
  .object({
    id: z.string().meta({ example: "ses_01jdz3k5q8e6f0a1b2c3d4e5f6" }),
    kind: z.enum(SESSION_KINDS).meta({ description: "admin, tenant (signed in with a tenant key) or portal (opened from a portal link)." }),
    tenantId: z.string().nullable(),
    keyId: z.string().nullable().meta({ description: "The key signed in with, or the key that minted the portal link." }),
    address: z.string().nullable(),
    userAgent: z.string().nullable(),
    createdAt: timestampSchema,
    expiresAt: timestampSchema,
  })
  .meta({ id: "ConsoleSession" });

const sessionParams = z.object({
  sessionId: z
    .string()
    .min(1)
    .max(100)
    .meta({ param: { name: "sessionId", in: "path" }, example: "ses_01jdz3k5q8e6f0a1b2c3d4e5f6" }),
});

/** The admin's view of open console sessions, and a way to end one at once. */
export function sessionRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/sessions",
      tags,
      summary: "List open console sessions (admin only)",
      security: bearerSecurity,
      request: { query: paginationQuerySchema },
      responses: { 200: jsonResponse(listSchema(sessionSchema), "A page of open sessions, newest first"), ...errorResponses },
    }),
    async (c) => {
      const { rows, nextCursor } = await listSessions(c.var.ctx, c.req.valid("query"));
      const data = rows.map((row) => ({
        id: row.id,
        kind: row.kind,
        tenantId: row.tenantId,
        keyId: row.keyId,
        address: row.address,
        userAgent: row.userAgent,
        createdAt: row.createdAt.toISOString(),
        expiresAt: row.expiresAt.toISOString(),
      }));
      return c.json({ data, nextCursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/sessions/{sessionId}",
      tags,
      summary: "End a console session now (admin only)",
      security: bearerSecurity,
      request: { params: sessionParams },
      responses: { 204: { description: "Ended: every copy of its cookie stops working" }, ...errorResponses },
    }),
    async (c) => {
      await adminEndSession(c.var.ctx, c.req.valid("param").sessionId);
      return c.body(null, 204);
    },
  );
}
