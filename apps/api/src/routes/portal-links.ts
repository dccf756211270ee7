import { timestampSchema } from "@herald/schema";
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import type { AppEnv } from "../deps.ts";
import { bearerSecurity, errorResponses, jsonBody, jsonResponse } from "../openapi.ts";
import { createPortalLink, portalLinkUrl } from "../services/portal-links.ts";
import { tenantParams } from "./params.ts";

const portalLinkCreateSchema = z
  .strictObject({
    expiresIn: z
      .number()
      .int()
      .min(60)
      .max(7 * 24 * 3600)
      .default(900)
      .meta({ description: "Seconds until the link stops working (60 to 604800; default 900)." }),
  })
  .meta({ id: "PortalLinkCreate", example: { expiresIn: 900 } });

const portalLinkSchema = z
  .object({
    url: z.string().meta({ example: "https://herald.example.com/ui/portal/eyJ0ZW5hbnRJZCI6…" }),
    tenantId: z.string(),
    expiresAt: timestampSchema,
  })
  .meta({ id: "PortalLink", description: "Hand the url to the tenant: it opens their webhooks, catalog and delivery log, nothing else." });

export function portalLinkRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/tenants/{tenantId}/portal-links",
      tags: ["Tenants"],
      summary: "Mint a short-lived link to the tenant portal",
      security: bearerSecurity,
      request: { params: tenantParams, body: jsonBody(portalLinkCreateSchema) },
      responses: { 201: jsonResponse(portalLinkSchema, "A signed link for one tenant"), ...errorResponses },
    }),
    async (c) => {
      const link = await createPortalLink(c.var.ctx, c.req.valid("param").tenantId, { expiresInSeconds: c.req.valid("json").expiresIn });
      const url = portalLinkUrl(link.token, c.req.url);
      return c.json({ url, tenantId: link.tenantId, expiresAt: link.expiresAt.toISOString() }, 201);
    },
  );
}
