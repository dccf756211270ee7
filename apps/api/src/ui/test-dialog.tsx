/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import { errorInWords } from "./format.ts";

/** What one test send came to, in the console's terms. */
export interface TestOutcome {
  endpointName: string;
  eventType: string | null;
  ok: boolean;
  statusCode: number | null;
  durationMs: number | null;
  errorKind: string | null;
  errorMessage: string | null;
  responseBody: string | null;
}

const EXCERPT = 500;

/**
 * The Send Test Event result. Rendered open so it reads without script; the
 * console script turns it into a modal dialog. `method="dialog"` closes it.
 */
export function TestDialog({ outcome }: { outcome: TestOutcome }) {
  const body = outcome.responseBody ?? "";
  return (
    <dialog open data-autoshow aria-labelledby="test-title" id="test-result">
      <h2 id="test-title">
        Test event {outcome.ok ? "delivered" : "failed"}: {outcome.endpointName}
      </h2>
      <dl class="facts">
        <dt>Result</dt>
        <dd>
          <span class={`badge ${outcome.ok ? "ok" : "bad"}`}>{outcome.ok ? "success" : "failure"}</span>
        </dd>
        {outcome.eventType && (
          <>
            <dt>Event type</dt>
            <dd>
              <code>{outcome.eventType}</code>
            </dd>
          </>
        )}
        <dt>Status</dt>
        <dd>{outcome.statusCode === null ? "no response" : `HTTP ${outcome.statusCode}`}</dd>
        <dt>Latency</dt>
        <dd>{outcome.durationMs === null ? "—" : `${outcome.durationMs} ms`}</dd>
        {!outcome.ok && (
          <>
            <dt>What went wrong</dt>
            <dd>{errorInWords(outcome.errorKind, outcome.errorMessage)}</dd>
          </>
        )}
      </dl>
      {outcome.statusCode !== null && (
        <>
          <h3 class="small">Receiver's answer{body.length > EXCERPT ? " (beginning)" : ""}</h3>
          <pre>{body ? body.slice(0, EXCERPT) : "(empty body)"}</pre>
        </>
      )}
      <form method="dialog">
        <button type="submit" autofocus>
          Close
        </button>
      </form>
    </dialog>
  );
}
