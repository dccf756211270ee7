import { createLogger } from "@herald/runtime";
import { TEST_ADMIN_TOKEN } from "@herald/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../test-app.ts";
import { browserFor } from "./test-browser.ts";

let t: TestApp;
const logLines: string[] = [];

beforeAll(async () => {
  t = await createTestApp(
    { HERALD_SIGN_IN_MAX_FAILURES: "3", HERALD_TRUST_PROXY: "true" },
    { logger: createLogger("info", "herald-api", { write: (line: string) => logLines.push(line) }) },
  );
});
afterAll(async () => {
  await t?.close();
});

const from = (address: string) => browserFor(t, { "x-forwarded-for": address });

describe("console sign-in is rate limited", () => {
  it("blocks an address after repeated failures, even with the right token, and not other addresses", async () => {
    const attacker = from("203.0.113.7");
    for (const guess of ["guess-one-0000000", "other-two-0000000", "third-try-0000000"]) {
      expect((await attacker.signIn(guess)).status).toBe(401);
    }
    const blocked = await attacker.signIn(TEST_ADMIN_TOKEN);
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(blocked.headers.getSetCookie().some((c) => c.startsWith("herald_session="))).toBe(false);
    expect((await from("198.51.100.1").signIn(TEST_ADMIN_TOKEN)).status).toBe(303);
  });

  it("blocks a token prefix guessed from many addresses", async () => {
    for (let i = 0; i < 3; i++) expect((await from(`192.0.2.${i}`).signIn(`hk_AbCd${"x".repeat(40)}${i}`)).status).toBe(401);
    expect((await from("192.0.2.50").signIn(`hk_AbCd${"y".repeat(41)}`)).status).toBe(429);
    expect((await from("192.0.2.51").signIn(`hk_ZzZz${"y".repeat(41)}`)).status).toBe(401);
  });

  it("logs each failure with the address and the prefix, never the token", async () => {
    const failures = logLines.map((line) => JSON.parse(line)).filter((entry) => entry.msg === "console sign-in failed");
    expect(failures.length).toBeGreaterThanOrEqual(7);
    expect(failures[0]).toMatchObject({ address: "203.0.113.7", tokenPrefix: expect.any(String) });
    expect(failures.some((entry) => entry.tokenPrefix === "hk_AbCd")).toBe(true);
    const text = logLines.join("\n");
    expect(text).not.toContain("guess-one-0000000");
    expect(text).not.toContain("x".repeat(40));
    expect(text).not.toContain(TEST_ADMIN_TOKEN);
  });
});
