-- Webhooks: endpoints per organization, and an outbox. An event (a job's status change, a
-- Video or Document becoming READY) writes its message and one delivery per subscribed
-- endpoint, plus the webhook.deliver job that sends it, in the SAME transaction as the
-- event itself (triggers below), so a crash can never lose one. Every attempt is a row;
-- a failed attempt enqueues the next one (webhook.deliver) at its scheduled time.

-- CreateTable
CREATE TABLE "webhook_endpoints" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "organization_id" UUID NOT NULL,
    "url" TEXT NOT NULL,
    "description" TEXT,
    -- Empty: every event type.
    "event_types" TEXT[] NOT NULL DEFAULT ARRAY[]::TEXT[],
    "active" BOOLEAN NOT NULL DEFAULT true,
    -- ENDPOINT: registered with createWebhook. JOB: made for the webhookUrl jobs carry; it only
    -- receives the events of those jobs and signs with the organization's job webhook secret.
    "kind" TEXT NOT NULL DEFAULT 'ENDPOINT',
    -- AES-256-GCM of the whsec_ secret (services/webhook-secrets.ts); never stored in clear.
    "secret" TEXT NOT NULL,
    -- After a rotation the previous secret also signs until previous_secret_expires_at.
    "previous_secret" TEXT,
    "previous_secret_expires_at" TIMESTAMPTZ(3),
    "disabled_reason" TEXT,
    "disabled_at" TIMESTAMPTZ(3),
    -- Start of the current run of failed attempts; null after a success.
    "failing_since" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "webhook_endpoints_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "webhook_endpoints_kind_check" CHECK ("kind" IN ('ENDPOINT', 'JOB'))
);

-- A job's own webhookUrl (submitJob … webhookUrl): its events go to that JOB endpoint too.
ALTER TABLE "jobs" ADD COLUMN "webhook_endpoint_id" UUID;
-- The secret (encrypted) that JOB endpoints sign with: rotateJobWebhookSecret, shown once.
ALTER TABLE "organizations" ADD COLUMN "job_webhook_secret" TEXT;

-- CreateTable
CREATE TABLE "webhook_messages" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "organization_id" UUID NOT NULL,
    "event_type" TEXT NOT NULL,
    -- The exact JSON body sent, built once: retries and redeliveries send the same bytes.
    "body" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "webhook_messages_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "webhook_deliveries" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "organization_id" UUID NOT NULL,
    "message_id" UUID NOT NULL,
    "endpoint_id" UUID NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'PENDING',
    "attempt_count" INTEGER NOT NULL DEFAULT 0,
    "next_attempt_at" TIMESTAMPTZ(3),
    "last_status_code" INTEGER,
    "last_error" TEXT,
    -- The delivery redeliverWebhook copied (same message, so the same webhook-id).
    "redelivery_of_id" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "webhook_deliveries_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "webhook_deliveries_status_check" CHECK ("status" IN ('PENDING', 'SUCCEEDED', 'FAILED'))
);

