import { type Context, type ContextManager, ROOT_CONTEXT } from "@opentelemetry/api";

/**
 * A context manager without async hooks: `with(context, fn)` makes `context` the active one while `fn` runs
 * synchronously, and only then. What `fn` starts before its first `await` (an undici request, a Redis command, a
 * span) sees the context; what runs after an `await` or in a later callback sees none, unless the callback was
 * made with `bind`.
 *
 * Workers use it. On Node 20 the default manager (AsyncLocalStorage) turns on promise hooks for every promise the
 * process makes, traced or not, which cost a worker more than its spans do (see README, "What tracing costs"). A
 * worker does not need context to follow its awaits: an attempt's parent is read from PostgreSQL, and each of its
 * child spans begins synchronously inside the attempt's `with` (the request is created in the call that sends it).
 */
export class SyncContextManager implements ContextManager {
  private current: Context = ROOT_CONTEXT;

  active(): Context {
    return this.current;
  }

  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    context: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    const previous = this.current;
    this.current = context;
    try {
      return fn.call(thisArg, ...args);
    } finally {
      this.current = previous;
    }
  }

  bind<T>(context: Context, target: T): T {
    if (typeof target !== "function") return target;
    const manager = this;
    const fn = target as unknown as (...args: unknown[]) => unknown;
    return function (this: unknown, ...args: unknown[]) {
      return manager.with(context, () => fn.apply(this, args));
    } as unknown as T;
  }

  enable(): this {
    return this;
  }

  disable(): this {
    this.current = ROOT_CONTEXT;
    return this;
  }
}
