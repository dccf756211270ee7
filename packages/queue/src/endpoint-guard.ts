import { createKeys, type EndpointKeyPart } from "./keys.ts";
import type { RedisClient } from "./redis.ts";

/**
 * Admission for one delivery to one endpoint, shared by every worker process
 * through Redis: a circuit breaker, a cap on requests in flight, and an
 * optional rate limit. One script call admits (or says how long to wait),
 * one script call releases and feeds the outcome to the breaker.
 *
 * Keys per endpoint, all under its shard's prefix so they share the shard's cluster slot:
 *   <prefix>:ep:<id>:slots    sorted set of in-flight leases, scored by lease expiry
 *   <prefix>:ep:<id>:rate     GCRA theoretical arrival time (ms)
 *   <prefix>:ep:<id>:circuit  hash: failures, openUntil, probeUntil, pausedUntil
 *   <prefix>:ep:<id>:waiting  jobs turned away in the last second, a measure of the backlog
 *   <prefix>:ep:<id>:queued   jobs released from the endpoint's parked backlog and not finished yet
 *   <prefix>:parked           sorted set of endpoints with a parked backlog, scored by when the scheduler
 *                             should look at them next (see parking.ts)
 *   <prefix>:sending:<delivery>  the attempt number being sent, from admission until
 *                             release after the record is committed: if it is still
 *                             there when the delivery runs again, a worker died mid-attempt
 * Every key carries a TTL, so a killed worker's leases and a forgotten
 * endpoint's state expire on their own.
 */

// KEYS: slots, rate, circuit, waiting, sending. ARGV: lease id, lease ms, concurrency cap, rate per second (0 = none),
// probe ms, cool-down ms, attempt number, starting cap, 1 when asking again from a wait in the worker. Answers {0, reason, interrupted attempt or 0} when admitted,
// {delayMs, reason} when the caller must wait; for 'concurrency' also the age of the oldest request in flight and
// the slots the endpoint has earned by answering (0: it has not answered lately).
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease, leaseMs, cap, rate, probeMs, cooldown = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])

local c = redis.call('HMGET', KEYS[3], 'openUntil', 'probeUntil', 'pausedUntil', 'warm')
local openUntil, probeUntil, pausedUntil = tonumber(c[1]) or 0, tonumber(c[2]) or 0, tonumber(c[3]) or 0
-- Slow start: an endpoint earns slots by answering. A new one, or one whose
-- requests hang, holds only the starting cap of the worker's slots while it
-- waits out the timeout; each success adds one slot up to the full cap.
cap = math.min(cap, tonumber(ARGV[8]) + (tonumber(c[4]) or 0))
if pausedUntil > now then return {pausedUntil - now, 'paused'} end
local probing = false
if openUntil > 0 then
  if openUntil > now then return {openUntil - now, 'circuit_open'} end
  -- While the probe is out, look again after a cool-down at most: a probe that
  -- succeeds quickly closes the circuit long before its lease would lapse.
  if probeUntil > now then return {math.min(probeUntil - now, cooldown), 'circuit_probe'} end
  probing = true
end

-- Jobs turned away in the last second approximate the queue in front of this
-- endpoint; the n-th of them waits about n turns, so a backlog of thousands
-- spreads out instead of coming back together again and again.
local function waiters()
  -- A job asking again while it waits in the worker is already counted.
  if ARGV[9] == '1' then return tonumber(redis.call('GET', KEYS[4])) or 1 end
  local n = redis.call('INCR', KEYS[4])
  if n == 1 then redis.call('PEXPIRE', KEYS[4], 1000) end
  return n
end

redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local inFlight = redis.call('ZCARD', KEYS[1])
if inFlight >= cap then
  -- One turn is about as long as the oldest request has been running: short
  -- for a fast endpoint, long for one that holds connections open.
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  local running = now - (tonumber(oldest[2]) - leaseMs)
  local age = math.max(50, running)
  return {math.floor(math.min(age * math.max(1, waiters() / cap), leaseMs)), 'concurrency', math.max(0, running), tonumber(c[4]) or 0}
end

if rate > 0 then
  local interval = 1000 / rate
  local tat = tonumber(redis.call('GET', KEYS[2])) or now
  if tat < now then tat = now end
  if tat - now >= 1 then return {math.ceil(math.max(tat - now, waiters() * interval)), 'rate_limit'} end
  redis.call('SET', KEYS[2], tostring(tat + interval), 'PX', math.ceil(interval) + 60000)
