import { idFloor } from "@herald/schema";
import type { Sql } from "postgres";
import type { DeliveryQueues } from "./delivery-queues.ts";
import type { EndpointGuard } from "./endpoint-guard.ts";
import type { DeliveryJob } from "./jobs.ts";

/** A parked delivery created longer ago than this is part of a backlog, drained through the backlog queue. */
export const BACKLOG_AGE_MS = 30_000;

export interface ParkingDeps {
  sql: Sql;
  queues: DeliveryQueues;
  guard: EndpointGuard;
  /**
   * How long a release holds a delivery that is still parked (HERALD_RECONCILE_GRACE): past it, the delivery
   * counts as parked again, for a job lost with Redis or never added.
   */
  leaseMs: number;
}

/** SQL for "parked and not released, or released longer ago than the lease". */
const waiting = (sql: Sql, leaseMs: number) =>
  sql`parked and (released_at is null or released_at < now() - make_interval(secs => ${leaseMs / 1000}::float8))`;

/**
 * Moves up to `n` of each endpoint's parked deliveries, oldest first, from
 * PostgreSQL into the queue, for several endpoints in one statement (refills
 * asked in the same turn of a worker's event loop, a scheduler pass's due
 * endpoints). Rows another process is releasing at the same moment are
 * skipped, not waited for. An endpoint with none left leaves the parked set.
 *
 * A released delivery stays parked, with `released_at` set, until its attempt
 * is recorded: the release writes only that column, which no index reads, so
 * PostgreSQL rewrites the row in place (a HOT update: one WAL record, where
 * clearing `parked` added the row to six indexes again). The worker treats a
 * released delivery as not parked. A crash between the update and the
 * enqueue, or a Redis that lost the jobs, leaves released rows with no job:
 * once the lease is over they count as parked again, the scheduler's repair
 * puts their endpoint back in the parked set, and the next release takes
 * them again, adding a job for each that has none (EXISTS first, so a job
 * that was only slow to run is not counted twice). Answers how many of each
 * went in.
 */
