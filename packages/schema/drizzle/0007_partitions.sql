-- events, deliveries and attempts become tables partitioned by RANGE (id), a day per partition. Ids begin with
-- their creation time (ids.ts), so the primary keys stay (id) and a lookup by id or a keyset page reaches only
-- the partitions its ids fall in. The existing tables are not copied: each is renamed <table>_p0 and attached
-- whole as the partition of every id below the next UTC midnight, so the migration takes as long as one scan of
-- each table (the check that its rows fit the partition) and writes pause only for that long. Later days get
-- their own partitions, made ahead of time by this migration and by the workers' maintenance pass
-- (partitions.ts), which also drops each partition once it is past the retention.
--
-- No foreign keys between the three tables: a foreign key that references a partitioned table makes dropping
-- one of its partitions check (or block on) every referencing row. The links (delivery → event, attempt →
-- delivery) are kept by the code that writes them; dropping is by age, oldest day first, in all three together.

-- Idempotency keys and event uids (Svix's eventId) move to their own tables: a unique index on a partitioned table
-- must contain its partition key, so (tenant_id, idempotency_key) and (tenant_id, uid) can no longer be unique on
-- events. Both side tables are written in the statement that stores the event.
CREATE TABLE "idempotency_keys" (
	"tenant_id" text NOT NULL,
	"key" text NOT NULL,
	"event_id" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "idempotency_keys_tenant_id_key_pk" PRIMARY KEY("tenant_id","key")
);
--> statement-breakpoint
ALTER TABLE "idempotency_keys" ADD CONSTRAINT "idempotency_keys_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "idempotency_keys_created_idx" ON "idempotency_keys" USING btree ("created_at");--> statement-breakpoint
INSERT INTO "idempotency_keys" ("tenant_id", "key", "event_id", "created_at")
  SELECT "tenant_id", "idempotency_key", "id", "created_at" FROM "events"
  WHERE "idempotency_key" IS NOT NULL AND "created_at" > now() - interval '24 hours';--> statement-breakpoint
CREATE TABLE "event_uids" (
	"tenant_id" text NOT NULL,
	"uid" text NOT NULL,
	"event_id" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "event_uids_pkey" PRIMARY KEY("tenant_id","uid")
);
--> statement-breakpoint
ALTER TABLE "event_uids" ADD CONSTRAINT "event_uids_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "event_uids_created_idx" ON "event_uids" USING btree ("created_at");--> statement-breakpoint
INSERT INTO "event_uids" ("tenant_id", "uid", "event_id", "created_at")
  SELECT "tenant_id", "uid", "id", "created_at" FROM "events" WHERE "uid" IS NOT NULL;--> statement-breakpoint
DROP INDEX "events_tenant_uid_idx";--> statement-breakpoint
ALTER TABLE "attempts" DROP CONSTRAINT "attempts_delivery_id_deliveries_id_fk";--> statement-breakpoint
ALTER TABLE "deliveries" DROP CONSTRAINT "deliveries_event_id_events_id_fk";--> statement-breakpoint
DROP INDEX "events_idempotency_idx";--> statement-breakpoint

-- The smallest id of a kind made at a time, as ids.ts idFloor computes it (Crockford base32 milliseconds).
CREATE FUNCTION pg_temp.herald_id_floor(prefix text, at timestamptz) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  ms bigint := floor(extract(epoch FROM at) * 1000);
  encoded text := '';
BEGIN
  FOR i IN 1..10 LOOP
    encoded := substr('0123456789abcdefghjkmnpqrstvwxyz', (ms % 32)::int + 1, 1) || encoded;
    ms := ms / 32;
  END LOOP;
  RETURN prefix || '_' || encoded || repeat('0', 16);
END $$;--> statement-breakpoint

ALTER TABLE "events" RENAME TO "events_p0";--> statement-breakpoint
ALTER TABLE "events_p0" RENAME CONSTRAINT "events_pkey" TO "events_p0_pkey";--> statement-breakpoint
ALTER INDEX "events_tenant_idx" RENAME TO "events_p0_tenant_idx";--> statement-breakpoint
ALTER INDEX "events_tenant_type_idx" RENAME TO "events_p0_tenant_type_idx";--> statement-breakpoint
CREATE TABLE "events" (
	"id" text NOT NULL,
	"tenant_id" text NOT NULL,
	"event_type" text NOT NULL,
	"payload" text NOT NULL,
	"idempotency_key" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"uid" text,
	CONSTRAINT "events_pkey" PRIMARY KEY ("id")
) PARTITION BY RANGE ("id");--> statement-breakpoint
CREATE INDEX "events_tenant_idx" ON "events" USING btree ("tenant_id","id");--> statement-breakpoint
CREATE INDEX "events_tenant_type_idx" ON "events" USING btree ("tenant_id","event_type","id");--> statement-breakpoint
ALTER TABLE "events" ADD CONSTRAINT "events_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "events" ATTACH PARTITION "events_p0"
  FOR VALUES FROM (MINVALUE) TO (pg_temp.herald_id_floor('evt', date_trunc('day', now(), 'UTC') + interval '1 day'));--> statement-breakpoint

ALTER TABLE "deliveries" RENAME TO "deliveries_p0";--> statement-breakpoint
ALTER TABLE "deliveries_p0" RENAME CONSTRAINT "deliveries_pkey" TO "deliveries_p0_pkey";--> statement-breakpoint
ALTER INDEX "deliveries_tenant_idx" RENAME TO "deliveries_p0_tenant_idx";--> statement-breakpoint
ALTER INDEX "deliveries_tenant_status_idx" RENAME TO "deliveries_p0_tenant_status_idx";--> statement-breakpoint
ALTER INDEX "deliveries_event_idx" RENAME TO "deliveries_p0_event_idx";--> statement-breakpoint
ALTER INDEX "deliveries_endpoint_idx" RENAME TO "deliveries_p0_endpoint_idx";--> statement-breakpoint
ALTER INDEX "deliveries_due_idx" RENAME TO "deliveries_p0_due_idx";--> statement-breakpoint
ALTER INDEX "deliveries_parked_idx" RENAME TO "deliveries_p0_parked_idx";--> statement-breakpoint
CREATE TABLE "deliveries" (
	"id" text NOT NULL,
	"tenant_id" text NOT NULL,
	"event_id" text NOT NULL,
	"endpoint_id" text NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_status_code" integer,
	"last_error" text,
	"next_attempt_at" timestamp with time zone,
	"parked" boolean DEFAULT false NOT NULL,
	"is_test" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"trace_context" text,
	CONSTRAINT "deliveries_pkey" PRIMARY KEY ("id")
) PARTITION BY RANGE ("id");--> statement-breakpoint
CREATE INDEX "deliveries_tenant_idx" ON "deliveries" USING btree ("tenant_id","id");--> statement-breakpoint
CREATE INDEX "deliveries_tenant_status_idx" ON "deliveries" USING btree ("tenant_id","status","id");--> statement-breakpoint
CREATE INDEX "deliveries_event_idx" ON "deliveries" USING btree ("event_id");--> statement-breakpoint
CREATE INDEX "deliveries_endpoint_idx" ON "deliveries" USING btree ("endpoint_id","id");--> statement-breakpoint
CREATE INDEX "deliveries_due_idx" ON "deliveries" USING btree ("next_attempt_at") WHERE status in ('pending', 'failed') and not parked;--> statement-breakpoint
CREATE INDEX "deliveries_parked_idx" ON "deliveries" USING btree ("endpoint_id","id") WHERE parked;--> statement-breakpoint
-- Deliveries held for a disabled endpoint, so the retention pass finds them without a scan of the day; made on the
-- first partition (the old table) too when it is attached, in the one scan of that table the attach makes anyway.
CREATE INDEX "deliveries_held_idx" ON "deliveries" USING btree ("endpoint_id","id") WHERE status = 'held';--> statement-breakpoint
ALTER TABLE "deliveries" ADD CONSTRAINT "deliveries_endpoint_id_endpoints_id_fk" FOREIGN KEY ("endpoint_id") REFERENCES "public"."endpoints"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "deliveries" ATTACH PARTITION "deliveries_p0"
  FOR VALUES FROM (MINVALUE) TO (pg_temp.herald_id_floor('dlv', date_trunc('day', now(), 'UTC') + interval '1 day'));--> statement-breakpoint

ALTER TABLE "attempts" RENAME TO "attempts_p0";--> statement-breakpoint
ALTER TABLE "attempts_p0" RENAME CONSTRAINT "attempts_pkey" TO "attempts_p0_pkey";--> statement-breakpoint
ALTER INDEX "attempts_delivery_idx" RENAME TO "attempts_p0_delivery_idx";--> statement-breakpoint
CREATE TABLE "attempts" (
	"id" text NOT NULL,
	"delivery_id" text NOT NULL,
	"endpoint_id" text NOT NULL,
	"attempt_number" integer NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"duration_ms" integer NOT NULL,
	"status_code" integer,
	"error_kind" text,
	"error_message" text,
	"request_headers" jsonb,
	"response_headers" jsonb,
	"response_body" text,
	CONSTRAINT "attempts_pkey" PRIMARY KEY ("id")
) PARTITION BY RANGE ("id");--> statement-breakpoint
CREATE INDEX "attempts_delivery_idx" ON "attempts" USING btree ("delivery_id","id");--> statement-breakpoint
ALTER TABLE "attempts" ATTACH PARTITION "attempts_p0"
  FOR VALUES FROM (MINVALUE) TO (pg_temp.herald_id_floor('att', date_trunc('day', now(), 'UTC') + interval '1 day'));--> statement-breakpoint

-- The next days' partitions, so publishing never waits for a worker's first maintenance pass.
DO $$
DECLARE
  day timestamptz;
  t record;
BEGIN
  FOR n IN 1..7 LOOP
    day := date_trunc('day', now(), 'UTC') + make_interval(days => n);
    FOR t IN SELECT * FROM (VALUES ('events', 'evt'), ('deliveries', 'dlv'), ('attempts', 'att')) AS v(name, prefix) LOOP
      EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
        t.name || '_p' || to_char(day AT TIME ZONE 'UTC', 'YYYYMMDD'), t.name,
        pg_temp.herald_id_floor(t.prefix, day), pg_temp.herald_id_floor(t.prefix, day + interval '1 day'));
    END LOOP;
  END LOOP;
END $$;
