-- Releasing a parked delivery into the queue writes only released_at, a column no index reads, so the row is
-- rewritten in place (HOT) rather than added to every index of deliveries again; the delivery stays parked until
-- its attempt is recorded. A nullable column without a default: no table rewrite.
ALTER TABLE "deliveries" ADD COLUMN "released_at" timestamp with time zone;--> statement-breakpoint
-- Room on each page of deliveries for that in-place rewrite (partitions.ts, DELIVERIES_FILLFACTOR). It applies to
-- pages filled from now on; the partitions made ahead of today are still empty.
DO $$
DECLARE part regclass;
BEGIN
  FOR part IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'deliveries'::regclass LOOP
    EXECUTE format('ALTER TABLE %s SET (fillfactor = 90)', part);
  END LOOP;
END $$;
