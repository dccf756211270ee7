ALTER TABLE "endpoints" ADD COLUMN "uid" text;--> statement-breakpoint
ALTER TABLE "events" ADD COLUMN "uid" text;--> statement-breakpoint
CREATE UNIQUE INDEX "endpoints_tenant_uid_idx" ON "endpoints" USING btree ("tenant_id","uid");--> statement-breakpoint
CREATE UNIQUE INDEX "events_tenant_uid_idx" ON "events" USING btree ("tenant_id","uid") WHERE uid is not null;