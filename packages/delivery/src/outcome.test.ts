import { describe, expect, it } from "vitest";
import { classifyError, classifyResponse, parseRetryAfter } from "./outcome.ts";
import { BlockedTargetError } from "./target-guard.ts";

describe("Retry-After", () => {
  const now = Date.parse("2026-11-30T12:00:00Z");

  it("reads seconds and HTTP dates; a date in the past means now", () => {
    expect(parseRetryAfter("120", now)).toBe(120_000);
    expect(parseRetryAfter(" 5 ", now)).toBe(5000);
    expect(parseRetryAfter("Mon, 30 Nov 2026 12:01:30 GMT", now)).toBe(90_000);
    expect(parseRetryAfter("Mon, 30 Nov 2026 11:00:00 GMT", now)).toBe(0);
  });

  it("ignores what it cannot read", () => {
    expect(parseRetryAfter(undefined, now)).toBeNull();
    expect(parseRetryAfter("soon", now)).toBeNull();
    expect(parseRetryAfter("-5", now)).toBeNull();
  });
});

describe("classifying answers", () => {
  it("2xx succeeds; 3xx, 410, 429 and the rest fail with their own kind", () => {
    expect(classifyResponse(204, {}, "", 1)).toMatchObject({ ok: true, errorKind: null });
    expect(classifyResponse(301, {}, "", 1)).toMatchObject({ ok: false, errorKind: "redirect" });
    expect(classifyResponse(410, {}, "", 1)).toMatchObject({ ok: false, errorKind: "gone" });
    expect(classifyResponse(429, {}, "", 1)).toMatchObject({ ok: false, errorKind: "rate_limited" });
    expect(classifyResponse(400, {}, "", 1)).toMatchObject({ ok: false, errorKind: "http_status" });
  });

  it("honours Retry-After on 429 and 503 only", () => {
    expect(classifyResponse(429, { "retry-after": "7" }, "", 1).retryAfterMs).toBe(7000);
    expect(classifyResponse(503, { "retry-after": "7" }, "", 1).retryAfterMs).toBe(7000);
    expect(classifyResponse(500, { "retry-after": "7" }, "", 1).retryAfterMs).toBeNull();
  });
});

describe("classifying errors", () => {
  const kind = (error: unknown) => classifyError(error, 1).errorKind;
  const coded = (code: string) => Object.assign(new Error(code), { code });

  it("gives each transport failure a distinct kind, looking through causes", () => {
    expect(kind(coded("ECONNREFUSED"))).toBe("connection_refused");
    expect(kind(coded("ECONNRESET"))).toBe("connection_reset");
    expect(kind(coded("UND_ERR_SOCKET"))).toBe("connection_reset");
    expect(kind(coded("UND_ERR_CONNECT_TIMEOUT"))).toBe("connect_timeout");
    expect(kind(coded("UND_ERR_HEADERS_TIMEOUT"))).toBe("timeout");
    expect(kind(Object.assign(new Error("t"), { name: "TimeoutError" }))).toBe("timeout");
    expect(kind(coded("ENOTFOUND"))).toBe("dns");
    expect(kind(coded("ERR_TLS_CERT_ALTNAME_INVALID"))).toBe("tls");
    expect(kind(coded("DEPTH_ZERO_SELF_SIGNED_CERT"))).toBe("tls");
    expect(kind(new TypeError("fetch failed", { cause: coded("ECONNREFUSED") }))).toBe("connection_refused");
    expect(kind(new BlockedTargetError("10.0.0.1", "private"))).toBe("blocked_target");
    expect(kind(new Error("something else"))).toBe("network");
  });
});
