import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

/** One span as an OTLP/HTTP exporter sent it, flattened: attribute values unwrapped, ids as hex. */
export interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, string | number | boolean>;
  status: { code?: number; message?: string };
}

export interface OtlpReceiver {
  /** The base URL for OTEL_EXPORTER_OTLP_ENDPOINT (the exporter adds /v1/traces). */
  url: string;
  spans: ReceivedSpan[];
  /** Export requests answered, of any signal (traces, metrics, logs), and the bytes they carried. */
  requests: number;
  bytes: number;
  /** Export requests answered, by path (/v1/traces, /v1/metrics, /v1/logs). */
  requestsByPath: Map<string, number>;
  /** Trace spans received (counted from protobuf or JSON exports, kept or not), by "service: span name". */
  spanCounts: Map<string, number>;
  /** Resolves with the first span matching `test`, waiting for exports that have not arrived yet. */
  waitForSpan(test: (span: ReceivedSpan) => boolean, options?: { timeoutMs?: number; what?: string }): Promise<ReceivedSpan>;
  close(): Promise<void>;
}

type AnyValue = { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean };
type KeyValue = { key: string; value: AnyValue };
interface ExportRequest {
  resourceSpans?: {
    resource?: { attributes?: KeyValue[] };
    scopeSpans?: {
      spans?: {
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        kind: number;
        attributes?: KeyValue[];
        status?: { code?: number; message?: string };
      }[];
    }[];
  }[];
}

function unwrap(attributes: KeyValue[] = []): Record<string, string | number | boolean> {
  return Object.fromEntries(
    attributes.map(({ key, value }) => [
      key,
      value.stringValue ?? (value.intValue !== undefined ? Number(value.intValue) : (value.doubleValue ?? value.boolValue ?? "")),
    ]),
  );
}

/** Reads a protobuf varint at `at`: [value, next offset]. Lengths and tags here fit in a double. */
function varint(buf: Buffer, at: number): [number, number] {
  let value = 0;
  let scale = 1;
  let i = at;
  for (;;) {
    const byte = buf[i++] ?? 0;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80 || i >= buf.length) return [value, i];
    scale *= 128;
  }
}

/** Calls `visit(field, start, end)` for each length-delimited field of the message in buf[start, end). */
function eachField(buf: Buffer, start: number, end: number, visit: (field: number, from: number, to: number) => void): void {
  let at = start;
  while (at < end) {
    const [tag, next] = varint(buf, at);
    at = next;
    const wire = tag & 7;
    if (wire === 0) at = varint(buf, at)[1];
    else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else if (wire === 2) {
      const [length, from] = varint(buf, at);
      at = from + length;
      visit(Math.floor(tag / 8), from, at);
    } else return;
  }
}

/**
 * Counts the spans of an OTLP protobuf ExportTraceServiceRequest by "service: name", without a schema:
 * resource_spans (1) → scope_spans (2) → spans (2) → name (5).
 */
export function countProtobufSpans(buf: Buffer, counts: Map<string, number>): void {
  eachField(buf, 0, buf.length, (field, from, to) => {
    if (field !== 1) return;
    let service = "";
    eachField(buf, from, to, (field, from, to) => {
      // resource (1) → attributes (1): key (1), value (2) → string_value (1)
      if (field === 1)
        eachField(buf, from, to, (field, from, to) => {
          if (field !== 1) return;
          let key = "";
          let value = "";
          eachField(buf, from, to, (field, from, to) => {
            if (field === 1) key = buf.toString("utf8", from, to);
            if (field === 2)
              eachField(buf, from, to, (field, from, to) => {
                if (field === 1) value = buf.toString("utf8", from, to);
              });
          });
          if (key === "service.name") service = value;
        });
      if (field !== 2) return;
      eachField(buf, from, to, (field, from, to) => {
        if (field !== 2) return;
        let name = "";
        eachField(buf, from, to, (field, from, to) => {
          if (field === 5) name = buf.toString("utf8", from, to);
        });
        const key = `${service}: ${name}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      });
    });
  });
}

/**
 * A real OTLP/HTTP receiver on loopback for the `http/json` protocol: what a collector would get from Herald's
 * exporter. It keeps trace spans and answers every export (metrics and logs too) with 200. `keep: false` only
 * counts what arrives (any protocol), for benchmarks.
 */
export async function startOtlpReceiver({ keep = true }: { keep?: boolean } = {}): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  let bytes = 0;
  const waiters = new Set<{ test: (span: ReceivedSpan) => boolean; resolve: (span: ReceivedSpan) => void }>();
  let requests = 0;
  const spanCounts = new Map<string, number>();
  const requestsByPath = new Map<string, number>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      requests++;
      requestsByPath.set(req.url ?? "", (requestsByPath.get(req.url ?? "") ?? 0) + 1);
      for (const chunk of chunks) bytes += chunk.length;
      const type = req.headers["content-type"] ?? "";
      if (req.url === "/v1/traces" && type.startsWith("application/x-protobuf")) countProtobufSpans(Buffer.concat(chunks), spanCounts);
      if (req.url === "/v1/traces" && type.startsWith("application/json")) {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as ExportRequest;
        for (const resourceSpans of body.resourceSpans ?? []) {
          const service = String(unwrap(resourceSpans.resource?.attributes)["service.name"] ?? "");
          for (const scope of resourceSpans.scopeSpans ?? []) {
            for (const raw of scope.spans ?? []) {
              const key = `${service}: ${raw.name}`;
              spanCounts.set(key, (spanCounts.get(key) ?? 0) + 1);
              if (!keep) continue;
              const span: ReceivedSpan = {
                service,
                traceId: raw.traceId,
                spanId: raw.spanId,
                parentSpanId: raw.parentSpanId ?? "",
                name: raw.name,
                kind: raw.kind,
                attributes: unwrap(raw.attributes),
                status: raw.status ?? {},
              };
              spans.push(span);
              for (const waiter of [...waiters]) if (waiter.test(span)) waiter.resolve(span);
            }
          }
        }
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    spanCounts,
    requestsByPath,
    get requests() {
      return requests;
    },
    get bytes() {
      return bytes;
    },
    waitForSpan(test, { timeoutMs = 30_000, what = "a matching span" } = {}) {
      const found = spans.find(test);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const waiter = {
          test,
          resolve: (span: ReceivedSpan) => {
            clearTimeout(timer);
            waiters.delete(waiter);
            resolve(span);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(
            new Error(
              `no ${what} arrived within ${timeoutMs} ms (${spans.length} spans in all: ${[...new Set(spans.map((s) => s.name))].join(", ")})`,
            ),
          );
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