export async function releaseParkedMany(deps: ParkingDeps, requests: { endpointId: string; n: number }[]): Promise<Map<string, number>> {
  const asked = requests.filter((request) => request.n > 0);
  const released = new Map<string, number>();
  if (asked.length === 0) return released;
  // Nothing here lets PostgreSQL skip a partition at planning (parked deliveries can be of any day kept), so a
  // custom plan is never better than the generic one, and making one opens every partition of deliveries and every
  // index of each: 5.9 ms a call with 40 days of partitions against 2 ms on the generic plan, 70 against 4.5 with 120
  // (scripts/partition-plans.ts). After its first five runs a prepared statement keeps its generic plan unless the
  // custom ones were estimated cheaper, and with unnest of the arrays themselves they were: a custom plan counts
  // the endpoints asked (one or two) where the generic one assumes ten. Read through sub-selects, the arrays are
  // ten rows to both plans, and the generic plan is kept (parking.test.ts). The update then takes the ids found
  // and their bounds (init plans: the partitions outside the bounds are pruned when it runs) rather than a join
  // back to deliveries: a join costed as a probe of every partition per row turned into a hash join over a
  // sequential scan of all of them once the partitions were many and small (50 ms a call at 120 partitions of
  // 2,000 rows). The endpoint is matched by a range of one value and the rows ordered by (endpoint_id, id): with
  // `endpoint_id = r.endpoint_id` and `order by id` the generic plan walked a large partition's primary key in id
  // order filtering on the endpoint, the whole partition for an endpoint with nothing parked there (0.4 s a call
  // with a million parked rows, which held the backlog bench's healthy endpoints to a tenth of their rate); the
  // range keeps every plan on the parked index (0.2–0.8 ms).
  //
  // The scan walks an endpoint's released rows (at most its window: they are its oldest) before the ones it takes.
  // The release commits without waiting for its WAL to reach the disk (synchronous_commit off for this transaction
  // only, set when it returns rows): one fsync fewer per release. A release lost with a crash of PostgreSQL leaves
  // its rows parked and not released, so their jobs are skipped and the next release takes them again; an attempt's
  // own commit, which waits, flushes the release's WAL before it.
  const taken = await deps.sql<(DeliveryJob & { again: boolean; asyncCommit: string })[]>`
    with p as materialized (
      select p.id, p.again
      from unnest((select ${asked.map((request) => request.endpointId)}::text[]), (select ${asked.map((request) => request.n)}::int[]))
           as r(endpoint_id, n)
      cross join lateral (
        select id, released_at is not null as again from deliveries
        where endpoint_id >= r.endpoint_id and endpoint_id <= r.endpoint_id and ${waiting(deps.sql, deps.leaseMs)}
          and status in ('pending', 'failed')
        order by endpoint_id, id limit r.n
        for update skip locked
      ) as p
    ), u as (
      update deliveries d set released_at = now(), updated_at = now()
      where d.id = any(array(select id from p)) and d.id between (select min(id) from p) and (select max(id) from p)
      returning d.id, d.event_id, d.endpoint_id, d.tenant_id
    )
    select u.id as "deliveryId", u.event_id as "eventId", u.endpoint_id as "endpointId", u.tenant_id as "tenantId", p.again,
           (select set_config('synchronous_commit', 'off', true)) as "asyncCommit"
    from u join p on p.id = u.id`;
  // A lease run out: the job may still be in the queue (a slow drain), so only the ones Redis lacks are added.
  const again = taken.filter((row) => row.again).map(({ again: _again, asyncCommit: _async, ...job }) => job);
  const lost = again.length > 0 ? new Set((await deps.queues.missing(again)).map((job) => job.deliveryId)) : new Set<string>();
  const rows = taken.filter((row) => !row.again || lost.has(row.deliveryId)).map(({ again: _again, asyncCommit: _async, ...job }) => job);
  const byEndpoint = new Map<string, DeliveryJob[]>();
  for (const row of rows) {
    const group = byEndpoint.get(row.endpointId);
    if (group) group.push(row);
    else byEndpoint.set(row.endpointId, [row]);
  }
  const takenOf = new Map<string, number>();
  for (const row of taken) takenOf.set(row.endpointId, (takenOf.get(row.endpointId) ?? 0) + 1);
  const shortOf = asked.filter((request) => (takenOf.get(request.endpointId) ?? 0) < request.n).map((request) => request.endpointId);
  if (shortOf.length > 0) {
    // Released rows do not keep their endpoint parked: new deliveries go straight to the queue again.
    const left = await deps.sql<{ endpointId: string }[]>`
      select r.endpoint_id as "endpointId" from unnest((select ${shortOf}::text[])) as r(endpoint_id)
      where exists (select 1 from deliveries
                    where endpoint_id >= r.endpoint_id and endpoint_id <= r.endpoint_id and ${waiting(deps.sql, deps.leaseMs)})`;
    const stillParked = new Set(left.map((row) => row.endpointId));
    for (const endpointId of shortOf) if (!stillParked.has(endpointId)) await deps.queues.unpark(endpointId);
  }
  if (rows.length === 0) return released;
  await Promise.all([...byEndpoint].map(([endpointId, group]) => deps.guard.addQueued(endpointId, group.length)));
  // Oldest first within the queue too. Deliveries parked for long (a backlog an outage left) go to the backlog
  // queue, whose slots are not the ones new deliveries need; the overflow of a burst parked moments ago goes back
  // to the delivery queue it was headed for.
  const sorted = [...rows].sort((a, b) => (a.deliveryId < b.deliveryId ? -1 : 1));
  const recent = idFloor("delivery", new Date(Date.now() - BACKLOG_AGE_MS));
  const old = sorted.filter((row) => row.deliveryId < recent);
  if (old.length > 0) await deps.queues.enqueue(old, { backlog: true });
  if (old.length < sorted.length) await deps.queues.enqueue(sorted.slice(old.length));
  for (const [endpointId, group] of byEndpoint) released.set(endpointId, group.length);
  return released;
}

/**
 * Endpoints that have parked deliveries in PostgreSQL waiting for a release
 * (never released, or their lease is over), found with one index probe per
 * endpoint (a skip scan over the parked index, past each endpoint's released
 * rows), not one row per parked delivery: the scheduler's check that none is
 * missing from the parked set.
 */
export async function endpointsWithParked(sql: Sql, leaseMs: number): Promise<string[]> {
  const rows = await sql<{ endpointId: string }[]>`
    with recursive found as (
      (select endpoint_id from deliveries d where ${waiting(sql, leaseMs)} order by endpoint_id limit 1)
      union all
      select (select d.endpoint_id from deliveries d where ${waiting(sql, leaseMs)} and d.endpoint_id > found.endpoint_id
              order by d.endpoint_id limit 1)
      from found where found.endpoint_id is not null
    )
    select endpoint_id as "endpointId" from found where endpoint_id is not null`;
  return rows.map((row) => row.endpointId);
}
