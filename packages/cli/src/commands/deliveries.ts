import { setTimeout as sleep } from "node:timers/promises";
import type { Schemas } from "@herald/client";
import { parseDuration } from "@herald/config";
import type { Command } from "commander";
import { CliError, call, contextOf, tenantOf } from "../context.ts";
import { printRecord } from "../output.ts";

type Delivery = Schemas["Delivery"];
type Status = Delivery["status"];
const STATUSES: Status[] = ["pending", "succeeded", "failed", "exhausted", "held"];

/** How many of the newest deliveries each poll reads (4 pages of 250): what a tail can follow per interval. */
const MAX_PAGES = 4;

/** `2h` (that long ago) or an ISO 8601 time. */
export function parseSince(text: string, now = Date.now()): string {
  const ago = parseDuration(text);
  if (ago !== undefined && /[a-z]$/.test(text.trim())) return new Date(now - ago).toISOString();
  const time = new Date(text);
  if (Number.isNaN(time.getTime()) || !/^\d{4}-/.test(text))
    throw new CliError(`--since takes a duration ago (30m, 2h, 1d) or an ISO time, not ${JSON.stringify(text)}`);
  return time.toISOString();
}

export function deliveryCommands(program: Command): void {
  const deliveries = program.command("deliveries").description("what was sent where");
  deliveries
    .command("tail")
    .description("follow a tenant's new deliveries live: a line when one appears and when its status changes (Ctrl-C stops)")
    .option("--tenant <tenant>", "id or uid (or HERALD_TENANT)")
    .option("--status <status>", `only deliveries in this status: ${STATUSES.join(", ")}`)
    .option("--endpoint <endpointId>", "only deliveries to this endpoint (ep_…)")
    .option("--since <when>", "also show deliveries created since then (30m, 2h, or an ISO time); default: from now")
    .option("--interval <duration>", "how often to look", "1s")
    .action(
      async (options: { tenant?: string; status?: string; endpoint?: string; since?: string; interval: string }, command: Command) => {
        const context = contextOf(command);
        const tenantId = tenantOf(options);
        if (options.status && !STATUSES.includes(options.status as Status))
          throw new CliError(`--status must be one of ${STATUSES.join(", ")}`);
        const interval = parseDuration(options.interval);
        if (!interval) throw new CliError(`--interval takes a duration such as 500ms or 2s, not ${JSON.stringify(options.interval)}`);
        const after = options.since ? parseSince(options.since) : new Date().toISOString();
        const { output } = context;
        const { colors } = output;
        const paint: Record<Status, (text: string) => string> = {
          pending: colors.dim,
          succeeded: colors.green,
          failed: colors.yellow,
          exhausted: colors.red,
          held: colors.magenta,
        };
        const printed = new Map<string, Status>();
        const stop = new AbortController();
        const onInterrupt = () => stop.abort();
        process.once("SIGINT", onInterrupt);
        process.once("SIGTERM", onInterrupt);
        if (!output.json) output.err(`following deliveries of ${tenantId} created since ${after} (Ctrl-C stops)`);
        try {
          while (!stop.signal.aborted) {
            const seen: Delivery[] = [];
            let cursor: string | undefined;
            for (let page = 0; page < MAX_PAGES; page += 1) {
              const query = {
                after,
                limit: 250,
                ...(options.status ? { status: options.status as Status } : {}),
                ...(options.endpoint ? { endpointId: options.endpoint } : {}),
                ...(cursor ? { cursor } : {}),
              };
              const answer = await call(
                context,
                context.client.GET("/v1/tenants/{tenantId}/deliveries", { params: { path: { tenantId }, query } }),
              );
              seen.push(...answer.data);
              if (!answer.nextCursor) break;
              cursor = answer.nextCursor;
            }
            // Newest first from the API; oldest first on screen, as a log reads.
            for (const delivery of seen.reverse()) {
              if (printed.get(delivery.id) === delivery.status) continue;
              printed.set(delivery.id, delivery.status);
              if (output.json) {
                output.out(JSON.stringify(delivery));
                continue;
              }
              const answer = delivery.lastStatusCode ? `HTTP ${delivery.lastStatusCode}` : (delivery.lastError ?? "");
              const line = [
                delivery.updatedAt.slice(11, 19),
                paint[delivery.status](delivery.status.padEnd(9)),
                delivery.id,
                delivery.endpointId,
                delivery.eventId,
                `attempts ${delivery.attempts}`,
                answer,
              ];
              output.out(line.join("  ").trimEnd());
            }
            // What fell out of the window (or out of --status) is forgotten; if it comes back, that is news.
            const current = new Set(seen.map((delivery) => delivery.id));
            for (const id of printed.keys()) if (!current.has(id)) printed.delete(id);
            await sleep(interval, undefined, { signal: stop.signal }).catch(() => {});
          }
        } finally {
          process.off("SIGINT", onInterrupt);
          process.off("SIGTERM", onInterrupt);
        }
      },
    );
}

export function replayCommands(program: Command): void {
  program
    .command("recover")
    .description("after an outage: send an endpoint's failed, exhausted and held deliveries since a time again")
    .option("--tenant <tenant>", "id or uid (or HERALD_TENANT)")
    .requiredOption("--endpoint <endpointId>", "ep_…")
    .requiredOption("--since <when>", "a duration ago (30m, 2h, 1d) or an ISO time")
    .action(async (options: { tenant?: string; endpoint: string; since: string }, command: Command) => {
      const context = contextOf(command);
      const since = parseSince(options.since);
      const result = await call(
        context,
        context.client.POST("/v1/tenants/{tenantId}/endpoints/{endpointId}/recover", {
          params: { path: { tenantId: tenantOf(options), endpointId: options.endpoint } },
          body: { since },
        }),
      );
      if (context.output.json) context.output.out(JSON.stringify({ ...result, since }));
      else
        context.output.out(
          `queued ${result.queued} ${result.queued === 1 ? "delivery" : "deliveries"} to ${options.endpoint} created since ${since}`,
        );
    });
  program
    .command("retry")
    .description("send one delivery again now")
    .argument("<delivery>", "dlv_…")
    .option("--tenant <tenant>", "id or uid (or HERALD_TENANT)")
    .option("--force", "also when it already succeeded")
    .action(async (deliveryId: string, options: { tenant?: string; force?: boolean }, command: Command) => {
      const context = contextOf(command);
      const delivery = await call(
        context,
        context.client.POST("/v1/tenants/{tenantId}/deliveries/{deliveryId}/retry", {
          params: { path: { tenantId: tenantOf(options), deliveryId } },
          body: options.force ? { force: true } : {},
        }),
      ).catch((error: CliError) => {
        // The API speaks of its body field; here it is a flag.
        throw /already succeeded/.test(error.message) ? new CliError(`${error.message}\n  (herald retry --force sends it again)`) : error;
      });
      printRecord(context.output, delivery);
    });
}