end

redis.call('ZADD', KEYS[1], now + leaseMs, lease)
redis.call('PEXPIRE', KEYS[1], leaseMs + 60000)
local interrupted = tonumber(redis.call('GET', KEYS[5])) or 0
redis.call('SET', KEYS[5], ARGV[7], 'PX', 86400000)
if probing then
  redis.call('HSET', KEYS[3], 'probeUntil', now + probeMs)
  redis.call('PEXPIRE', KEYS[3], probeMs + 86400000)
  return {0, 'probe', interrupted}
end
return {0, 'admitted', interrupted}
`;

// KEYS: slots, rate, circuit, waiting, sending, parked, queued. ARGV: lease id, ok (1/0), threshold, cool-down ms,
// pause ms (0 = none), endpoint id, refill threshold, window. Answers {1 when this outcome opened the circuit, how
// many more of the endpoint's parked backlog to release: the window less its jobs in the queue, once those are at
// or below the threshold, or 0}.
const RELEASE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ok, threshold, cooldown, pause = ARGV[2] == '1', tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[5])
-- For an endpoint draining a parked backlog: one job fewer in the queue, and whether to release more.
local function refill(open)
  -- Counted down whether or not the endpoint is still parked: a count left high would hold back its next drain.
  local queued = tonumber(redis.call('GET', KEYS[7])) or 0
  if queued > 0 then queued = redis.call('DECR', KEYS[7]) end
  if not redis.call('ZSCORE', KEYS[6], ARGV[6]) then return 0 end
  if open > now then
    -- The scheduler looks at the endpoint again when the circuit or the pause ends.
    redis.call('ZADD', KEYS[6], 'XX', open, ARGV[6])
    return 0
  end
  if queued <= tonumber(ARGV[7]) then return math.max(0, tonumber(ARGV[8]) - queued) end
  return 0
end
if ok then
  -- A pause asked for by Retry-After outlives a success of a request sent before it.
  redis.call('HDEL', KEYS[3], 'failures', 'openUntil', 'probeUntil')
  if redis.call('HINCRBY', KEYS[3], 'warm', 1) > 1000 then redis.call('HSET', KEYS[3], 'warm', 1000) end
  redis.call('PEXPIRE', KEYS[3], 86400000)
  return {0, refill(tonumber(redis.call('HGET', KEYS[3], 'pausedUntil')) or 0)}
end
-- A failure halves the slots earned, so an endpoint that starts hanging gives them back.
local warm = tonumber(redis.call('HGET', KEYS[3], 'warm')) or 0
if warm > 0 then redis.call('HSET', KEYS[3], 'warm', math.floor(warm / 2)) end
local failures = redis.call('HINCRBY', KEYS[3], 'failures', 1)
local openUntil = tonumber(redis.call('HGET', KEYS[3], 'openUntil')) or 0
local opened = 0
-- A failed probe re-opens at once; otherwise the run of failures must reach the threshold.
if openUntil > 0 or failures >= threshold then
  redis.call('HSET', KEYS[3], 'openUntil', now + cooldown, 'probeUntil', 0)
  opened = openUntil == 0 and 1 or 0
end
if pause > 0 then
  local pausedUntil = tonumber(redis.call('HGET', KEYS[3], 'pausedUntil')) or 0
  if now + pause > pausedUntil then redis.call('HSET', KEYS[3], 'pausedUntil', now + pause) end
end
redis.call('PEXPIRE', KEYS[3], math.max(cooldown, pause) + 86400000)
local c = redis.call('HMGET', KEYS[3], 'openUntil', 'pausedUntil')
return {opened, refill(math.max(tonumber(c[1]) or 0, tonumber(c[2]) or 0))}
`;

// KEYS: parked, queued. ARGV: endpoint id, when to look at it again (ms). A job refused by the guard leaves the
// queue: the delivery waits in PostgreSQL and the endpoint joins (or stays in) the parked set, at the earlier time.
// KEYS: queued. A job that leaves the queue without an attempt or a park (skipped, held) no longer counts.
const LEAVE = `
if (tonumber(redis.call('GET', KEYS[1])) or 0) > 0 then redis.call('DECR', KEYS[1]) end
return 1
`;

