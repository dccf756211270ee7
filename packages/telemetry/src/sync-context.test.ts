import { createContextKey, ROOT_CONTEXT } from "@opentelemetry/api";
import { describe, expect, it } from "vitest";
import { SyncContextManager } from "./sync-context.ts";

const KEY = createContextKey("test");
const a = ROOT_CONTEXT.setValue(KEY, "a");
const b = ROOT_CONTEXT.setValue(KEY, "b");

describe("SyncContextManager", () => {
  it("makes a context active while the function runs, nested, and restores the one before", () => {
    const manager = new SyncContextManager();
    const seen: unknown[] = [];
    const answer = manager.with(a, () => {
      seen.push(manager.active().getValue(KEY));
      manager.with(b, () => seen.push(manager.active().getValue(KEY)));
      seen.push(manager.active().getValue(KEY));
      return 42;
    });
    expect(answer).toBe(42);
    expect(seen).toEqual(["a", "b", "a"]);
    expect(manager.active()).toBe(ROOT_CONTEXT);
  });

  it("restores the context before when the function throws, and passes this and the arguments", () => {
    const manager = new SyncContextManager();
    expect(() =>
      manager.with(a, () => {
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(manager.active()).toBe(ROOT_CONTEXT);
    const target = { n: 2 };
    expect(
      manager.with(
        a,
        function (this: { n: number }, x: number) {
          return this.n * x;
        },
        target,
        21,
      ),
    ).toBe(42);
  });

  it("follows the synchronous part of an async function only: after an await no context is active", async () => {
    const manager = new SyncContextManager();
    const seen: unknown[] = [];
    await manager.with(a, async () => {
      seen.push(manager.active().getValue(KEY));
      await null;
      seen.push(manager.active().getValue(KEY));
    });
    expect(seen).toEqual(["a", undefined]);
  });

  it("runs a bound callback in the context it was bound to, whenever it is called", async () => {
    const manager = new SyncContextManager();
    const later = manager.with(a, () => manager.bind(manager.active(), (x: number) => `${manager.active().getValue(KEY)}${x}`));
    const called = await new Promise<string>((resolve) => setImmediate(() => resolve(later(1))));
    expect(called).toBe("a1");
    expect(manager.active()).toBe(ROOT_CONTEXT);
    expect(manager.bind(a, "not a function")).toBe("not a function");
  });
});
