/** One key of HERALD_ENCRYPTION_KEY: its id (stored with every secret it encrypts) and 32 bytes of AES-256 key. */
export interface EncryptionKey {
  id: string;
  key: Buffer;
}

/** The keys Herald may use: the first encrypts new secrets, every one decrypts (old keys stay readable during a rotation). */
export interface EncryptionKeys {
  current: EncryptionKey;
  all: ReadonlyMap<string, Buffer>;
}

const ENTRY = /^([A-Za-z0-9_-]{1,32}):([A-Za-z0-9+/=_-]+)$/;

/**
 * Parses `id:base64key[,id:base64key…]`, newest first. Throws with a message
 * that says what is wrong with which entry, never the key itself.
 */
export function parseEncryptionKeys(text: string): EncryptionKeys {
  const entries = text
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean);
  if (entries.length === 0) throw new Error("expected id:base64key, e.g. k1:<32 random bytes in base64>");
  const all = new Map<string, Buffer>();
  for (const [index, entry] of entries.entries()) {
    const match = ENTRY.exec(entry);
    if (!match?.[1] || !match[2]) throw new Error(`entry ${index + 1} is not id:base64key (id of letters, digits, _ or -)`);
    const key = Buffer.from(match[2], match[2].includes("-") || match[2].includes("_") ? "base64url" : "base64");
    if (key.length !== 32) throw new Error(`key ${match[1]} is ${key.length} bytes; AES-256 needs 32 (openssl rand -base64 32)`);
    if (all.has(match[1])) throw new Error(`key id ${match[1]} appears twice`);
    all.set(match[1], key);
  }
  const [first] = all;
  if (!first) throw new Error("expected at least one key");
  return { current: { id: first[0], key: first[1] }, all };
}
