import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { basename } from "node:path";
import { createInterface } from "node:readline";
import { describeProblem, isProblem, type Schemas } from "@herald/client";
import { CliError, type Context, explain } from "../context.ts";
import { createProgress } from "../progress.ts";

export interface FileOptions {
  tenantId: string;
  file: string;
  /** Every line is a payload of this type; otherwise a line is `{eventType, payload, idempotencyKey?}`. */
  type?: string;
  batchSize: number;
  keyPrefix?: string;
}

type Item = Schemas["EventPublish"];
type Line = { number: number; item: Item };

const count = (value: number) => value.toLocaleString("en-US");

/** Batches stay well under the API's 8 MiB body limit (HERALD_MAX_BATCH_BYTES). */
const MAX_BATCH_BYTES = 4 * 1024 * 1024;

async function* lines(file: string): AsyncGenerator<{ number: number; text: string }> {
  const reader = createInterface({ input: createReadStream(file), crlfDelay: Number.POSITIVE_INFINITY });
  let number = 0;
  for await (const text of reader) {
    number += 1;
    if (text.trim()) yield { number, text };
  }
}

async function countEvents(file: string): Promise<number> {
  let count = 0;
  for await (const _ of lines(file)) count += 1;
  return count;
}

/**
 * The idempotency key of a line: the file's name, the line number and a hash
 * of the line. Re-running the same file publishes nothing twice (within the
 * API's 24 hours), a line fixed after a rejection is published once fixed, and
 * two files with the same line at the same place are still different events.
 */
export function lineKey(prefix: string, number: number, text: string): string {
  return `${prefix.slice(0, 100)}:${number}:${createHash("sha256").update(text).digest("hex").slice(0, 16)}`;
}

function parseLine(options: FileOptions, prefix: string, number: number, text: string): Item {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new CliError(`${options.file}:${number}: not valid JSON (${(error as Error).message})`);
  }
  const key = lineKey(prefix, number, text);
  if (options.type) return { eventType: options.type, payload: value, idempotencyKey: key };
  if (typeof value !== "object" || value === null || Array.isArray(value) || typeof (value as Item).eventType !== "string") {
    throw new CliError(`${options.file}:${number}: expected {"eventType": …, "payload": …} (or give --type for a file of payloads)`);
  }
  return { idempotencyKey: key, ...(value as Item) };
}

export interface FileSummary {
  file: string;
  events: number;
  published: number;
  replayed: number;
  deliveries: number;
  seconds: number;
}

/**
 * Publishes an NDJSON file through the batch route, one batch in flight, with
 * a progress report. Ctrl-C stops at once (the batch in flight may or may not
 * have been stored: its idempotency keys make the re-run right either way).
 */
export async function publishFile(context: Context, options: FileOptions): Promise<FileSummary> {
  const { client } = context;
  const prefix = options.keyPrefix ?? basename(options.file);
  const total = await countEvents(options.file).catch((error: NodeJS.ErrnoException) => {
    throw new CliError(`cannot read ${options.file}: ${error.code === "ENOENT" ? "no such file" : error.message}`);
  });
  const summary: FileSummary = { file: options.file, events: total, published: 0, replayed: 0, deliveries: 0, seconds: 0 };
  const started = performance.now();
  const progress = createProgress("publish", total);
  const abort = new AbortController();
  let lastConfirmedLine = 0;
  const onInterrupt = () => abort.abort();
  process.once("SIGINT", onInterrupt);
  process.once("SIGTERM", onInterrupt);

  async function send(batch: Line[]): Promise<void> {
    const request = client.POST("/v1/tenants/{tenantId}/events/batch", {
      params: { path: { tenantId: options.tenantId } },
      body: { events: batch.map((line) => line.item) },
      signal: abort.signal,
    });
    const answer = await request.catch((error: unknown) => {
      throw abort.signal.aborted ? interrupted() : explain(error, context.url);
    });
    if (!answer.response.ok || !answer.data) {
      const problem = answer.error;
      // `events.3.payload` is line 57 of the file to the person who wrote it.
      const label = (path: string) => {
        const match = /^events\.(\d+)(?:\.(.*))?$/.exec(path);
        if (!match) return path;
        const line = `line ${batch[Number(match[1])]?.number ?? "?"}`;
        return match[2] ? `${line} ${match[2]}` : line;
      };
      // The detail counts items from 0 within the batch; the field lines say which line of the file.
      const detail = !isProblem(problem)
        ? `the API answered ${answer.response.status}`
        : describeProblem(problem.errors?.length ? { ...problem, detail: problem.title } : problem, label);
      throw new CliError(
        `a batch of lines ${batch[0]?.number}–${batch.at(-1)?.number} was refused; nothing of it was published:\n${detail}\n` +
          `${count(summary.published + summary.replayed)} events before it are published; fix the file and run the same command again to go on.`,
      );
    }
    for (const result of answer.data.data) {
      if (result.replayed) summary.replayed += 1;
      else summary.published += 1;
      summary.deliveries += result.deliveries;
    }
    lastConfirmedLine = batch.at(-1)?.number ?? lastConfirmedLine;
    progress.update(summary.published + summary.replayed);
  }

  function interrupted(): CliError {
    progress.finish();
    return new CliError(
      `interrupted after ${count(summary.published + summary.replayed)} of ${count(total)} events (through line ${count(lastConfirmedLine)}).\n` +
        "  Run the same command again to publish the rest: lines already published carry the same idempotency keys and are not published twice.",
      130,
    );
  }

  try {
    let batch: Line[] = [];
    let bytes = 0;
    for await (const { number, text } of lines(options.file)) {
      if (abort.signal.aborted) throw interrupted();
      const item = parseLine(options, prefix, number, text);
      if (batch.length >= options.batchSize || (batch.length > 0 && bytes + text.length > MAX_BATCH_BYTES)) {
        await send(batch);
        batch = [];
        bytes = 0;
      }
      batch.push({ number, item });
      bytes += text.length;
    }
    if (batch.length > 0) await send(batch);
    progress.finish();
  } finally {
    process.off("SIGINT", onInterrupt);
    process.off("SIGTERM", onInterrupt);
  }
  summary.seconds = Math.round((performance.now() - started) / 100) / 10;
  return summary;
}
