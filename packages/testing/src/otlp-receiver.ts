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
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      requests++;
      for (const chunk of chunks) bytes += chunk.length;
      if (keep && req.url === "/v1/traces" && (req.headers["content-type"] ?? "").startsWith("application/json")) {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as ExportRequest;
        for (const resourceSpans of body.resourceSpans ?? []) {
          const service = String(unwrap(resourceSpans.resource?.attributes)["service.name"] ?? "");
          for (const scope of resourceSpans.scopeSpans ?? []) {
            for (const raw of scope.spans ?? []) {
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
