// webhook.deliver: one attempt of one delivery. The message's stored body is POSTed with the
// Standard Webhooks headers (webhook-id = the message id, stable across retries and
// redeliveries; webhook-timestamp; webhook-signature `v1,<base64 HMAC-SHA256>`, two of them
// while a rotated secret overlaps) through the SSRF-safe client, which checks the address
// again at this send. 2xx is success; anything else — 3xx included, never followed — fails.
//
// The attempt, the delivery's new state, the endpoint's failure run and the next attempt's
// job are written in one transaction fenced by this job's attempt, so a crash between the
// send and the commit re-sends (at-least-once; receivers deduplicate on webhook-id) and never
// loses the schedule.
import type pg from "pg";
import { Webhook } from "standardwebhooks";
import { z } from "zod";
import { SpoolError } from "../errors.ts";
import { enqueueInternal } from "../engine/enqueue.ts";
import { inTransaction } from "../engine/queryable.ts";
import { defineJobType, type Job, type JobContext } from "../engine/types.ts";
import { decryptSecret } from "../services/webhook-secrets.ts";
import type { EndpointRow } from "../services/webhooks.ts";
import { request, type OutboundPolicy } from "../tools/http.ts";
import { fenceAttempt } from "./media/outputs.ts";

/** Delay before attempt n+1 after attempt n failed: about three days in all, ten attempts. */
export const RETRY_SCHEDULE_MS = [5_000, 5 * 60_000, 30 * 60_000, 2 * 3_600_000, 5 * 3_600_000, 10 * 3_600_000, 14 * 3_600_000, 20 * 3_600_000, 24 * 3_600_000];
/** An endpoint whose attempts have all failed for this long is disabled. */
export const DISABLE_AFTER_MS = 5 * 24 * 3_600_000;
export const SEND_TIMEOUT_MS = 15_000;
const EXCERPT_BYTES = 1024;
const MAX_RETRY_AFTER_MS = 24 * 3_600_000;

export type WebhookDeliverDeps = {
  pool: pg.Pool;
  secretsKey: Buffer;
  outbound: OutboundPolicy;
  /** The clock for schedules and the five-day rule (tests move it). */
  now?: () => Date;
  random?: () => number;
};
const input = z.strictObject({ deliveryId: z.uuid() });
type Input = z.infer<typeof input>;
export type DeliverResult = { deliveryId: string; attempt: number; statusCode: number | null; succeeded: boolean; nextAttemptAt: string | null; endpointDisabled: boolean } | { deliveryId: string; skipped: string };

type Row = EndpointRow & { delivery_status: string; attempt_count: number; message_id: string; body: string; endpoint_id: string };

/** Retry-After as seconds or an HTTP date, in ms from now; null when absent or unreadable. */
export function retryAfterMs(value: string | string[] | undefined, now: Date): number | null {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return null;
  const ms = /^\d+$/.test(v.trim()) ? Number(v.trim()) * 1000 : Date.parse(v) - now.getTime();
  return Number.isFinite(ms) ? Math.min(MAX_RETRY_AFTER_MS, Math.max(1000, ms)) : null;
}

/** webhook-id of a message: "msg_" + the uuid without dashes. */
export function webhookId(messageId: string): string {
  return `msg_${messageId.replace(/-/g, "")}`;
}

