import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import type { Sql } from "./client.ts";

/**
 * Endpoint signing secrets at rest: AES-256-GCM under HERALD_ENCRYPTION_KEY.
 * A stored value is `enc:v1:<key id>:<base64url of iv, tag, ciphertext>`;
 * anything else is a secret stored before encryption was turned on (a
 * `whsec_` secret never starts with `enc:`), read as it is and encrypted in
 * place at the next start with a key.
 */
export interface SecretKeys {
  current: { id: string; key: Buffer };
  all: ReadonlyMap<string, Buffer>;
}

const PREFIX = "enc:v1:";
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Binds ciphertexts to their use, so a value cannot be passed off as another kind of encrypted data. */
const AAD = Buffer.from("herald:endpoint-secret");

export class SecretKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SecretKeyError";
  }
}

export function isSealed(stored: string): boolean {
  return stored.startsWith(PREFIX);
}

/** The key id a stored secret was encrypted with; undefined for a plain one. */
export function sealedKeyId(stored: string): string | undefined {
  return isSealed(stored) ? stored.slice(PREFIX.length).split(":")[0] : undefined;
}

/** What to store for a secret: encrypted under the current key, or as given when no key is configured. */
export function sealSecret(keys: SecretKeys | undefined, secret: string): string {
  if (!keys) return secret;
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", keys.current.key, iv);
  cipher.setAAD(AAD);
  const ciphertext = Buffer.concat([cipher.update(secret, "utf8"), cipher.final()]);
  return `${PREFIX}${keys.current.id}:${Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString("base64url")}`;
}

/** The secret a stored value holds. Throws SecretKeyError when its key is not configured or the value was tampered with. */
export function openSecret(keys: SecretKeys | undefined, stored: string): string {
  if (!isSealed(stored)) return stored;
  const [id, data] = stored.slice(PREFIX.length).split(":");
  const key = id ? keys?.all.get(id) : undefined;
  if (!id || !data || !key)
    throw new SecretKeyError(`a signing secret is encrypted with key ${id ?? "?"}, which HERALD_ENCRYPTION_KEY does not hold`);
  const bytes = Buffer.from(data, "base64url");
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, bytes.subarray(0, IV_BYTES));
    decipher.setAAD(AAD);
    decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString("utf8");
  } catch {
    throw new SecretKeyError(`a signing secret encrypted with key ${id} does not decrypt: wrong key, or the stored value was changed`);
  }
}

interface SecretRow {
  id: string;
  secret: string;
  previous: string | null;
}

/**
 * Rewrites every stored secret that `needs` says is due, in batches; each
 * update is conditional on the values read, so a rotation that lands in
 * between is never overwritten with an old secret. Answers how many secrets
 * were rewritten.
 */
async function rewriteSecrets(sql: Sql, keys: SecretKeys, needs: (stored: string) => boolean): Promise<number> {
  let rewritten = 0;
  let after = "";
  for (;;) {
    const rows = await sql<SecretRow[]>`
      select id, secret, previous_secret as previous from endpoints where id > ${after} order by id limit 500`;
    if (rows.length === 0) return rewritten;
    after = rows[rows.length - 1]?.id ?? after;
    for (const row of rows) {
      const secretDue = needs(row.secret);
      const previousDue = row.previous !== null && needs(row.previous);
      if (!secretDue && !previousDue) continue;
      const secret = secretDue ? sealSecret(keys, openSecret(keys, row.secret)) : row.secret;
      const previous = previousDue && row.previous !== null ? sealSecret(keys, openSecret(keys, row.previous)) : row.previous;
      const updated = await sql`
        update endpoints set secret = ${secret}, previous_secret = ${previous}
        where id = ${row.id} and secret = ${row.secret} and previous_secret is not distinct from ${row.previous}`;
      if (updated.count > 0) rewritten += (secretDue ? 1 : 0) + (previousDue ? 1 : 0);
    }
  }
}

/**
 * Run by the API and the worker at start. With keys: every stored key id
 * must be one of them (else nothing could be signed), and secrets stored
 * before encryption was turned on are encrypted in place. Without keys: refuses
 * to start once any secret is encrypted. Answers how many secrets it encrypted.
 */
export async function prepareSecretsAtRest(sql: Sql, keys: SecretKeys | undefined): Promise<number> {
  const ids = await sql<{ id: string }[]>`
    select distinct split_part(value, ':', 3) as id
    from endpoints, lateral (values (secret), (previous_secret)) as stored(value)
    where value like 'enc:v1:%'`;
  if (!keys && ids.length > 0) {
    throw new SecretKeyError(
      "HERALD_ENCRYPTION_KEY is not set, but signing secrets in the database are encrypted; set it to the key(s) they were encrypted with",
    );
  }
  if (!keys) return 0;
  const missing = ids.map((row) => row.id).filter((id) => !keys.all.has(id));
  if (missing.length > 0) {
    throw new SecretKeyError(`signing secrets are encrypted with key(s) ${missing.join(", ")}, which HERALD_ENCRYPTION_KEY does not hold`);
  }
  return rewriteSecrets(sql, keys, (stored) => !isSealed(stored));
}

/** After a key rotation: encrypts every secret under the current key, so the old keys can be removed. */
export async function reencryptSecrets(sql: Sql, keys: SecretKeys): Promise<number> {
  return rewriteSecrets(sql, keys, (stored) => sealedKeyId(stored) !== keys.current.id);
}
