import type { Command } from "commander";
import { CliError, call, contextOf, parseJsonOption, tenantOf } from "../context.ts";
import { printRecord } from "../output.ts";
import { publishFile } from "./publish-file.ts";

interface PublishOptions {
  tenant?: string;
  type?: string;
  data?: string;
  file?: string;
  idempotencyKey?: string;
  batchSize: string;
  keyPrefix?: string;
}

export function publishCommand(program: Command): void {
  program
    .command("publish")
    .description("publish one event (--type, --data), or a backlog from an NDJSON file (--file)")
    .option("--tenant <tenant>", "id or uid (or HERALD_TENANT)")
    .option("--type <eventType>", "the event type; with --file, every line is a payload of this type")
    .option("--data <json>", "the payload of one event")
    .option("--idempotency-key <key>", "for one event: publishing the same key again within 24 h publishes nothing")
    .option("--file <events.ndjson>", 'one event per line: {"eventType": …, "payload": …} (or payloads, with --type)')
    .option("--batch-size <n>", "events per batch request with --file, 1 to 1000", "500")
    .option("--key-prefix <prefix>", "with --file: the first part of each line's idempotency key (default: the file's name)")
    .addHelpText(
      "after",
      "\nWith --file, every line gets the idempotency key <file name>:<line>:<hash of the line>, so an interrupted run\n" +
        "can be run again: lines already published are recognised and not published twice.",
    )
    .action(async (options: PublishOptions, command: Command) => {
      const context = contextOf(command);
      const tenantId = tenantOf(options);
      if (options.file) {
        if (options.data !== undefined) throw new CliError("give --data or --file, not both");
        const batchSize = Number(options.batchSize);
        if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 1000)
          throw new CliError("--batch-size must be a whole number from 1 to 1000");
        const summary = await publishFile(context, {
          tenantId,
          file: options.file,
          batchSize,
          ...(options.type ? { type: options.type } : {}),
          ...(options.keyPrefix ? { keyPrefix: options.keyPrefix } : {}),
        });
        if (context.output.json) {
          context.output.out(JSON.stringify(summary));
        } else {
          const rate = summary.seconds > 0 ? Math.round(summary.events / summary.seconds) : summary.events;
          const count = (value: number) => value.toLocaleString("en-US");
          context.output.out(
            `${summary.file}: ${count(summary.events)} events, ${count(summary.published)} published, ${count(summary.replayed)} already published before, ` +
              `${count(summary.deliveries)} deliveries, in ${summary.seconds} s (${count(rate)} events/s)`,
          );
        }
        return;
      }
      if (!options.type || options.data === undefined) throw new CliError("give --type and --data for one event, or --file for many");
      const answer = await call(
        context,
        context.client.POST("/v1/tenants/{tenantId}/events", {
          params: { path: { tenantId } },
          body: {
            eventType: options.type,
            payload: parseJsonOption("--data", options.data),
            ...(options.idempotencyKey ? { idempotencyKey: options.idempotencyKey } : {}),
          },
        }),
      );
      printRecord(context.output, answer);
    });
}
