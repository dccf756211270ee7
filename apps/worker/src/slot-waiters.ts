/**
 * Jobs of a busy but fast endpoint wait here, in the worker, for a slot to
 * free instead of going back to Redis's delayed set and being fetched again:
 * a round trip through the delayed set costs several script calls and, with
 * a backlog, happens to each job several times. At most `max` jobs wait at
 * once across all endpoints, so the rest of the worker's slots keep taking
 * jobs of other endpoints from the queue (a busy endpoint's backlog must not
 * hold up everyone else's deliveries).
 */
export class SlotWaiters {
  private readonly waiting = new Map<string, Set<() => void>>();
  private count = 0;

  constructor(private readonly max: number) {}

  get size(): number {
    return this.count;
  }

  /**
   * Resolves when this worker frees a slot of the endpoint (`wake`) or after
   * `timeoutMs` (another worker may have freed one); undefined when `max`
   * jobs are waiting already.
   */
  wait(endpointId: string, timeoutMs: number): Promise<void> | undefined {
    if (this.count >= this.max) return undefined;
    let waiters = this.waiting.get(endpointId);
    if (!waiters) {
      waiters = new Set();
      this.waiting.set(endpointId, waiters);
    }
    const set = waiters;
    this.count++;
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        if (set.delete(done)) this.count--;
        if (set.size === 0 && this.waiting.get(endpointId) === set) this.waiting.delete(endpointId);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      set.add(done);
    });
  }

  /** A slot of the endpoint is free: the longest-waiting job tries again. */
  wake(endpointId: string): void {
    const first = this.waiting.get(endpointId)?.values().next().value;
    first?.();
  }
}
