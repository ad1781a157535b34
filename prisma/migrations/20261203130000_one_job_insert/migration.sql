-- engine: the one place a job row is born. The engine's enqueue (engine/sql.ts insertJob)
-- and the webhook outbox (spool_webhook_publish, below) both call it, so a job and its
-- QUEUED event are written together by one piece of SQL, not by two copies that can drift.
-- Returns the new row, or no row when the idempotency key is taken.
CREATE FUNCTION "spool_insert_job"(
  org UUID, job_type TEXT, input JSONB, priority job_priority, max_attempts INTEGER,
  run_at TIMESTAMPTZ, idempotency_key TEXT, metadata JSONB, parent_id UUID
) RETURNS SETOF jobs LANGUAGE sql AS $$
  WITH j AS (
    INSERT INTO jobs (organization_id, type, input, priority, max_attempts, run_at, idempotency_key, metadata, parent_id)
    VALUES ($1, $2, $3, $4, $5, coalesce($6, now()), $7, $8, $9)
    ON CONFLICT (organization_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING *
  ), e AS (
    INSERT INTO job_events (organization_id, job_id, kind, data)
    SELECT organization_id, id, 'STATUS', jsonb_build_object('status', status, 'attempt', 0) FROM j
  )
  SELECT * FROM j
$$;

-- webhooks: the outbox as before, its webhook.deliver jobs now born through spool_insert_job
-- (it wrote the job and its QUEUED event itself).
CREATE OR REPLACE FUNCTION "spool_webhook_publish"(org UUID, event_type TEXT, data JSONB, only_endpoint UUID DEFAULT NULL) RETURNS UUID LANGUAGE plpgsql AS $$
DECLARE
  msg UUID;
  delivery RECORD;
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
  FOR delivery IN
    INSERT INTO webhook_deliveries (organization_id, message_id, endpoint_id, next_attempt_at)
    SELECT org, msg, e.id, now() FROM webhook_endpoints e
    WHERE e.organization_id = org AND e.active
      AND (CASE WHEN only_endpoint IS NULL THEN e.kind = 'ENDPOINT' AND (cardinality(e.event_types) = 0 OR event_type = ANY (e.event_types)) ELSE e.id = only_endpoint END)
    RETURNING id
  LOOP
    -- 3 attempts: webhook.deliver's maxAttempts (engine retries cover a crash only).
    PERFORM spool_insert_job(org, 'webhook.deliver', jsonb_build_object('deliveryId', delivery.id), 'NORMAL', 3, NULL, NULL, '{}'::jsonb, NULL);
  END LOOP;
  RETURN msg;
END $$;
