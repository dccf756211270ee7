import { readFileSync } from "node:fs";
import type { Hono } from "hono";
import type { AppEnv } from "../deps.ts";

const asset = (name: string) => readFileSync(new URL(`./docs/${name}`, import.meta.url), "utf8");
const script = asset("reference.js");
const style = asset("reference.css");

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Herald API reference</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/docs/reference.css">
</head>
<body>
<div id="reference"><p style="padding:1rem">Loading the API reference… (it needs JavaScript; the raw document is at <a href="/openapi.json">/openapi.json</a>)</p></div>
<script src="/docs/reference.js" defer></script>
</body>
</html>`;

// Everything the page loads comes from this origin; the policy makes the browser enforce it.
const POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** The human-readable API reference, rendered in the browser from /openapi.json with no outside requests. */
export function docsRoutes(app: Hono<AppEnv>) {
  app.get("/docs", (c) => c.html(PAGE, 200, { "content-security-policy": POLICY }));
  app.get("/docs/reference.js", (c) =>
    c.body(script, 200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "public, max-age=300" }),
  );
  app.get("/docs/reference.css", (c) =>
    c.body(style, 200, { "content-type": "text/css; charset=utf-8", "cache-control": "public, max-age=300" }),
  );
}
