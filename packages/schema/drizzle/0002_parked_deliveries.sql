DROP INDEX "deliveries_due_idx";--> statement-breakpoint
ALTER TABLE "deliveries" ADD COLUMN "parked" boolean DEFAULT false NOT NULL;--> statement-breakpoint
CREATE INDEX "deliveries_parked_idx" ON "deliveries" USING btree ("endpoint_id","id") WHERE parked;--> statement-breakpoint
CREATE INDEX "deliveries_due_idx" ON "deliveries" USING btree ("next_attempt_at") WHERE status in ('pending', 'failed') and not parked;