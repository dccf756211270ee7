import { afterEach, describe, expect, it } from "vitest";
import { type Receiver, startReceiver } from "./receiver.ts";

let receiver: Receiver | undefined;

afterEach(async () => {
  await receiver?.close();
  receiver = undefined;
});

const send = (target: Receiver, id: string, path = "/") =>
  fetch(`${target.url}${path}`, { method: "POST", headers: { "webhook-id": id }, body: "{}" }).then((response) => response.text());

describe("receiver waits", () => {
  it("finds a request that arrived before the wait began", async () => {
    receiver = await startReceiver();
    await send(receiver, "evt_early");
    await send(receiver, "evt_other");
    const request = await receiver.waitFor("evt_early", { timeoutMs: 1000 });
    expect(request.headers["webhook-id"]).toBe("evt_early");
  });

  it("waits for a request that arrives after the wait began", async () => {
    receiver = await startReceiver();
    const waiting = receiver.waitFor((r) => r.path === "/late");
    await send(receiver, "evt_1", "/early");
    await send(receiver, "evt_2", "/late");
    expect((await waiting).headers["webhook-id"]).toBe("evt_2");
  });

  it("counts matches across both sides of the wait", async () => {
    receiver = await startReceiver();
    await send(receiver, "evt_retried");
    const waiting = receiver.waitForMatching("evt_retried", 3);
    await send(receiver, "evt_unrelated");
    await send(receiver, "evt_retried");
    await send(receiver, "evt_retried");
    const tries = await waiting;
    expect(tries).toHaveLength(3);
    expect(tries.every((r) => r.headers["webhook-id"] === "evt_retried")).toBe(true);
  });

  it("fails with what it got when the request never comes, or when the receiver closes", async () => {
    receiver = await startReceiver();
    await send(receiver, "evt_1");
    await expect(receiver.waitFor("evt_never", { timeoutMs: 50 })).rejects.toThrow(
      "receiver got 0 of 1 requests with webhook-id evt_never within 50 ms (1 requests in all)",
    );
    const pending = receiver.waitForRequests(5, 60_000);
    await receiver.close();
    await expect(pending).rejects.toThrow("receiver closed with 1 of 5 requests");
    receiver = undefined;
  });
});
