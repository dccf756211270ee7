import { bindActiveContext } from "@herald/telemetry";
import { createKeys, type EndpointKeyPart } from "./keys.ts";
import type { RedisClient } from "./redis.ts";

/**
 * Admission for one delivery to one endpoint, shared by every worker process
 * through Redis: a circuit breaker, a cap on requests in flight, and an
 * optional rate limit. Admissions (or how long to wait) and releases, which
 * feed the outcome to the breaker, are settled in batches: one script call
 * per shard for everything a worker asks in one turn of its event loop.
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

// One call settles a batch of one shard's releases and admissions, in that order (a slot freed in the batch
// can go to an admission in it). Each endpoint's state is read once per batch and written back once at the end,
// so a batch of n costs one script call and about one command per admission (its sending mark) besides a few per endpoint.
//
// KEYS: the shard's parked set; per endpoint its slots, rate, circuit, waiting and queued keys; then each op's sending key.
// ARGV: endpoints, ops, lease ms, cap, probe ms, cool-down ms, starting cap, failure threshold, refill threshold,
// window; each endpoint's id; then 6 per op: kind ('r' release, 'a' acquire), endpoint (1-based), lease, and
//   release: ok (1/0), pause ms (0 = none), unused;
//   acquire: rate per second (0 = none), attempt number, 1 when asking again from a wait in the worker.
// Answers per op, in order:
//   release: {1 when this outcome opened the circuit, how many more of the endpoint's parked backlog to release:
//            the window less its jobs in the queue, once those are at or below the refill threshold, or 0; only
//            the endpoint's last release of the batch asks}
//   acquire: {0, reason, interrupted attempt or 0} when admitted, {delay ms, reason} when the caller must wait, and
//            for 'concurrency' also the age of the oldest request in flight and the slots earned by answering.
const GUARD = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nE, nOps = tonumber(ARGV[1]), tonumber(ARGV[2])
local leaseMs, capMax, probeMs, cooldown = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local startCap, threshold, refillAt, window = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local DAY = 86400000

local eps = {}
local function ep(i)
  local e = eps[i]
  if e then return e end
  local base = 1 + (i - 1) * 5
  e = { slots = KEYS[base + 1], rate = KEYS[base + 2], circuit = KEYS[base + 3], waiting = KEYS[base + 4], queued = KEYS[base + 5],
        id = ARGV[10 + i], rems = {}, adds = {}, ttl = 0, lastRelease = 0 }
  local c = redis.call('HMGET', e.circuit, 'openUntil', 'probeUntil', 'pausedUntil', 'warm', 'failures')
  e.openUntil, e.probeUntil, e.pausedUntil = tonumber(c[1]) or 0, tonumber(c[2]) or 0, tonumber(c[3]) or 0
  e.warm, e.failures = tonumber(c[4]) or 0, tonumber(c[5]) or 0
  e.hadFailure = c[1] or c[2] or c[5]
  eps[i] = e
  return e
end
-- The circuit changed: written back at the end, and kept for a day past its longest window.
local function touch(e, ttl) if ttl > e.ttl then e.ttl = ttl end end

local answers = {}
local dels = {}

-- Releases: the slot, the sending mark, the outcome for the breaker.
for k = 1, nOps do
  local a = 10 + nE + (k - 1) * 6
  if ARGV[a + 1] == 'r' then
    local ei = tonumber(ARGV[a + 2])
    local e = ep(ei)
    e.rems[#e.rems + 1] = ARGV[a + 3]
    dels[#dels + 1] = KEYS[1 + nE * 5 + k]
    e.lastRelease = k
    e.released = (e.released or 0) + 1
    local opened = 0
    if ARGV[a + 4] == '1' then
      -- A pause asked for by Retry-After outlives a success of a request sent before it.
      e.failures, e.openUntil, e.probeUntil = 0, 0, 0
      e.warm = math.min(e.warm + 1, 1000)
      touch(e, DAY)
    else
      -- A failure halves the slots earned, so an endpoint that starts hanging gives them back.
      e.warm = math.floor(e.warm / 2)
      e.failures = e.failures + 1
      -- A failed probe re-opens at once; otherwise the run of failures must reach the threshold.
      if e.openUntil > 0 or e.failures >= threshold then
        if e.openUntil == 0 then opened = 1 end
        e.openUntil, e.probeUntil = now + cooldown, 0
      end
      local pause = tonumber(ARGV[a + 5])
      if pause > 0 and now + pause > e.pausedUntil then e.pausedUntil = now + pause end
      touch(e, math.max(cooldown, pause) + DAY)
    end
    answers[k] = {opened, 0}
  end
end

-- For an endpoint draining a parked backlog: its finished jobs leave the count, and its last release of the batch
-- says whether to release more.
for _, e in pairs(eps) do
  if e.released then
    -- Counted down whether or not the endpoint is still parked: a count left high would hold back its next drain.
    local queued = tonumber(redis.call('GET', e.queued)) or 0
    if queued > 0 then queued = redis.call('DECRBY', e.queued, math.min(queued, e.released)) end
    local refill = 0
    if redis.call('ZSCORE', KEYS[1], e.id) then
      local open = math.max(e.openUntil, e.pausedUntil)
      if open > now then
        -- The scheduler looks at the endpoint again when the circuit or the pause ends.
        redis.call('ZADD', KEYS[1], 'XX', open, e.id)
      elseif queued <= refillAt then
        refill = math.max(0, window - queued)
      end
    end
    answers[e.lastRelease][2] = refill
    redis.call('ZREM', e.slots, unpack(e.rems))
  end
end
if #dels > 0 then redis.call('DEL', unpack(dels)) end

-- Admissions. The interrupted attempts of all of them in one read.
local sendingKeys, sendingAt = {}, {}
for k = 1, nOps do
  if ARGV[10 + nE + (k - 1) * 6 + 1] == 'a' then
    sendingKeys[#sendingKeys + 1] = KEYS[1 + nE * 5 + k]
    sendingAt[k] = #sendingKeys
  end
end
local sending = {}
if #sendingKeys > 0 then sending = redis.call('MGET', unpack(sendingKeys)) end

local function inFlight(e)
  if not e.inFlight then
    redis.call('ZREMRANGEBYSCORE', e.slots, '-inf', now)
    e.inFlight = redis.call('ZCARD', e.slots)
  end
  return e.inFlight
end
-- Jobs turned away in the last second approximate the queue in front of this endpoint; the n-th of them waits
-- about n turns, so a backlog of thousands spreads out instead of coming back together again and again.
local function waiters(e, again)
  if e.waiters == nil then e.waiters, e.turnedAway = tonumber(redis.call('GET', e.waiting)) or 0, 0 end
  -- A job asking again while it waits in the worker is already counted.
  if again then return math.max(1, e.waiters) end
  e.waiters, e.turnedAway = e.waiters + 1, e.turnedAway + 1
  return e.waiters
end

for k = 1, nOps do
  local a = 10 + nE + (k - 1) * 6
  if ARGV[a + 1] == 'a' then
    local e = ep(tonumber(ARGV[a + 2]))
    local lease, rate, again = ARGV[a + 3], tonumber(ARGV[a + 4]), ARGV[a + 6] == '1'
    -- Slow start: an endpoint earns slots by answering. A new one, or one whose requests hang, holds only the
    -- starting cap of the worker's slots while it waits out the timeout; each success adds one slot up to the full cap.
    local cap = math.min(capMax, startCap + e.warm)
    local answer
    local probing = false
    if e.pausedUntil > now then
      answer = {e.pausedUntil - now, 'paused'}
    elseif e.openUntil > 0 and e.openUntil > now then
      answer = {e.openUntil - now, 'circuit_open'}
    elseif e.openUntil > 0 and e.probeUntil > now then
      -- While the probe is out, look again after a cool-down at most: a probe that succeeds quickly closes the
      -- circuit long before its lease would lapse.
      answer = {math.min(e.probeUntil - now, cooldown), 'circuit_probe'}
    else
      probing = e.openUntil > 0
      if inFlight(e) >= cap then
        -- One turn is about as long as the oldest request has been running: short for a fast endpoint, long for
        -- one that holds connections open. Admitted in this batch counts as just started.
        if e.oldest == nil then
          local oldest = redis.call('ZRANGE', e.slots, 0, 0, 'WITHSCORES')
          e.oldest = oldest[2] and (now - (tonumber(oldest[2]) - leaseMs)) or 0
        end
        local age = math.max(50, e.oldest)
        answer = {math.floor(math.min(age * math.max(1, waiters(e, again) / cap), leaseMs)), 'concurrency', math.max(0, e.oldest), e.warm}
      elseif rate > 0 then
        local interval = 1000 / rate
        if e.tat == nil then e.tat = tonumber(redis.call('GET', e.rate)) or now end
        if e.tat < now then e.tat = now end
        if e.tat - now >= 1 then
          answer = {math.ceil(math.max(e.tat - now, waiters(e, again) * interval)), 'rate_limit'}
        else
          e.tat = e.tat + interval
          e.rateTtl = math.ceil(interval) + 60000
        end
      end
    end
    if not answer then
      e.adds[#e.adds + 1] = now + leaseMs
      e.adds[#e.adds + 1] = lease
      e.inFlight = e.inFlight + 1
      local interrupted = tonumber(sending[sendingAt[k]]) or 0
      redis.call('SET', KEYS[1 + nE * 5 + k], ARGV[a + 5], 'PX', DAY)
      if probing then
        e.probeUntil = now + probeMs
        touch(e, probeMs + DAY)
        answer = {0, 'probe', interrupted}
      else
        answer = {0, 'admitted', interrupted}
      end
    end
    answers[k] = answer
  end
end

-- Each endpoint's state, written back once.
for _, e in pairs(eps) do
  if #e.adds > 0 then
    redis.call('ZADD', e.slots, unpack(e.adds))
    redis.call('PEXPIRE', e.slots, leaseMs + 60000)
  end
  if e.rateTtl then redis.call('SET', e.rate, tostring(e.tat), 'PX', e.rateTtl) end
  if e.turnedAway and e.turnedAway > 0 then
    if redis.call('INCRBY', e.waiting, e.turnedAway) == e.turnedAway then redis.call('PEXPIRE', e.waiting, 1000) end
  end
  if e.ttl > 0 then
    local set = {'warm', e.warm}
    local cleared = {}
    for _, f in ipairs({'failures', 'openUntil', 'probeUntil'}) do
      if e[f] > 0 then set[#set + 1] = f; set[#set + 1] = e[f] else cleared[#cleared + 1] = f end
    end
    if e.pausedUntil > 0 then set[#set + 1] = 'pausedUntil'; set[#set + 1] = e.pausedUntil end
    redis.call('HSET', e.circuit, unpack(set))
    if e.hadFailure and #cleared > 0 then redis.call('HDEL', e.circuit, unpack(cleared)) end
    redis.call('PEXPIRE', e.circuit, e.ttl)
  end
end
return answers
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
  heraldGuard(numberOfKeys: number, ...keysThenArgs: (string | number)[]): Promise<(number | string)[][]>;
  heraldPark(...keysThenArgs: (string | number)[]): Promise<number>;
  heraldLeave(...keysThenArgs: (string | number)[]): Promise<number>;
}

/** One admission or release waiting for its shard's next batch. */
type GuardOp =
  | {
      kind: "a";
      delivery: DeliveryRef;
      lease: string;
      rate: number;
      attempt: number;
      again: boolean;
      resolve: (answer: (number | string)[]) => void;
      reject: (error: unknown) => void;
    }
  | {
      kind: "r";
      delivery: DeliveryRef;
      lease: string;
      ok: boolean;
      pauseMs: number;
      resolve: (answer: (number | string)[]) => void;
      reject: (error: unknown) => void;
    };

