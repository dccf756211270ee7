/** `2026-11-30 12:00:05 UTC`: one unambiguous format everywhere in the console. */
export function formatTime(date: Date | null | undefined): string {
  if (!date) return "never";
  return `${date.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

/** `3 min ago`, `2 h ago`: for "last success" columns read at a glance. */
export function ago(date: Date | null | undefined, now = Date.now()): string {
  if (!date) return "never";
  const seconds = Math.max(0, Math.round((now - date.getTime()) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86_400)} d ago`;
}

export function formatAge(ms: number | null): string {
  if (ms === null) return "none";
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

export function successRate(succeeded: number, sent: number): string {
  if (sent === 0) return "—";
  return `${Math.round((succeeded / sent) * 1000) / 10}%`;
}

export function prettyJson(value: unknown): string {
  return value === undefined || value === null ? "null" : JSON.stringify(value, null, 2);
}

const ERROR_WORDS: Record<string, string> = {
  http_status: "The receiver answered with a status other than 2xx.",
  redirect: "The receiver answered with a redirect; Herald does not follow redirects.",
  rate_limited: "The receiver said it gets too many requests (429).",
  gone: "The receiver answered 410 Gone, so the endpoint was disabled.",
  timeout: "The receiver did not answer in time.",
  connect_timeout: "The connection could not be opened in time.",
  connection_refused: "The connection was refused: nothing is listening at that address.",
  connection_reset: "The receiver closed the connection before answering.",
  dns: "The host name could not be resolved.",
  tls: "The TLS handshake failed (certificate or protocol problem).",
  blocked_target: "Blocked: the URL points at a private or internal address, which this deployment does not allow.",
  invalid_url: "The URL is not allowed.",
  invalid_header: "A custom header cannot be sent over HTTP; fix it on the webhook.",
  network: "A network error interrupted the request.",
};

/** An attempt's error kind in words a person reads, keeping the technical detail after it. */
export function errorInWords(kind: string | null | undefined, message?: string | null): string {
  if (!kind) return message ?? "";
  const words = ERROR_WORDS[kind] ?? `Failed (${kind}).`;
  // The status code is shown beside it already; the stored message would only repeat it.
  if (kind === "http_status") return words;
  return message && !words.includes(message) ? `${words} ${message}` : words;
}
