import { startReceiver } from "@herald/testing";
import { describe, expect, it } from "vitest";
import { createDeliveryClient } from "./http-client.ts";
import { addressRange, checkWebhookUrl } from "./target-guard.ts";

// Each of these must be refused at save time when private targets are not allowed.
const HOSTILE_URLS: [url: string, why: RegExp][] = [
  ["http://127.0.0.1/hook", /loopback/],
  ["http://127.8.9.10:8080/", /loopback/],
  ["http://127.1/", /loopback/],
  ["http://2130706433/", /loopback/], // decimal 127.0.0.1
  ["http://0x7f000001/", /loopback/], // hex
  ["http://0x7f.1/", /loopback/], // mixed hex
  ["http://0177.0.0.1/", /loopback/], // octal
  ["http://0/", /unspecified/],
  ["http://0.0.0.0:3000/", /unspecified/],
  ["http://10.0.0.1/", /private/],
  ["http://172.16.5.4/", /private/],
  ["http://192.168.1.1/", /private/],
  ["http://169.254.169.254/latest/meta-data/", /linkLocal/], // cloud metadata
  ["http://100.64.0.1/", /carrierGradeNat/],
  ["http://224.0.0.1/", /multicast/],
  ["http://239.255.255.250/", /multicast/],
  ["http://240.0.0.1/", /reserved/],
  ["http://255.255.255.255/", /broadcast/],
  ["http://192.0.2.1/", /reserved/],
  ["http://198.18.0.1/", /reserved/],
  ["http://[::1]/", /loopback/],
  ["http://[::]/", /unspecified/],
  ["http://[::ffff:127.0.0.1]/", /loopback/], // IPv4-mapped
  ["http://[::ffff:a9fe:a9fe]/", /linkLocal/], // mapped metadata address in hex
  ["http://[::127.0.0.1]/", /ipv4Compatible/],
  ["http://[fe80::1]/", /linkLocal/],
  ["http://[fc00::1]/", /uniqueLocal/],
  ["http://[fd12:3456::1]/", /uniqueLocal/],
  ["http://[ff02::1]/", /multicast/],
  ["http://[64:ff9b::7f00:1]/", /rfc6052/], // NAT64 of 127.0.0.1
  ["http://[2002:7f00:1::]/", /6to4/],
  ["http://[2001:db8::1]/", /reserved/],
  ["http://localhost/", /local host name/],
  ["http://LOCALHOST.:8080/", /local host name/],
  ["http://api.localhost/", /local host name/],
  ["http://metadata.google.internal/", /local host name/],
  ["http://printer.local/", /local host name/],
  ["http://router.home.arpa/", /local host name/],
  ["http://intranet/", /local host name/], // single-label names resolve through search domains
  ["http://user:pass@example.com/", /credentials/],
  ["http://user@example.com/", /credentials/],
  ["ftp://example.com/", /http or https/],
  ["file:///etc/passwd", /http or https/],
  ["gopher://example.com/", /http or https/],
  ["javascript:alert(1)", /http or https/],
  ["not a url", /not a valid URL/],
  ["http://[fe80::1%25eth0]/", /not a valid URL/],
  ["http://1.2.3.4.5/", /not a valid URL/],
];

describe("checkWebhookUrl", () => {
  it.each(HOSTILE_URLS)("refuses %s", (url, why) => {
    const result = checkWebhookUrl(url, false);
    expect(result?.problem).toMatch(why);
  });

  it("has a table of at least 20 hostile URLs", () => {
    expect(HOSTILE_URLS.length).toBeGreaterThanOrEqual(20);
  });

  it.each([
    "https://example.com/webhooks",
    "http://example.com:8080/x?y=1",
    "https://8.8.8.8/",
    "https://[2606:4700:4700::1111]/",
    "https://hooks.example.co.uk./path",
  ])("accepts the public URL %s", (url) => {
    expect(checkWebhookUrl(url, false)).toBeUndefined();
  });

  it("allows private targets only when the deployment says so, and never other schemes or credentials", () => {
    expect(checkWebhookUrl("http://127.0.0.1:9999/", true)).toBeUndefined();
    expect(checkWebhookUrl("http://localhost/", true)).toBeUndefined();
    expect(checkWebhookUrl("ftp://127.0.0.1/", true)?.problem).toMatch(/http or https/);
    expect(checkWebhookUrl("http://a:b@127.0.0.1/", true)?.problem).toMatch(/credentials/);
  });

  it("classifies addresses that resolvers return", () => {
    expect(addressRange("::ffff:10.1.2.3")).toBe("private");
    expect(addressRange("93.184.216.34")).toBe("unicast");
    expect(addressRange("2606:4700:4700::1111")).toBe("unicast");
  });
});

describe("delivery-time check", () => {
  it("refuses a host name that resolves to 127.0.0.1 when it connects, and sends nothing", async () => {
    const receiver = await startReceiver();
    const client = createDeliveryClient({ timeoutMs: 5000, connectTimeoutMs: 2000, allowPrivateTargets: false });
    try {
      // `localhost` and `vm` resolve to 127.0.0.1 through /etc/hosts: a name that passes no IP-literal check.
      for (const host of ["localhost", "vm"]) {
        const outcome = await client.send({ url: `http://${host}:${receiver.port}/hook`, headers: {}, body: "{}" });
        expect(outcome.ok).toBe(false);
        expect(outcome.errorKind).toBe("blocked_target");
        expect(outcome.errorMessage).toMatch(/loopback/);
      }
      const literal = await client.send({ url: `http://[::ffff:127.0.0.1]:${receiver.port}/hook`, headers: {}, body: "{}" });
      expect(literal.errorKind).toBe("blocked_target");
      expect(receiver.requests).toHaveLength(0);
    } finally {
      await client.close();
      await receiver.close();
    }
  });

  it("reaches the same receiver when private targets are allowed", async () => {
    const receiver = await startReceiver();
    const client = createDeliveryClient({ timeoutMs: 5000, connectTimeoutMs: 2000, allowPrivateTargets: true });
    try {
      const outcome = await client.send({ url: `http://localhost:${receiver.port}/hook`, headers: {}, body: "{}" });
      expect(outcome).toMatchObject({ ok: true, statusCode: 200 });
      expect(receiver.requests).toHaveLength(1);
    } finally {
      await client.close();
      await receiver.close();
    }
  });
});
