-- Payloads are kept as the JSON text the publisher sent. Rows stored before keep jsonb's normal form (that is all
-- that is left of them); the conversion rewrites the table once, under a lock that pauses writes to events.
ALTER TABLE "events" ALTER COLUMN "payload" SET DATA TYPE text USING "payload"::text;
