import type { Outcome } from "./outcome.ts";

/** Strings in PostgreSQL must not contain NUL; a receiver can send anything. */
export function storableText(text: string | null): string | null {
  return text === null ? null : text.replaceAll("\u0000", "\uFFFD");
}

function storableHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [storableText(name) ?? "", storableText(value) ?? ""]));
}

export interface AttemptFields {
  durationMs: number;
  statusCode: number | null;
  errorKind: string | null;
  errorMessage: string | null;
  requestHeaders: Record<string, string>;
  responseHeaders: Record<string, string>;
  responseBody: string | null;
}

/**
 * What an attempt row holds, from the headers sent and the outcome: the
 * signature redacted and every string storable. The worker's recorder and the
 * API's test send both write these fields, so a receiver's answer that one can
 * record the other can too.
 */
export function attemptFields(outcome: Outcome, sentHeaders: Record<string, string>): AttemptFields {
  const { "webhook-signature": signature, ...shown } = sentHeaders;
  return {
    durationMs: outcome.durationMs,
    statusCode: outcome.statusCode,
    errorKind: outcome.errorKind,
    errorMessage: storableText(outcome.errorMessage),
    requestHeaders: storableHeaders(signature === undefined ? shown : { ...shown, "webhook-signature": "(redacted)" }),
    responseHeaders: storableHeaders(outcome.responseHeaders),
    responseBody: storableText(outcome.responseBody),
  };
}
