/** Why a wait ended: this worker freed a slot, it is this job's turn to look for one freed elsewhere, or its time is up. */
export type WaitEnd = "woken" | "recheck" | "expired";

interface Waiter {
  end: (why: WaitEnd) => void;
  recheckMs: number;
}

interface EndpointWaiters {
  /** Longest-waiting first. */
  queue: Waiter[];
  /** One look per endpoint at a time for a slot this worker did not free (see wait). */
  recheck?: NodeJS.Timeout;
}

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
  private readonly waiting = new Map<string, EndpointWaiters>();
  private count = 0;

  constructor(private readonly max: number) {}

  get size(): number {
    return this.count;
  }

  /**
   * Resolves "woken" when this worker frees a slot of the endpoint (`wake`,
   * longest-waiting job first), "recheck" when it is this job's turn to ask
   * again for a slot another worker may have freed or a rate limit's next
   * turn, or "expired" after `timeoutMs`. Only the endpoint's longest-waiting
   * job rechecks, once per `recheckMs`: when each of fifty waiting jobs asked
   * every 100 ms, an endpoint at its cap that answers in a few hundred
   * milliseconds cost five hundred refused admissions a second. `again`: the
   * job was the longest-waiting one and was refused, and keeps its place at
   * the front.
   * Undefined when `max` jobs are waiting already.
   */
  wait(endpointId: string, recheckMs: number, timeoutMs: number, again = false): Promise<WaitEnd> | undefined {
    if (this.count >= this.max) return undefined;
    let endpoint = this.waiting.get(endpointId);
    if (!endpoint) {
      endpoint = { queue: [] };
      this.waiting.set(endpointId, endpoint);
    }
    const state = endpoint;
    this.count++;
    return new Promise<WaitEnd>((resolve) => {
      const waiter: Waiter = {
        recheckMs,
        end: (why) => {
          clearTimeout(deadline);
          const at = state.queue.indexOf(waiter);
          if (at >= 0) {
            state.queue.splice(at, 1);
            this.count--;
          }
          if (state.queue.length === 0) {
            clearTimeout(state.recheck);
            state.recheck = undefined;
            if (this.waiting.get(endpointId) === state) this.waiting.delete(endpointId);
          }
          resolve(why);
        },
      };
      const deadline = setTimeout(() => waiter.end("expired"), timeoutMs);
      if (again) state.queue.unshift(waiter);
      else state.queue.push(waiter);
      this.armRecheck(state);
    });
  }

  /** A slot of the endpoint is free: the longest-waiting job tries again. */
  wake(endpointId: string): void {
    this.waiting.get(endpointId)?.queue[0]?.end("woken");
  }

  private armRecheck(state: EndpointWaiters): void {
    if (state.recheck || state.queue.length === 0) return;
    state.recheck = setTimeout(
      () => {
        state.recheck = undefined;
        state.queue[0]?.end("recheck");
        this.armRecheck(state);
      },
      (state.queue[0] as Waiter).recheckMs,
    );
  }
}