const PARK = `
redis.call('ZADD', KEYS[1], 'LT', ARGV[2], ARGV[1])
local queued = tonumber(redis.call('GET', KEYS[2])) or 0
if queued > 0 then redis.call('DECR', KEYS[2]) end
return 1
`;

export type AdmissionReason = "admitted" | "probe" | "paused" | "circuit_open" | "circuit_probe" | "concurrency" | "rate_limit";

export type Admission =
  | {
      admitted: true;
      reason: "admitted" | "probe";
      /** An earlier attempt of this delivery whose worker stopped before recording it (0 if none). */
      interruptedAttempt: number;
    }
  | {
      admitted: false;
      delayMs: number;
      reason: AdmissionReason;
      /** For `concurrency`: how long the oldest request in flight has run, a measure of how soon a slot frees. */
      oldestMs?: number;
      /** For `concurrency`: whether the endpoint has answered lately (earned slots by slow start). */
      answering?: boolean;
    };

export interface EndpointGuardOptions {
  /** The configured queue prefix; each endpoint's keys go under its shard's prefix. */
  prefix: string;
  /** Shards of the queue (default 1). */
  shards?: number;
  /** Requests in flight per endpoint across all workers. */
  concurrency: number;
  /** The cap of an endpoint that has not answered yet; each success raises it by one up to `concurrency`. Default: no slow start. */
  startConcurrency?: number;
  /** Consecutive failures that open the circuit. */
  circuitThreshold: number;
  circuitCooldownMs: number;
  /** How long a lease lives if its worker dies without releasing it; longer than one attempt. */
  leaseMs: number;
}

export interface DeliveryRef {
  deliveryId: string;
  endpointId: string;
}

interface GuardCommands {
  heraldAcquire(...keysThenArgs: (string | number)[]): Promise<[number, string, number?, number?]>;
  heraldRelease(...keysThenArgs: (string | number)[]): Promise<[number, number]>;
  heraldPark(...keysThenArgs: (string | number)[]): Promise<number>;
  heraldLeave(...keysThenArgs: (string | number)[]): Promise<number>;
}

/** What the guard knows of an endpoint, for the scheduler deciding how much of a parked backlog to release. */
export interface EndpointState {
  openUntil: number;
  probeUntil: number;
  pausedUntil: number;
  /** Jobs released from the parked backlog and not finished. */
  queued: number;
}

/**
 * How many of a parked endpoint's deliveries are in the queue at once while
 * its backlog drains (those in flight included): four times its in-flight cap.
 * A refill comes once a cap's worth has finished (`refillThreshold`), so when
 * it is asked for, twice the cap still waits behind the requests in flight and
 * the endpoint never idles for the refill's round trip to PostgreSQL and Redis.
 * With the window at twice the cap and the refill at half of it, a fast
 * endpoint sat idle through every refill: the 1-endpoint durable comparison ran
 * at 0.27x of the reference.
 */
export const parkedWindow = (concurrency: number) => concurrency * 4;
/** A draining endpoint is refilled (up to its window) once its jobs in the queue are down to this many. */
export const refillThreshold = (concurrency: number) => concurrency * 3;