export const webhookDeliver = defineJobType<WebhookDeliverDeps, Input, DeliverResult>({
  type: "webhook.deliver",
  description: "One attempt to deliver a webhook message to an endpoint (Standard Webhooks); failures schedule the next attempt.",
  input,
  // Engine retries cover a crash or lost lease only; HTTP failures follow RETRY_SCHEDULE_MS.
  maxAttempts: 3,
  // Enqueued by the outbox triggers and by the previous attempt only: a client submitting one
  // would send outside the schedule and fork the retry chain.
  internal: true,
  timeoutMs: 60_000,
  async run(job: Job<Input>, ctx: JobContext, deps): Promise<DeliverResult> {
    const now = deps.now ?? (() => new Date());
    const random = deps.random ?? Math.random;
    const { deliveryId } = job.input;
    const { rows } = await deps.pool.query<Row>(
      `select e.*, d.status as delivery_status, d.attempt_count, d.message_id, d.endpoint_id, m.body
       from webhook_deliveries d join webhook_endpoints e on e.id = d.endpoint_id join webhook_messages m on m.id = d.message_id
       where d.id = $1 and d.organization_id = $2`, [deliveryId, job.organizationId]);
    const row = rows[0];
    // Deleted with its endpoint meanwhile: nothing to send.
    if (!row) return { deliveryId, skipped: "the delivery or its endpoint was deleted" };
    if (row.delivery_status !== "PENDING") return { deliveryId, skipped: `already ${row.delivery_status}` };
    if (!row.active) {
      await deps.pool.query(`update webhook_deliveries set status = 'FAILED', next_attempt_at = null, last_error = 'endpoint disabled', updated_at = now() where id = $1`, [deliveryId]);
      return { deliveryId, skipped: "the endpoint is disabled" };
    }

    const at = now();
    const id = webhookId(row.message_id);
    const secrets = [row.secret, ...(row.previous_secret && row.previous_secret_expires_at && row.previous_secret_expires_at > at ? [row.previous_secret] : [])];
    const signature = secrets.map((s) => new Webhook(decryptSecret(deps.secretsKey, s)).sign(id, at, row.body)).join(" ");
    const attempt = row.attempt_count + 1;
    const started = performance.now();
    let statusCode: number | null = null;
    let excerpt: string | null = null;
    let error: string | null = null;
    let retryAfter: number | null = null;
    try {
      const res = await request(row.url, {
        // No body limit: only the status counts and readExcerpt stops after EXCERPT_BYTES. A
        // limit here would turn a 2xx with a large Content-Length into a failure (URL_TOO_LARGE).
        policy: { ...deps.outbound, timeoutMs: SEND_TIMEOUT_MS, maxBytes: Number.MAX_SAFE_INTEGER, maxRedirects: 0 },
        method: "POST",
        redirect: "manual",
        headers: {
          "Content-Type": "application/json",
          "User-Agent": "Spool-Webhooks/1.0",
          "webhook-id": id,
          "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
          "webhook-signature": signature,
        },
        body: row.body,
        signal: ctx.signal,
      });
      statusCode = res.status;
      retryAfter = retryAfterMs(res.headers["retry-after"], at);
      excerpt = await readExcerpt(res.body);
    } catch (err) {
      if (err instanceof SpoolError && err.code === "ABORTED") throw err;
      error = err instanceof Error ? `${(err as SpoolError).code ?? "ERROR"}: ${err.message}` : String(err);
    }
    const latencyMs = Math.round(performance.now() - started);
    const succeeded = statusCode !== null && statusCode >= 200 && statusCode < 300;
    // The retry that applies unless the endpoint ends up disabled (decided under its row lock).
    let next: Date | null = null;
    if (!succeeded && attempt <= RETRY_SCHEDULE_MS.length) {
      const nominal = RETRY_SCHEDULE_MS[attempt - 1]!;
      // ±10% jitter, so endpoints that failed together are not retried together.
      next = new Date(at.getTime() + (retryAfter ?? Math.round(nominal * (0.9 + 0.2 * random()))));
    }

    const disable = await inTransaction(deps.pool, async (tx) => {
      await fenceAttempt(tx, job, ctx.attempt);
      // The endpoint's failure run is read and written under its row lock: a delivery that
      // succeeds meanwhile clears it, and a stale value never disables a recovered endpoint.
      const { rows: [endpoint] } = await tx.query<{ failing_since: Date | null; active: boolean }>(
        `select failing_since, active from webhook_endpoints where id = $1 for update`, [row.endpoint_id]);
      const failingSince = succeeded ? null : (endpoint?.failing_since ?? at);
      const disable = !endpoint?.active || succeeded ? null
        : statusCode === 410 ? "the endpoint answered 410 Gone"
        : at.getTime() - failingSince!.getTime() >= DISABLE_AFTER_MS ? "every attempt failed for five days"
        : null;
      if (disable) next = null;
      const status = succeeded ? "SUCCEEDED" : next ? "PENDING" : "FAILED";
      await tx.query(
        `insert into webhook_attempts (organization_id, delivery_id, job_id, attempt, url, status_code, succeeded, latency_ms, error, response_excerpt)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
        [job.organizationId, deliveryId, job.id, attempt, row.url, statusCode, succeeded, latencyMs, error?.slice(0, 1000) ?? null, excerpt]);
      await tx.query(
        `update webhook_deliveries set status = $2, attempt_count = $3, next_attempt_at = $4, last_status_code = $5, last_error = $6, updated_at = now() where id = $1`,
        [deliveryId, status, attempt, next, statusCode, error?.slice(0, 1000) ?? null]);
      await tx.query(`update webhook_endpoints set failing_since = $2 where id = $1`, [row.endpoint_id, failingSince]);
      if (next) await enqueueInternal(tx, { organizationId: job.organizationId, type: "webhook.deliver", input: { deliveryId }, runAt: next });
      if (disable) {
        await tx.query(`update webhook_endpoints set active = false, disabled_reason = $2, disabled_at = now(), updated_at = now() where id = $1`, [row.endpoint_id, disable]);
        // Other pending deliveries to it stop at their next attempt (the endpoint is inactive).
        await tx.query(
          `select spool_webhook_publish($1, 'webhook.disabled', jsonb_build_object('endpointId', spool_global_id('WebhookEndpoint', $2::uuid), 'url', $3::text, 'reason', $4::text))`,
          [job.organizationId, row.endpoint_id, row.url, disable]);
      }
      return disable;
    });
    ctx.logLine(`attempt ${attempt}: ${statusCode ?? error} in ${latencyMs} ms${next ? `, next at ${next.toISOString()}` : ""}`, succeeded ? "info" : "warn");
    if (disable) ctx.logLine(`endpoint disabled: ${disable}`, "warn");
    return { deliveryId, attempt, statusCode, succeeded, nextAttemptAt: next?.toISOString() ?? null, endpointDisabled: disable !== null };
  },
});

/** The first bytes of the response body as text (for the delivery log); the rest is discarded. */
async function readExcerpt(body: NodeJS.ReadableStream & { destroy(): void }): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      chunks.push(chunk as Buffer);
      size += (chunk as Buffer).length;
      if (size >= EXCERPT_BYTES) break;
    }
  } catch {
    // A body cut short still leaves what arrived.
  } finally {
    body.destroy();
  }
  const text = Buffer.concat(chunks).subarray(0, EXCERPT_BYTES).toString("utf8");
  return text.length ? text : null;
}