-- CreateTable
CREATE TABLE "webhook_attempts" (
    "id" BIGSERIAL NOT NULL,
    "organization_id" UUID NOT NULL,
    "delivery_id" UUID NOT NULL,
    "job_id" UUID,
    "attempt" INTEGER NOT NULL,
    "url" TEXT NOT NULL,
    "status_code" INTEGER,
    "succeeded" BOOLEAN NOT NULL,
    "latency_ms" INTEGER NOT NULL,
    "error" TEXT,
    "response_excerpt" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "webhook_attempts_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "webhook_endpoints_organization_id_idx" ON "webhook_endpoints"("organization_id");
CREATE UNIQUE INDEX "webhook_endpoints_id_organization_id_key" ON "webhook_endpoints"("id", "organization_id");
-- One JOB endpoint per URL and organization, reused by every job that names the URL.
CREATE UNIQUE INDEX "webhook_endpoints_job_url_key" ON "webhook_endpoints"("organization_id", "url") WHERE "kind" = 'JOB';
CREATE UNIQUE INDEX "webhook_messages_id_organization_id_key" ON "webhook_messages"("id", "organization_id");
CREATE INDEX "webhook_messages_organization_id_created_at_idx" ON "webhook_messages"("organization_id", "created_at" DESC);
CREATE INDEX "webhook_deliveries_endpoint_id_created_at_idx" ON "webhook_deliveries"("endpoint_id", "created_at" DESC);
CREATE INDEX "webhook_deliveries_message_id_idx" ON "webhook_deliveries"("message_id");
CREATE UNIQUE INDEX "webhook_deliveries_id_organization_id_key" ON "webhook_deliveries"("id", "organization_id");
CREATE INDEX "webhook_attempts_delivery_id_attempt_idx" ON "webhook_attempts"("delivery_id", "attempt");

-- AddForeignKey: everything in one organization (composite keys, as for assets).
ALTER TABLE "webhook_endpoints" ADD CONSTRAINT "webhook_endpoints_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "webhook_messages" ADD CONSTRAINT "webhook_messages_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_message_same_organization_fkey" FOREIGN KEY ("message_id", "organization_id") REFERENCES "webhook_messages"("id", "organization_id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_endpoint_same_organization_fkey" FOREIGN KEY ("endpoint_id", "organization_id") REFERENCES "webhook_endpoints"("id", "organization_id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_redelivery_of_id_fkey" FOREIGN KEY ("redelivery_of_id") REFERENCES "webhook_deliveries"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "webhook_attempts" ADD CONSTRAINT "webhook_attempts_delivery_same_organization_fkey" FOREIGN KEY ("delivery_id", "organization_id") REFERENCES "webhook_deliveries"("id", "organization_id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_webhook_endpoint_same_organization_fkey" FOREIGN KEY ("webhook_endpoint_id", "organization_id") REFERENCES "webhook_endpoints"("id", "organization_id") ON DELETE SET NULL ("webhook_endpoint_id") ON UPDATE CASCADE;
ALTER TABLE "webhook_attempts" ADD CONSTRAINT "webhook_attempts_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- webhooks: a Relay global id as the API shows it (base64 of "Type:uuid").
CREATE FUNCTION "spool_global_id"(typename TEXT, id UUID) RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
  SELECT replace(encode(convert_to(typename || ':' || id::text, 'UTF8'), 'base64'), E'\n', '')
$$;

-- webhooks: the outbox. Writes the message and a delivery (with its webhook.deliver job) for
-- each active ENDPOINT of the organization subscribed to the event type; `only_endpoint`
-- sends to that one endpoint instead (testWebhook, a job's own webhookUrl), whatever its types. Returns the
-- message id, or null when no endpoint wants the event (nothing is written).
CREATE FUNCTION "spool_webhook_publish"(org UUID, event_type TEXT, data JSONB, only_endpoint UUID DEFAULT NULL) RETURNS UUID LANGUAGE plpgsql AS $$
DECLARE
  msg UUID;
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM webhook_endpoints e
    WHERE e.organization_id = org AND e.active
      AND (CASE WHEN only_endpoint IS NULL THEN e.kind = 'ENDPOINT' AND (cardinality(e.event_types) = 0 OR event_type = ANY (e.event_types)) ELSE e.id = only_endpoint END)
  ) THEN
    RETURN NULL;
  END IF;
  msg := gen_random_uuid();
  INSERT INTO webhook_messages (id, organization_id, event_type, body)
  VALUES (msg, org, event_type, jsonb_build_object(
    'type', event_type,
    'timestamp', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'data', data)::text);
  WITH d AS (
    INSERT INTO webhook_deliveries (organization_id, message_id, endpoint_id, next_attempt_at)
    SELECT org, msg, e.id, now() FROM webhook_endpoints e
    WHERE e.organization_id = org AND e.active
      AND (CASE WHEN only_endpoint IS NULL THEN e.kind = 'ENDPOINT' AND (cardinality(e.event_types) = 0 OR event_type = ANY (e.event_types)) ELSE e.id = only_endpoint END)
    RETURNING id
  ), j AS (
    INSERT INTO jobs (organization_id, type, input, max_attempts)
    SELECT org, 'webhook.deliver', jsonb_build_object('deliveryId', d.id), 3 FROM d
    RETURNING id, organization_id, status
  )
  INSERT INTO job_events (organization_id, job_id, kind, data)
  SELECT organization_id, id, 'STATUS', jsonb_build_object('status', status, 'attempt', 0) FROM j;
  RETURN msg;
END $$;

-- webhooks: job.created / job.started / job.succeeded / job.failed / job.cancelled from the
-- STATUS events every engine statement writes. Webhook jobs themselves never publish (no
-- loops); a retry or a release at shutdown (QUEUED again) is not news.
CREATE FUNCTION "spool_webhook_job_event"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  j RECORD;
  st TEXT := NEW.data->>'status';
  event_type TEXT;
  data JSONB;
BEGIN
  event_type := CASE st
    WHEN 'QUEUED' THEN CASE WHEN coalesce((NEW.data->>'attempt')::int, 0) = 0 AND NOT NEW.data ? 'reason' THEN 'job.created' END
    WHEN 'RUNNING' THEN 'job.started'
    WHEN 'SUCCEEDED' THEN 'job.succeeded'
    WHEN 'FAILED' THEN 'job.failed'
    WHEN 'CANCELLED' THEN 'job.cancelled'
  END;
  IF event_type IS NULL THEN RETURN NULL; END IF;
  -- Cheap exit for the common case: an organization without endpoints.
  IF NOT EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.organization_id = NEW.organization_id AND e.active) THEN RETURN NULL; END IF;
  SELECT id, type, status, attempts, error, metadata, webhook_endpoint_id INTO j FROM jobs WHERE id = NEW.job_id;
  IF NOT FOUND OR j.type LIKE 'webhook.%' THEN RETURN NULL; END IF;
  data := jsonb_build_object(
    'jobId', spool_global_id('Job', j.id),
    'jobType', j.type,
    'status', st,
    'attempt', coalesce((NEW.data->>'attempt')::int, j.attempts),
    'metadata', j.metadata);
  IF st = 'FAILED' THEN
    data := data || jsonb_build_object('error', jsonb_build_object('code', NEW.data->'error'->>'code', 'message', NEW.data->'error'->>'message'));
  ELSIF st = 'SUCCEEDED' THEN
    data := data || jsonb_build_object(
      'outputAssetIds', coalesce((SELECT jsonb_agg(spool_global_id('Asset', a.id) ORDER BY a.created_at, a.id) FROM assets a WHERE a.job_id = j.id AND a.origin = 'JOB_OUTPUT'), '[]'::jsonb),
      'outputDocumentIds', coalesce((SELECT jsonb_agg(spool_global_id('Document', d.id) ORDER BY d.created_at, d.id) FROM documents d WHERE d.created_by_job_id = j.id), '[]'::jsonb));
  END IF;
  PERFORM spool_webhook_publish(NEW.organization_id, event_type, data);
  IF j.webhook_endpoint_id IS NOT NULL THEN
    PERFORM spool_webhook_publish(NEW.organization_id, event_type, data, j.webhook_endpoint_id);
  END IF;
  RETURN NULL;
