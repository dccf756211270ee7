/**
 * `npm run generate -w @herald/client [-- <url of an openapi.json>]`: writes
 * the client's types from Herald's own OpenAPI document. Without a URL it
 * starts a throw-away API on a fresh test database (PostgreSQL and Redis at
 * the test URLs), so the types always come from the code in this checkout.
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createTestDatabase, deletePrefix, freshQueuePrefix, startProcess, TEST_ADMIN_TOKEN, TEST_REDIS_URL } from "@herald/testing";
import { GENERATED_PATH, generateTypes } from "./generate-types.ts";

async function fetchDocument(url: string): Promise<unknown> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url} answered ${response.status}`);
  return response.json();
}

async function documentFromFreshApi(): Promise<unknown> {
  const database = await createTestDatabase();
  const prefix = freshQueuePrefix();
  try {
    const api = await startProcess("api", {
      DATABASE_URL: database.url,
      REDIS_URL: TEST_REDIS_URL,
      HERALD_QUEUE_PREFIX: prefix,
      HERALD_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
      PORT: "0",
    });
    try {
      return await fetchDocument(`${api.match[1]}/openapi.json`);
    } finally {
      await api.stop();
    }
  } finally {
    await deletePrefix(prefix);
    await database.drop();
  }
}

const url = process.argv[2];
const document = url ? await fetchDocument(url) : await documentFromFreshApi();
writeFileSync(GENERATED_PATH, await generateTypes(document));
console.log(`wrote ${fileURLToPath(GENERATED_PATH)}`);
