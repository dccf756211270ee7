import { randomBytes } from "node:crypto";

// Crockford base32: sorts the same as bytes, no ambiguous letters.
const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";

export const ID_PREFIXES = {
  tenant: "ten",
  endpoint: "ep",
  event: "evt",
  delivery: "dlv",
  attempt: "att",
  apiKey: "key",
  session: "ses",
} as const;

export type IdKind = keyof typeof ID_PREFIXES;

let lastMs = 0;
let lastRandom: Uint8Array = new Uint8Array(10);

function encodeTime(ms: number): string {
  let out = "";
  let rest = ms;
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[rest % 32] + out;
    rest = Math.floor(rest / 32);
  }
  return out;
}

function encodeRandom(bytes: Uint8Array): string {
  // 80 bits -> 16 base32 characters, 5 bits at a time.
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(buffer >> bits) & 31];
    }
  }
  return out;
}

function incremented(bytes: Uint8Array): Uint8Array {
  const next = new Uint8Array(bytes);
  for (let i = next.length - 1; i >= 0; i--) {
    const value = next[i] ?? 0;
    if (value < 255) {
      next[i] = value + 1;
      return next;
    }
    next[i] = 0;
  }
  return next;
}

/**
 * A ULID-style id with a readable prefix: `evt_01jd…`. Ids made by one process
 * are strictly increasing even within a millisecond, so cursor pagination by id
 * is ordered by creation time.
 */
export function newId(kind: IdKind, now: number = Date.now()): string {
  if (now <= lastMs) {
    lastRandom = incremented(lastRandom);
  } else {
    lastMs = now;
    lastRandom = new Uint8Array(randomBytes(10));
  }
  return `${ID_PREFIXES[kind]}_${encodeTime(lastMs)}${encodeRandom(lastRandom)}`;
}

/** The smallest id of a kind created at or after `time`: a cursor for time-range filters. */
export function idFloor(kind: IdKind, time: Date): string {
  return `${ID_PREFIXES[kind]}_${encodeTime(time.getTime())}${"0".repeat(16)}`;
}

/**
 * The smallest and largest of some ids of one kind. Ids start with their creation time, so `id between lo and
 * hi` next to `id = any(ids)` lets PostgreSQL skip the partitions of other days (it cannot prune on an array
 * parameter alone); a batch of today's ids reaches today's partition only.
 */
export function idBounds(ids: readonly string[]): [string, string] {
  let lo = ids[0] ?? "";
  let hi = ids[0] ?? "";
  for (const id of ids) {
    if (id < lo) lo = id;
    if (id > hi) hi = id;
  }
  return [lo, hi];
}

/** When an id was made: the time its first ten characters after the prefix encode. */
export function idTime(id: string): Date {
  const encoded = id.slice(id.indexOf("_") + 1, id.indexOf("_") + 11);
  let ms = 0;
  for (const char of encoded) ms = ms * 32 + ALPHABET.indexOf(char);
  return new Date(ms);
}

export function hasPrefix(kind: IdKind, id: string): boolean {
  return id.startsWith(`${ID_PREFIXES[kind]}_`) && id.length === ID_PREFIXES[kind].length + 27;
}
