import { spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHeraldClient, unwrap } from "@herald/client";
import { generateSecret } from "@herald/delivery";
import { eventually, type Herald, REPO_ROOT, startHerald, TEST_ADMIN_TOKEN } from "@herald/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildCli, type Cli, type CliProcess } from "./cli-harness.ts";
import { lineKey } from "./commands/publish-file.ts";

/** The herald CLI as a subprocess against a real Herald (API and worker processes, PostgreSQL, Redis). */
let herald: Herald;
let cli: Cli;
let scratch: string;
const running: CliProcess[] = [];

/** Anything but newline: carriage returns, escape sequences, backspaces. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f]/;

beforeAll(async () => {
  // Retries an hour apart, so the only attempts after the first are the ones the test asks for.
  herald = await startHerald({ env: { HERALD_RETRY_SCHEDULE: "0,1h,1h" } });
  cli = await buildCli({ HERALD_URL: herald.baseUrl, HERALD_TOKEN: TEST_ADMIN_TOKEN });
  scratch = mkdtempSync(join(tmpdir(), "herald-cli-test-"));
});

afterAll(async () => {
  await Promise.all(running.map((process) => process.stop("SIGKILL")));
  cli?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  await herald?.stop();
});

function start(args: string[], env?: Record<string, string>): CliProcess {
  const process = cli.start(args, env ? { env } : {});
  running.push(process);
  return process;
}

describe("setting up without curl", () => {
  it("creates and shows tenants, event types and endpoints, as tables or JSON", async () => {
    const tenant = await cli.run(["tenants", "create", "--name", "Acme Inc.", "--uid", "acme"]);
    expect(tenant.code, tenant.stderr).toBe(0);
    expect(tenant.stdout).toMatch(/^id:\s+ten_\w+$/m);
    expect(tenant.stdout).toMatch(/^uid:\s+acme$/m);

    const created = await Promise.all(
      ["invoice.paid", "order.created"].map((name) =>
        cli.run(["event-types", "create", "--name", name, "--description", "for the CLI test", "--example", '{"amount":1}']),
      ),
    );
    for (const type of created) expect(type.code, type.stderr).toBe(0);
    // Independent reads, run side by side: each run is a Node.js start.
    const [types, list, shown] = await Promise.all([
      cli.run(["--json", "event-types", "list"]),
      cli.run(["tenants", "list"]),
      cli.run(["tenants", "show", "acme", "--json"]),
    ]);
    expect(JSON.parse(types.stdout).data.map((type: { name: string }) => type.name)).toEqual(
      expect.arrayContaining(["invoice.paid", "order.created"]),
    );

    expect(list.stdout.split("\n")[0]).toMatch(/^ID\s+UID\s+NAME\s+CREATED$/);
    expect(list.stdout).toMatch(/ten_\w+\s+acme\s+Acme Inc\.\s+\d{4}-/);

    expect(JSON.parse(shown.stdout)).toMatchObject({ uid: "acme", name: "Acme Inc." });
  });

  it("fails with the API's problem in plain words and a non-zero exit", async () => {
    // A port nothing listens on: the one a stopped listener left free.
    const listener = createServer();
    listener.listen(0, "127.0.0.1");
    await once(listener, "listening");
    const { port } = listener.address() as { port: number };
    await new Promise((resolve) => listener.close(resolve));
    const [missing, badUrl, badToken, noTenant, down] = await Promise.all([
      cli.run(["tenants", "show", "globex"]),
      cli.run(["endpoints", "create", "--tenant", "acme", "--name", "x", "--url", "ftp://example.com"]),
      cli.run(["tenants", "list"], { env: { HERALD_TOKEN: "wrong" } }),
      cli.run(["endpoints", "list"]),
      cli.run(["tenants", "list"], { env: { HERALD_URL: `http://127.0.0.1:${port}` } }),
    ]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe("herald: tenant globex does not exist (404 not_found)\n");
    expect(badUrl.code).toBe(1);
    expect(badUrl.stderr).toContain("url: must use http or https");
    expect(badToken.code).toBe(1);
    expect(badToken.stderr).toMatch(/401 unauthorized.*\n.*HERALD_TOKEN/);
    expect(noTenant.stderr).toContain("--tenant");
    expect(noTenant.code).toBe(1);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain(`cannot reach Herald at http://127.0.0.1:${port} (ECONNREFUSED)`);
  });

  it("runs as npx herald from the checkout", async () => {
    const result = spawnSync(join(REPO_ROOT, "node_modules/.bin/herald"), ["--version"], { encoding: "utf8" });
    expect(result.stdout.trim()).toBe("0.1.0");
    expect(result.status).toBe(0);
  });
});

describe("receiving, following and replaying deliveries", () => {
  it("listen verifies and prints webhooks, tail follows them coloured, verify checks a saved one, retry and recover send again", async () => {
    const secret = generateSecret();
    const saved = join(scratch, "saved");
    mkdirSync(saved);
    const receiver = start(["listen", "0", "--secret", secret, "--save", saved]);
    const refusing = start(["listen", "0", "--status", "500"]);
    const [receiverPort, refusingPort] = await Promise.all(
      [receiver, refusing].map(async (listener) => (await listener.waitFor(/listening on http:\/\/127\.0\.0\.1:(\d+)/, "stderr"))[1]),
    );
    const endpoint = async (name: string, port: string | undefined, extra: string[] = []) => {
      const result = await cli.run([
        "--json",
        "endpoints",
        "create",
        "--tenant",
        "acme",
        "--name",
        name,
        "--url",
        `http://127.0.0.1:${port}/hooks`,
        "--events",
        "invoice.*",
        ...extra,
      ]);
      expect(result.code, result.stderr).toBe(0);
      return JSON.parse(result.stdout).id as string;
    };
    const [good, bad] = await Promise.all([endpoint("Good", receiverPort, ["--secret", secret]), endpoint("Bad", refusingPort)]);
    // Coloured as on a terminal; pipes and logs get none (see the publish test).
    const tail = start(["deliveries", "tail", "--tenant", "acme", "--interval", "200ms"], { FORCE_COLOR: "1" });
    await tail.waitFor(/following deliveries of acme/, "stderr");

    const published = await cli.run(["--json", "publish", "--tenant", "acme", "--type", "invoice.paid", "--data", '{"amount":4200}']);
    expect(published.code, published.stderr).toBe(0);
    const eventId = JSON.parse(published.stdout).id as string;
    expect(JSON.parse(published.stdout)).toMatchObject({ eventType: "invoice.paid", deliveries: 2 });

    const line = await receiver.waitFor(new RegExp(`POST /hooks  ${eventId}  invoice\\.paid  verified  -> 200\\n  (.*)\\n`));
    expect(JSON.parse(line[1] as string)).toMatchObject({ type: "invoice.paid", data: { amount: 4200 } });
    await refusing.waitFor(new RegExp(`${eventId}  invoice\\.paid  not checked \\(no --secret\\)  -> 500`));
    const succeeded = await tail.waitFor(
      new RegExp(`\\x1b\\[32msucceeded\\s*\\x1b\\[39m  (dlv_\\w+)  ${good}  ${eventId}  attempts 1  HTTP 200`),
    );
    const failed = await tail.waitFor(new RegExp(`\\x1b\\[33mfailed\\s*\\x1b\\[39m  (dlv_\\w+)  ${bad}  ${eventId}  attempts 1  HTTP 500`));
    expect(succeeded[1]).not.toBe(failed[1]);

    const file = join(saved, `${eventId}.http`);
    const [verified, tampered] = await Promise.all([
      cli.run(["verify", "--secret", secret, file]),
      cli.run(["verify", "--secret", secret], { input: readFileSync(file, "utf8").replace("4200", "4201") }),
    ]);
    expect(verified.stdout).toMatch(new RegExp(`^verified: ${eventId}, signed at \\d{4}-`));
    expect(verified.code).toBe(0);
    expect(tampered.stderr).toContain("not verified: no signature matches this secret");
    expect(tampered.code).toBe(1);

    const retried = await cli.run(["--json", "retry", failed[1] as string, "--tenant", "acme"]);
    expect(retried.code, retried.stderr).toBe(0);
    expect(JSON.parse(retried.stdout)).toMatchObject({ id: failed[1] });
    // The same webhook-id again: the receiver sees a retry, not a new event.
    await refusing.waitFor(new RegExp(`${eventId}[^\\n]*-> 500\\n[^\\n]*\\n[^\\n]*${eventId}[^\\n]*-> 500`));
    const client = createHeraldClient({ baseUrl: herald.baseUrl, token: TEST_ADMIN_TOKEN });
    const path = { tenantId: "acme", deliveryId: failed[1] as string };
    await eventually(
      async () => {
        const delivery = await unwrap(client.GET("/v1/tenants/{tenantId}/deliveries/{deliveryId}", { params: { path } }));
        return delivery.status === "failed" && delivery.attempts === 2;
      },
      { what: "the retried delivery to fail again" },
    );
    const recovered = await cli.run(["recover", "--tenant", "acme", "--endpoint", bad, "--since", "1h"]);
    expect(recovered.stdout).toMatch(new RegExp(`^queued 1 delivery to ${bad} created since \\d{4}-`));
    expect(recovered.code).toBe(0);
    await refusing.waitFor(new RegExp(`(${eventId}[^\\n]*-> 500\\n[^\\n]*\\n[^\\n]*){3}`));

    const stopped = await tail.stop("SIGINT");
    expect(stopped.code).toBe(0);
  }, 120_000);
});

/**
 * A proxy in front of the API that answers the first `passing` batch requests
 * and then forwards one more but withholds its answer: the worst moment to be
 * interrupted, when Herald has stored a batch and the CLI has not heard so.
 */
