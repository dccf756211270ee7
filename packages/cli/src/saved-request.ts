/**
 * A webhook request as text: what `nc -l 4000 > saved-request` captures, and
 * what `herald listen --save` writes. The request line is optional; the body
 * is kept byte for byte (cut at content-length when there is one), since the
 * signature covers it exactly.
 */
export interface SavedRequest {
  headers: Record<string, string>;
  body: string;
}

const HEADER = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/;

export function parseSavedRequest(text: string): SavedRequest {
  const blank = /\r?\n\r?\n/.exec(text);
  if (!blank) throw new Error("no blank line between the headers and the body: expected an HTTP request as received");
  const head = text.slice(0, blank.index).split(/\r?\n/);
  let body = text.slice(blank.index + blank[0].length);
  if (head[0] && !HEADER.test(head[0])) head.shift();
  const headers: Record<string, string> = {};
  for (const line of head) {
    const match = HEADER.exec(line);
    if (!match) throw new Error(`not a header line: ${JSON.stringify(line.slice(0, 80))}`);
    headers[(match[1] as string).toLowerCase()] = match[2] as string;
  }
  const length = Number(headers["content-length"]);
  if (Number.isInteger(length) && length >= 0) body = Buffer.from(body).subarray(0, length).toString();
  return { headers, body };
}

export function formatSavedRequest(
  method: string,
  path: string,
  headers: Record<string, string | string[] | undefined>,
  body: string,
): string {
  const lines = [`${method} ${path} HTTP/1.1`];
  for (const [name, value] of Object.entries(headers)) {
    for (const one of Array.isArray(value) ? value : [value]) if (one !== undefined) lines.push(`${name}: ${one}`);
  }
  return `${lines.join("\r\n")}\r\n\r\n${body}`;
}