export function createEndpointGuard(redis: RedisClient, options: EndpointGuardOptions) {
  const commands = redis as RedisClient & GuardCommands;
  if (!("heraldAcquire" in redis)) {
    redis.defineCommand("heraldAcquire", { numberOfKeys: 5, lua: ACQUIRE });
    redis.defineCommand("heraldRelease", { numberOfKeys: 7, lua: RELEASE });
    redis.defineCommand("heraldPark", { numberOfKeys: 2, lua: PARK });
    redis.defineCommand("heraldLeave", { numberOfKeys: 1, lua: LEAVE });
  }
  const k = createKeys(options.prefix, options.shards ?? 1);
  const window = parkedWindow(options.concurrency);
  const key = (endpointId: string, part: EndpointKeyPart) => k.endpoint(endpointId, part);
  const parkedKey = (endpointId: string) => k.parked(k.shardFor(endpointId));
  const keys = (delivery: DeliveryRef) =>
    [
      key(delivery.endpointId, "slots"),
      key(delivery.endpointId, "rate"),
      key(delivery.endpointId, "circuit"),
      key(delivery.endpointId, "waiting"),
      k.sending(delivery.endpointId, delivery.deliveryId),
    ] as const;

  return {
    /**
     * Takes a slot for `lease` (unique per run of a job) to send attempt
     * `attemptNumber`, or says how long to wait. `again`: the job already
     * asked and has been waiting in the worker, so it is not counted twice
     * in the endpoint's backlog.
     */
    async acquire(delivery: DeliveryRef, lease: string, rateLimit: number | null, attemptNumber = 1, again = false): Promise<Admission> {
      // The third value is the interrupted attempt when admitted, the oldest request's age when full.
      const [delayMs, reason, third, warm] = await commands.heraldAcquire(
        ...keys(delivery),
        lease,
        options.leaseMs,
        options.concurrency,
        rateLimit ?? 0,
        options.leaseMs,
        options.circuitCooldownMs,
        attemptNumber,
        options.startConcurrency ?? options.concurrency,
        again ? 1 : 0,
      );
      if (delayMs === 0) return { admitted: true, reason: reason as "admitted" | "probe", interruptedAttempt: third ?? 0 };
      if (reason === "concurrency") return { admitted: false, delayMs, reason, oldestMs: third ?? 0, answering: (warm ?? 0) > 0 };
      return { admitted: false, delayMs, reason: reason as AdmissionReason };
    },
    /**
     * Frees the slot once the attempt is recorded and tells the breaker how it
     * went. `opened`: this failure opened the circuit; `refill`: the endpoint
     * is draining a parked backlog and has room for this many more of it in the queue.
     */
    async release(delivery: DeliveryRef, lease: string, ok: boolean, pauseMs = 0): Promise<{ opened: boolean; refill: number }> {
      const [opened, refill] = await commands.heraldRelease(
        ...keys(delivery),
        parkedKey(delivery.endpointId),
        key(delivery.endpointId, "queued"),
        lease,
        ok ? 1 : 0,
        options.circuitThreshold,
        options.circuitCooldownMs,
        Math.max(0, Math.round(pauseMs)),
        delivery.endpointId,
        refillThreshold(options.concurrency),
        window,
      );
      return { opened: opened === 1, refill };
    },
    /** A refused job leaves the queue: its endpoint is parked, to be looked at again at `wakeAt` (or earlier). */
    async park(endpointId: string, wakeAt: number): Promise<void> {
      await commands.heraldPark(parkedKey(endpointId), key(endpointId, "queued"), endpointId, Math.ceil(wakeAt));
    },
    /** A job of the endpoint left the queue without an attempt or a park (skipped, or held for a disabled endpoint). */
    async leave(endpointId: string): Promise<void> {
      await commands.heraldLeave(key(endpointId, "queued"));
    },
    /** Counts `n` more jobs released from the endpoint's parked backlog into the queue. */
    async addQueued(endpointId: string, n: number): Promise<void> {
      const queued = key(endpointId, "queued");
      // A worker that dies with released jobs leaves the count high; it expires rather than stall the drain.
      await redis
        .multi()
        .incrby(queued, n)
        .pexpire(queued, options.leaseMs * 2)
        .exec();
    },
    /** The breaker's state and the released jobs of endpoints that share one shard. */
    async states(endpointIds: string[]): Promise<Map<string, EndpointState>> {
      const found = new Map<string, EndpointState>();
      if (endpointIds.length === 0) return found;
      const pipeline = redis.pipeline();
      for (const id of endpointIds) {
        pipeline.hmget(key(id, "circuit"), "openUntil", "probeUntil", "pausedUntil");
        pipeline.get(key(id, "queued"));
      }
      const answers = (await pipeline.exec()) ?? [];
      endpointIds.forEach((id, i) => {
        const [circuitError, circuit] = answers[i * 2] ?? [null, null];
        const [queuedError, queued] = answers[i * 2 + 1] ?? [null, null];
        if (circuitError || queuedError) throw circuitError ?? queuedError;
        const [openUntil, probeUntil, pausedUntil] = (circuit as (string | null)[]).map((value) => Number(value ?? 0));
        found.set(id, {
          openUntil: openUntil ?? 0,
          probeUntil: probeUntil ?? 0,
          pausedUntil: pausedUntil ?? 0,
          queued: Number(queued ?? 0),
        });
      });
      return found;
    },
  };
}

export type EndpointGuard = ReturnType<typeof createEndpointGuard>;
