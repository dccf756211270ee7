import { readFileSync } from "node:fs";
import { GENERATED_PATH, generateTypes } from "@herald/client/generate";
import { Validator } from "@seriousme/openapi-schema-validator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "./test-app.ts";

type Schema = Record<string, unknown> & { $ref?: string; properties?: Record<string, Schema>; items?: Schema };
type Operation = {
  summary?: string;
  parameters?: { example?: unknown; schema?: Schema }[];
  requestBody?: { content: Record<string, { schema: Schema }> };
  responses: Record<string, { content?: Record<string, { schema: Schema }> }>;
};
// biome-ignore lint/suspicious/noExplicitAny: the document is checked by the validator, then read loosely.
let doc: any;
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
  const response = await t.call("GET", "/openapi.json", { token: null });
  expect(response.status).toBe(200);
  doc = response.body;
});
afterAll(async () => {
  await t?.close();
});

/** Pages for people and the document itself: not API operations. */
const NOT_OPERATIONS = /^\/(docs|openapi\.json|ui|$)/;

function operations(): [string, string, Operation][] {
  return Object.entries(doc.paths as Record<string, Record<string, Operation>>).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]) => [method, path, op] as [string, string, Operation]),
  );
}

/** True when the schema, or something inside it, carries an example. */
function hasExample(schema: Schema | undefined, seen = new Set<string>()): boolean {
  if (!schema) return false;
  if (schema.$ref) {
    if (seen.has(schema.$ref)) return false;
    seen.add(schema.$ref);
    return hasExample(doc.components.schemas[schema.$ref.split("/").pop() as string], seen);
  }
  if ("example" in schema || "examples" in schema) return true;
  const parts = [
    ...Object.values(schema.properties ?? {}),
    ...(schema.items ? [schema.items] : []),
    ...((schema.anyOf as Schema[] | undefined) ?? []),
  ];
  return parts.some((part) => hasExample(part, seen));
}

describe("the OpenAPI document", () => {
  it("validates as OpenAPI 3.1", async () => {
    expect(doc.openapi).toBe("3.1.0");
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
  });

  it("lists every route the app serves", () => {
    const documented = new Set(operations().map(([method, path]) => `${method.toUpperCase()} ${path}`));
    const served = t.app.routes
      .filter((route) => route.method !== "ALL" && !NOT_OPERATIONS.test(route.path))
      .map((route) => `${route.method} ${route.path.replace(/:(\w+)/g, "{$1}")}`);
    expect(served.length).toBeGreaterThan(25);
    expect([...new Set(served)].filter((route) => !documented.has(route))).toEqual([]);
  });

  it("gives every operation a summary and examples for its request and success answers", () => {
    const missing: string[] = [];
    for (const [method, path, op] of operations()) {
      const name = `${method.toUpperCase()} ${path}`;
      if (!op.summary) missing.push(`${name}: summary`);
      for (const content of Object.values(op.requestBody?.content ?? {})) {
        if (!hasExample(content.schema)) missing.push(`${name}: request example`);
      }
      for (const [status, response] of Object.entries(op.responses)) {
        if (!status.startsWith("2")) continue;
        for (const content of Object.values(response.content ?? {})) {
          if (!hasExample(content.schema)) missing.push(`${name}: ${status} example`);
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it("documents errors as problem documents and the bearer scheme", () => {
    expect(doc.components.schemas.Problem.properties).toHaveProperty("code");
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" });
    const secured = operations().filter(([, path]) => path.startsWith("/v1/"));
    expect(secured.every(([, , op]) => (op as { security?: unknown[] }).security?.length)).toBe(true);
  });
});

describe("the @herald/client types", () => {
  it("are what this document generates, so the client never drifts from the API", async () => {
    const committed = readFileSync(GENERATED_PATH, "utf8");
    const generated = await generateTypes(doc);
    // On failure: `npm run generate -w @herald/client`, then commit packages/client/src/generated/openapi.ts.
    expect(generated, "packages/client/src/generated/openapi.ts is out of date").toBe(committed);
  });
});

describe("the Svix-compatible API in the same document", () => {
  it("documents Svix's core operations with Svix's error shapes and the bearer scheme", () => {
    const paths = Object.keys(doc.paths);
    for (const path of [
      "/api/v1/app",
      "/api/v1/app/{app_id}",
      "/api/v1/event-type/{event_type_name}",
      "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate",
      "/api/v1/app/{app_id}/msg",
      "/api/v1/app/{app_id}/attempt/msg/{msg_id}",
      "/api/v1/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend",
      "/api/v1/health",
    ]) {
      expect(paths).toContain(path);
    }
    const create = doc.paths["/api/v1/app/{app_id}/endpoint"].post;
    expect(create.requestBody.content["application/json"].schema.$ref).toBe("#/components/schemas/SvixEndpointIn");
    expect(create.responses["422"].content["application/json"].schema.$ref).toBe("#/components/schemas/SvixValidationError");
    expect(create.responses["404"].content["application/json"].schema.$ref).toBe("#/components/schemas/SvixHttpError");
    const secured = operations().filter(([, path]) => path.startsWith("/api/v1/") && path !== "/api/v1/health");
    expect(secured.every(([, , op]) => (op as { security?: unknown[] }).security?.length)).toBe(true);
  });
});

describe("the /docs page", () => {
  it("serves a reference that loads only from this origin", async () => {
    const page = await t.app.request("/docs");
    expect(page.status).toBe(200);
    const html = await page.text();
    const policy = page.headers.get("content-security-policy") ?? "";
    expect(policy).toContain("default-src 'none'");
    expect(policy).toContain("connect-src 'self'");
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    const assets = [...html.matchAll(/(?:src|href)="(\/docs\/[^"]+)"/g)];
    expect(assets.length).toBe(2);
    for (const asset of assets) {
      const response = await t.app.request(asset[1] as string);
      expect(response.status, asset[1]).toBe(200);
      const text = await response.text();
      expect(text, asset[1]).not.toMatch(/https?:\/\/(?!localhost)/);
    }
  });
});