END $$;

-- Deferred to the commit: the trigger then sees the job as the transaction leaves it (a
-- submit sets webhook_endpoint_id after the insert; outputs are stored before SUCCEEDED).
CREATE CONSTRAINT TRIGGER "job_events_webhooks" AFTER INSERT ON "job_events"
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW WHEN (NEW.kind = 'STATUS') EXECUTE FUNCTION "spool_webhook_job_event"();

-- webhooks: video.ready / document.ready when a Video or Document gets its SOURCE (upload,
-- finished download, an attached asset, a document.transform output).
CREATE FUNCTION "spool_webhook_item_ready"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.role IS DISTINCT FROM 'SOURCE' THEN RETURN NULL; END IF;
  IF TG_OP = 'UPDATE' AND OLD.role IS NOT DISTINCT FROM 'SOURCE'
     AND OLD.video_id IS NOT DISTINCT FROM NEW.video_id AND OLD.document_id IS NOT DISTINCT FROM NEW.document_id THEN
    RETURN NULL;
  END IF;
  IF NEW.video_id IS NOT NULL THEN
    PERFORM spool_webhook_publish(NEW.organization_id, 'video.ready', jsonb_build_object(
      'videoId', spool_global_id('Video', NEW.video_id), 'status', 'READY', 'sourceAssetId', spool_global_id('Asset', NEW.id)));
  ELSIF NEW.document_id IS NOT NULL THEN
    PERFORM spool_webhook_publish(NEW.organization_id, 'document.ready', jsonb_build_object(
      'documentId', spool_global_id('Document', NEW.document_id), 'status', 'READY', 'sourceAssetId', spool_global_id('Asset', NEW.id)));
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER "assets_webhooks" AFTER INSERT OR UPDATE OF "role", "video_id", "document_id" ON "assets"
  FOR EACH ROW EXECUTE FUNCTION "spool_webhook_item_ready"();