async function startWithholdingProxy(target: string, passing: number) {
  let batches = 0;
  let withheld: () => void = () => {};
  const stored = new Promise<void>((resolve) => {
    withheld = resolve;
  });
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", async () => {
      const isBatch = request.url?.endsWith("/events/batch") ?? false;
      if (isBatch) batches += 1;
      const answer = await fetch(target + request.url, {
        method: request.method ?? "GET",
        headers: { authorization: request.headers.authorization ?? "", "content-type": "application/json" },
        ...(chunks.length ? { body: Buffer.concat(chunks) } : {}),
      });
      const body = await answer.text();
      if (isBatch && batches > passing) {
        withheld();
        return;
      }
      response.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "application/json" }).end(body);
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    stored,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

describe("publishing a backlog from a file", () => {
  it("shows progress as plain lines off a terminal, and an interrupted run resumed publishes every event exactly once", async () => {
    const lines = Array.from({ length: 600 }, (_, n) => JSON.stringify({ eventType: "order.created", payload: { n } }));
    const file = join(scratch, "orders.ndjson");
    writeFileSync(file, `${lines.join("\n")}\n`);
    const proxy = await startWithholdingProxy(herald.baseUrl, 3);
    const first = start(["publish", "--tenant", "acme", "--file", file, "--batch-size", "50"], { HERALD_URL: proxy.url });
    await proxy.stored;
    const interrupted = await first.stop("SIGINT");
    proxy.close();
    expect(interrupted.code, interrupted.stderr).toBe(130);
    expect(interrupted.stderr).toContain("herald: interrupted after 150 of 600 events (through line 150).\n");
    expect(interrupted.stderr).toContain("Run the same command again");
    // Off a terminal: one plain line per tenth of the work, no carriage returns or escape sequences.
    expect(interrupted.stderr).toMatch(/^publish: 100\/600 \(16%\), [\d,]+ events\/s, ETA \d+s$/m);
    expect(interrupted.stderr).not.toMatch(CONTROL);

    const resumed = await cli.run(["publish", "--tenant", "acme", "--file", file, "--batch-size", "50"]);
    expect(resumed.code, resumed.stderr).toBe(0);
    const progress = resumed.stderr.trimEnd().split("\n");
    expect(progress.length).toBeLessThanOrEqual(10);
    for (const line of progress) expect(line).toMatch(/^publish: [\d,]+\/600 \(\d+%\), [\d,]+ events\/s, ETA \d+s$/);
    expect(progress.at(-1)).toMatch(/^publish: 600\/600 \(100%\)/);
    expect(resumed.stderr + resumed.stdout).not.toMatch(CONTROL);
    // The batch whose answer was withheld was stored: the re-run recognises it with the 150 before it.
    expect(resumed.stdout).toMatch(/orders\.ndjson: 600 events, 400 published, 200 already published before, 0 deliveries, in [\d.]+ s/);

    // Herald holds each line once, under the key the file and the line give it.
    const client = createHeraldClient({ baseUrl: herald.baseUrl, token: TEST_ADMIN_TOKEN });
    const keys: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await unwrap(
        client.GET("/v1/tenants/{tenantId}/events", {
          params: { path: { tenantId: "acme" }, query: { eventType: "order.created", limit: 250, ...(cursor ? { cursor } : {}) } },
        }),
      );
      keys.push(...page.data.map((event) => event.idempotencyKey ?? "none"));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(keys.sort()).toEqual(lines.map((line, index) => lineKey("orders.ndjson", index + 1, line)).sort());
  });
});
