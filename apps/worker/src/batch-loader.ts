/** How long a job whose data could not be loaded waits before it is tried again (plus up to half as much, spread). */
export const LOAD_RETRY_MS = 2_000;

/**
 * A batch could not be loaded: PostgreSQL went away or answered something
 * unusable. The worker puts the job back for `delayMs` without using an
 * attempt: nothing was sent, and the next try loads afresh. `cause` keeps
 * what went wrong.
 */
export class LoadFailedError extends Error {
  readonly delayMs = Math.round(LOAD_RETRY_MS * (1 + Math.random() / 2));

  constructor(cause: unknown) {
    super("could not load the delivery's data", { cause });
    this.name = "LoadFailedError";
  }
}

/**
 * Collects the keys asked for during one turn of the event loop and loads them
 * with one query, so a hundred concurrent jobs cost one round trip, not a hundred.
 * Whatever goes wrong with a batch (a lost connection, a result that is not a
 * map) fails each of its waiters with a LoadFailedError, never with the raw error.
 */
export class BatchLoader<K, V> {
  private pending = new Map<K, { resolve: (value: V | undefined) => void; reject: (error: unknown) => void }[]>();
  private scheduled = false;

  constructor(
    private readonly loadMany: (keys: K[]) => Promise<Map<K, V>>,
    private readonly maxBatch = 500,
  ) {}

  load(key: K): Promise<V | undefined> {
    return new Promise((resolve, reject) => {
      const waiters = this.pending.get(key);
      if (waiters) waiters.push({ resolve, reject });
      else this.pending.set(key, [{ resolve, reject }]);
      if (this.pending.size >= this.maxBatch) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    // `then` also catches a loader that throws before returning its promise.
    Promise.resolve([...batch.keys()])
      .then((keys) => this.loadMany(keys))
      .then((found) => {
        if (!(found instanceof Map)) throw new TypeError(`the loader returned ${typeof found}, not a Map`);
        for (const [key, waiters] of batch) for (const waiter of waiters) waiter.resolve(found.get(key));
      })
      .catch((error) => {
        for (const waiters of batch.values()) for (const waiter of waiters) waiter.reject(new LoadFailedError(error));
      });
  }
}