/** Ops per script call: bounded so one call's argument list and Lua tables stay small. */
const MAX_BATCH = 256;

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
 * A refill comes once two caps' worth have finished (`refillThreshold`), so
 * when it is asked for, a cap's worth still waits behind the requests in
 * flight and the endpoint does not idle for the refill's round trip to
 * PostgreSQL and Redis. With the window at twice the cap and the refill at half
 * of it, nothing waited behind the requests in flight, and a fast endpoint sat
 * idle through every refill: the 1-endpoint durable comparison ran at 0.27x of
 * the reference. Refilling after each cap's worth instead of two made twice the
 * release statements: 0.77 PostgreSQL transactions per delivery at one
 * endpoint against 0.54 (quick durable runs, 2026-12-02), the reference's 0.55.
 */
export const parkedWindow = (concurrency: number) => concurrency * 4;
/** A draining endpoint is refilled (up to its window) once its jobs in the queue are down to this many: half of it. */
export const refillThreshold = (concurrency: number) => concurrency * 2;

export function createEndpointGuard(redis: RedisClient, options: EndpointGuardOptions) {
  const commands = redis as RedisClient & GuardCommands;
  if (!("heraldGuard" in redis)) {
    redis.defineCommand("heraldGuard", { lua: GUARD });
    // On a cluster, ioredis's auto-pipelining picks a command's node by its first argument, which for a script
    // whose number of keys varies is that number, not a key: the batch would join another slot's pipeline and
    // fail with it. It is one call per shard and turn already, so it goes on its own.
    const ignored = redis.options.autoPipeliningIgnoredCommands ?? [];
    if (!ignored.includes("heraldGuard")) redis.options.autoPipeliningIgnoredCommands = [...ignored, "heraldGuard"];
    redis.defineCommand("heraldPark", { numberOfKeys: 2, lua: PARK });
    redis.defineCommand("heraldLeave", { numberOfKeys: 1, lua: LEAVE });
  }
  const k = createKeys(options.prefix, options.shards ?? 1);
  const window = parkedWindow(options.concurrency);
  const key = (endpointId: string, part: EndpointKeyPart) => k.endpoint(endpointId, part);
  const parkedKey = (endpointId: string) => k.parked(k.shardFor(endpointId));
  const startCap = options.startConcurrency ?? options.concurrency;

  // Admissions and releases of many jobs come in the same turn of the event loop (their PostgreSQL reads and
  // records are batched): each shard's go to Redis as one script call at the end of the turn.
  const pending = new Map<number, GuardOp[]>();
  let scheduled = false;
  function submit(op: GuardOp): void {
    const shard = k.shardFor(op.delivery.endpointId);
    const ops = pending.get(shard);
    if (ops) ops.push(op);
    else pending.set(shard, [op]);
    if (!scheduled) {
      scheduled = true;
      // With tracing, the batch's script call is a child span of whatever span submitted its first operation.
      setImmediate(bindActiveContext(flush));
    }
  }
  function flush(): void {
    scheduled = false;
    const batches = [...pending.entries()];
    pending.clear();
    for (const [shard, ops] of batches) {
      for (let offset = 0; offset < ops.length; offset += MAX_BATCH) void run(shard, ops.slice(offset, offset + MAX_BATCH));
    }
  }
  async function run(shard: number, ops: GuardOp[]): Promise<void> {
    const endpointIds: string[] = [];
    const index = new Map<string, number>();
    for (const op of ops) {
      if (!index.has(op.delivery.endpointId)) {
        endpointIds.push(op.delivery.endpointId);
        index.set(op.delivery.endpointId, endpointIds.length);
      }
    }
    const keys = [
      k.parked(shard),
      ...endpointIds.flatMap((id) => [key(id, "slots"), key(id, "rate"), key(id, "circuit"), key(id, "waiting"), key(id, "queued")]),
      ...ops.map((op) => k.sending(op.delivery.endpointId, op.delivery.deliveryId)),
    ];
    const args = [
      endpointIds.length,
      ops.length,
      options.leaseMs,
      options.concurrency,
      options.leaseMs,
      options.circuitCooldownMs,
      startCap,
      options.circuitThreshold,
      refillThreshold(options.concurrency),
      window,
      ...endpointIds,
      ...ops.flatMap((op) =>
        op.kind === "a"
          ? ["a", index.get(op.delivery.endpointId) as number, op.lease, op.rate, op.attempt, op.again ? 1 : 0]
          : ["r", index.get(op.delivery.endpointId) as number, op.lease, op.ok ? 1 : 0, op.pauseMs, 0],
      ),
    ];
    try {
      const answers = await commands.heraldGuard(keys.length, ...keys, ...args);
      for (const [i, op] of ops.entries()) op.resolve(answers[i] ?? []);
    } catch (error) {
      for (const op of ops) op.reject(error);
    }
  }

  return {
    /**
     * Takes a slot for `lease` (unique per run of a job) to send attempt
     * `attemptNumber`, or says how long to wait. `again`: the job already
     * asked and has been waiting in the worker, so it is not counted twice
     * in the endpoint's backlog.
     */
    async acquire(delivery: DeliveryRef, lease: string, rateLimit: number | null, attemptNumber = 1, again = false): Promise<Admission> {
      const answer = await new Promise<(number | string)[]>((resolve, reject) =>
        submit({ kind: "a", delivery, lease, rate: rateLimit ?? 0, attempt: attemptNumber, again, resolve, reject }),
      );
      // The third value is the interrupted attempt when admitted, the oldest request's age when full.
      const [delayMs, reason, third, warm] = answer as [number, string, number?, number?];
      if (delayMs === 0) return { admitted: true, reason: reason as "admitted" | "probe", interruptedAttempt: third ?? 0 };
      if (reason === "concurrency") return { admitted: false, delayMs, reason, oldestMs: third ?? 0, answering: (warm ?? 0) > 0 };
      return { admitted: false, delayMs, reason: reason as AdmissionReason };
    },
    /**
     * Frees the slot once the attempt is recorded and tells the breaker how it
     * went. `opened`: this failure opened the circuit; `refill`: the endpoint
     * is draining a parked backlog and has room for this many more of it in
     * the queue (asked by the endpoint's last release in a batch).
     */
    async release(delivery: DeliveryRef, lease: string, ok: boolean, pauseMs = 0): Promise<{ opened: boolean; refill: number }> {
      const answer = await new Promise<(number | string)[]>((resolve, reject) =>
        submit({ kind: "r", delivery, lease, ok, pauseMs: Math.max(0, Math.round(pauseMs)), resolve, reject }),
      );
      const [opened, refill] = answer as [number, number];
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
      const answers =
        (await redis
          .pipeline()
          .incrby(queued, n)
          .pexpire(queued, options.leaseMs * 2)
          .exec()) ?? [];
      const failed = answers.find(([error]) => error);
      if (failed) throw failed[0];
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
