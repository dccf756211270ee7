import { randomBytes } from "node:crypto";
import { parseEncryptionKeys } from "@herald/config";
import { createLogger } from "@herald/runtime";
import { openSecret, prepareSecretsAtRest, reencryptSecrets } from "@herald/schema/secrets";
import { type Receiver, respondWith, startReceiver } from "@herald/testing";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "./test-app.ts";

const keyText = (id: string) => `${id}:${randomBytes(32).toString("base64")}`;
const K1 = keyText("k1");
const K2 = keyText("k2");
const whsec = () => `whsec_${randomBytes(32).toString("base64")}`;

const logLines: string[] = [];
let t: TestApp;
let receiver: Receiver;
let endpointId: string;
const secrets: string[] = [];

beforeAll(async () => {
  receiver = await startReceiver(respondWith(200, "ok"));
  const logger = createLogger("trace", "herald-api", { write: (line: string) => logLines.push(line) });
  t = await createTestApp({ HERALD_ENCRYPTION_KEY: K1 }, { logger });
  await t.call("POST", "/v1/tenants", { body: { name: "Acme", uid: "acme" } });
  await t.call("POST", "/v1/event-types", { body: { name: "secret.test", description: "x", example: { n: 1 } } });
});
afterAll(async () => {
  await t?.close();
  await receiver?.close();
});

async function storedSecrets(): Promise<string[]> {
  const rows = await t.sql<{ secret: string; previous: string | null }[]>`select secret, previous_secret as previous from endpoints`;
  return rows.flatMap((row) => [row.secret, ...(row.previous ? [row.previous] : [])]);
}

describe("signing secrets at rest", () => {
  it("stores them encrypted under the current key id, and still signs with them", async () => {
    const secret = whsec();
    secrets.push(secret);
    const created = await t.call("POST", "/v1/tenants/acme/endpoints", { body: { name: "Hook", url: receiver.url, secret } });
    expect(created.status).toBe(201);
    endpointId = created.body.id;
    const [stored] = await storedSecrets();
    expect(stored).toMatch(/^enc:v1:k1:/);
    expect(stored).not.toContain(secret.slice(6, 30));

    expect((await t.call("GET", `/v1/tenants/acme/endpoints/${endpointId}/secret`)).body.secret).toBe(secret);
    const sent = await t.call("POST", `/v1/tenants/acme/endpoints/${endpointId}/test`, { body: {} });
    expect(sent.body.ok).toBe(true);
    const request = await receiver.waitFor(sent.body.eventId);
    expect(new Webhook(secret).verify(request.body, request.headers as Record<string, string>)).toBeTruthy();

    const rotated = await t.call("POST", `/v1/tenants/acme/endpoints/${endpointId}/secret/rotate`, { body: {} });
    secrets.push(rotated.body.secret);
    expect(rotated.body.previousSecret).toBe(secret);
    for (const value of await storedSecrets()) expect(value).toMatch(/^enc:v1:k1:/);
  });

  it("migrates plain secrets in place, reads old keys after a key rotation, and re-encrypts under the new key", async () => {
    const plain = whsec();
    secrets.push(plain);
    const tenantId = (await t.call("GET", "/v1/tenants/acme")).body.id;
    await t.sql`insert into endpoints (id, tenant_id, name, url, secret) values ('ep_plain', ${tenantId}, 'old', 'https://old.example.com', ${plain})`;
    const k1 = parseEncryptionKeys(K1);
    expect(await prepareSecretsAtRest(t.sql, k1)).toBe(1);
    expect(await storedSecrets()).toSatisfy((values: string[]) => values.every((v) => v.startsWith("enc:v1:k1:")));

    // Rotation: k2 writes, k1 still reads; the command moves everything to k2; then k1 can go.
    const both = parseEncryptionKeys(`${K2},${K1}`);
    for (const value of await storedSecrets()) expect(secrets).toContain(openSecret(both, value));
    // The first endpoint's current and previous secret, and the migrated one.
    expect(await reencryptSecrets(t.sql, both)).toBe(3);
    const k2 = parseEncryptionKeys(K2);
    const values = await storedSecrets();
    expect(values.every((v) => v.startsWith("enc:v1:k2:"))).toBe(true);
    expect(values.map((v) => openSecret(k2, v)).sort()).toEqual([...secrets].sort());
    expect(() => openSecret(k1, values[0] as string)).toThrow(/k2/);
    expect(await reencryptSecrets(t.sql, k2)).toBe(0);
  });

  it("refuses to start without a key, or without the key a secret was encrypted with", async () => {
    await expect(prepareSecretsAtRest(t.sql, undefined)).rejects.toThrow(/HERALD_ENCRYPTION_KEY/);
    await expect(prepareSecretsAtRest(t.sql, parseEncryptionKeys(keyText("k3")))).rejects.toThrow(/k2/);
  });

  it("never writes a secret to the logs, even when a query that carries one fails", async () => {
    const secret = whsec();
    const refused = await t.call("POST", "/v1/tenants/acme/endpoints", { body: { name: "nul\u0000name", url: receiver.url, secret } });
    expect(refused.status).toBe(400);
    expect(logLines.length).toBeGreaterThan(0);
    const logs = logLines.join("\n");
    expect(logs).toContain("value refused by the database");
    for (const value of [...secrets, secret]) expect(logs).not.toContain(value.slice(6, 30));
  });
});
