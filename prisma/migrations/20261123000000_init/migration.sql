-- Spool's first schema: organizations, API keys, jobs and their event history.
-- Written in the shape `prisma migrate diff` produces for prisma/schema.prisma, plus what
-- Prisma cannot express (partial indexes, NOTIFY triggers), marked "engine:" below.

-- CreateEnum
CREATE TYPE "job_status" AS ENUM ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED');

-- CreateEnum
CREATE TYPE "job_priority" AS ENUM ('LOW', 'NORMAL', 'HIGH', 'URGENT');

-- CreateEnum
CREATE TYPE "job_event_kind" AS ENUM ('STATUS', 'STAGE', 'PROGRESS', 'LOG');

-- CreateTable
CREATE TABLE "organizations" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "name" TEXT NOT NULL,
    "slug" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "organizations_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "api_keys" (
    "id" VARCHAR(32) NOT NULL,
    "organization_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "secret_hash" TEXT NOT NULL,
    "scopes" TEXT[],
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_used_at" TIMESTAMPTZ(3),
    "revoked_at" TIMESTAMPTZ(3),

    CONSTRAINT "api_keys_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "jobs" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "organization_id" UUID NOT NULL,
    "type" TEXT NOT NULL,
    "status" "job_status" NOT NULL DEFAULT 'QUEUED',
    "priority" "job_priority" NOT NULL DEFAULT 'NORMAL',
    "input" JSONB NOT NULL DEFAULT '{}',
    "result" JSONB,
    "error" JSONB,
    "metadata" JSONB NOT NULL DEFAULT '{}',
    "progress" DOUBLE PRECISION NOT NULL DEFAULT 0,
    "stage" TEXT,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "max_attempts" INTEGER NOT NULL DEFAULT 3,
    "run_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lease_expires_at" TIMESTAMPTZ(3),
    "locked_by" TEXT,
    "parent_id" UUID,
    "idempotency_key" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "started_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "jobs_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "job_events" (
    "id" BIGSERIAL NOT NULL,
    "organization_id" UUID NOT NULL,
    "job_id" UUID NOT NULL,
    "kind" "job_event_kind" NOT NULL,
    "data" JSONB NOT NULL DEFAULT '{}',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "job_events_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "organizations_slug_key" ON "organizations"("slug");

-- CreateIndex
CREATE INDEX "api_keys_organization_id_idx" ON "api_keys"("organization_id");

-- CreateIndex
CREATE INDEX "jobs_organization_id_created_at_idx" ON "jobs"("organization_id", "created_at" DESC);

-- CreateIndex
CREATE INDEX "job_events_job_id_id_idx" ON "job_events"("job_id", "id");

-- CreateIndex
CREATE INDEX "job_events_organization_id_id_idx" ON "job_events"("organization_id", "id");

-- AddForeignKey
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_parent_id_fkey" FOREIGN KEY ("parent_id") REFERENCES "jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "job_events" ADD CONSTRAINT "job_events_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- engine: the claim scans only QUEUED rows, in claim order.
CREATE INDEX "jobs_claim_idx" ON "jobs"("priority" DESC, "run_at", "id") WHERE "status" = 'QUEUED';

-- engine: batch children by parent. Partial, because almost every job has no parent and
-- each status change of a job writes an entry into every index whose predicate it meets.
CREATE INDEX "jobs_parent_id_idx" ON "jobs"("parent_id") WHERE "parent_id" IS NOT NULL;

-- engine: job_events.organization_id is a copy of its job's organization, with no foreign
-- key of its own: that key would take a KEY SHARE lock on the organization's row for every
-- event, and every job of an organization would contend for it (measured in bench:engine).
-- The job_id key (cascade) already ties each event to a job of that organization.

-- engine: the reclaimer scans only RUNNING rows by lease expiry.
CREATE INDEX "jobs_lease_idx" ON "jobs"("lease_expires_at") WHERE "status" = 'RUNNING';

-- engine: an idempotency key is unique within an organization.
CREATE UNIQUE INDEX "jobs_organization_id_idempotency_key_key" ON "jobs"("organization_id", "idempotency_key") WHERE "idempotency_key" IS NOT NULL;

-- engine: cleanup finds finished jobs by age.
CREATE INDEX "jobs_finished_at_idx" ON "jobs"("organization_id", "finished_at") WHERE "finished_at" IS NOT NULL;

-- engine: wake idle workers when jobs are queued. Statement-level, so a batch insert
-- sends one notification; NOTIFY is delivered at commit, so a rolled-back enqueue wakes
-- nobody.
CREATE FUNCTION "spool_notify_queued"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('spool_queue', '');
  RETURN NULL;
END $$;

CREATE TRIGGER "jobs_notify_insert" AFTER INSERT ON "jobs"
  FOR EACH STATEMENT EXECUTE FUNCTION "spool_notify_queued"();

-- engine: every event is announced with a small payload (ids and numbers only, far under
-- NOTIFY's 8000-byte limit); subscribers read the row for anything larger.
CREATE FUNCTION "spool_notify_event"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('spool_events', json_build_object(
    'id', NEW."id", 'org', NEW."organization_id", 'job', NEW."job_id", 'kind', NEW."kind",
    'status', NEW."data"->'status', 'progress', NEW."data"->'progress')::text);
  RETURN NULL;
END $$;

CREATE TRIGGER "job_events_notify_insert" AFTER INSERT ON "job_events"
  FOR EACH ROW EXECUTE FUNCTION "spool_notify_event"();
