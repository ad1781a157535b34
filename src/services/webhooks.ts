// Webhook endpoints of an organization: create, update, delete, rotate the secret, ping,
// redeliver. Every query is scoped by organization. The URL is checked by the SSRF rules
// when it is saved (a literal private address is refused at once) and again at every send
// (a name may resolve elsewhere later) by webhook.deliver.
import type pg from "pg";
import { SpoolError } from "../errors.ts";
import { inTransaction } from "../engine/queryable.ts";
import { enqueueInternal } from "../engine/enqueue.ts";
import { checkUrl, type OutboundPolicy } from "../tools/http.ts";
import { WEBHOOK_EVENT_TYPES } from "./webhook-events.ts";
import { encryptSecret, newWebhookSecret } from "./webhook-secrets.ts";

export type WebhookDeps = { pool: pg.Pool; secretsKey: Buffer; outbound: OutboundPolicy };
export type EndpointRow = {
  id: string; organization_id: string; url: string; description: string | null; event_types: string[]; active: boolean;
  secret: string; previous_secret: string | null; previous_secret_expires_at: Date | null;
  disabled_reason: string | null; disabled_at: Date | null; failing_since: Date | null; created_at: Date; updated_at: Date;
};
export type EndpointInput = { url?: string; description?: string | null; eventTypes?: readonly string[] | null; active?: boolean };

/** Endpoints per organization. */
export const MAX_ENDPOINTS = 50;
const MAX_URL_LENGTH = 2048;
const MAX_DESCRIPTION = 500;
/** How long the previous secret keeps signing after a rotation, by default and at most. */
export const DEFAULT_ROTATION_OVERLAP_HOURS = 24;
const MAX_ROTATION_OVERLAP_HOURS = 7 * 24;

function checkEndpointUrl(url: string, outbound: OutboundPolicy): string {
  if (url.length > MAX_URL_LENGTH) throw new SpoolError("INVALID_INPUT", `url is longer than ${MAX_URL_LENGTH} characters.`);
  return checkUrl(url, outbound).toString();
}

function checkEventTypes(types: readonly string[]): string[] {
  const unique = [...new Set(types)];
  const unknown = unique.filter((t) => !(WEBHOOK_EVENT_TYPES as readonly string[]).includes(t));
  if (unknown.length) throw new SpoolError("INVALID_INPUT", `Unknown event type ${unknown.join(", ")}; see the webhookEventTypes query.`);
  return unique;
}

function checkOverlap(hours: number): void {
  if (!(hours >= 0 && hours <= MAX_ROTATION_OVERLAP_HOURS)) throw new SpoolError("INVALID_INPUT", `overlapHours is 0..${MAX_ROTATION_OVERLAP_HOURS}.`);
}

function checkDescription(d: string | null | undefined): string | null {
  if (d != null && d.length > MAX_DESCRIPTION) throw new SpoolError("INVALID_INPUT", `description is longer than ${MAX_DESCRIPTION} characters.`);
  return d ?? null;
}

/** Creates an endpoint; the secret is returned here only. */
export async function createEndpoint(deps: WebhookDeps, organizationId: string, input: EndpointInput & { url: string }): Promise<{ endpoint: EndpointRow; secret: string }> {
  const url = checkEndpointUrl(input.url, deps.outbound);
  const eventTypes = checkEventTypes(input.eventTypes ?? []);
  const description = checkDescription(input.description);
  const secret = newWebhookSecret();
  return inTransaction(deps.pool, async (tx) => {
    // Serialises concurrent creates of one organization, so the count below holds.
    await tx.query(`select 1 from organizations where id = $1 for update`, [organizationId]);
    const { rows: [count] } = await tx.query<{ n: number }>(`select count(*)::int as n from webhook_endpoints where organization_id = $1`, [organizationId]);
    if (count!.n >= MAX_ENDPOINTS) throw new SpoolError("INVALID_INPUT", `An organization has at most ${MAX_ENDPOINTS} webhook endpoints.`);
    const { rows } = await tx.query<EndpointRow>(
      `insert into webhook_endpoints (organization_id, url, description, event_types, active, secret) values ($1, $2, $3, $4, $5, $6) returning *`,
      [organizationId, url, description, eventTypes, input.active ?? true, encryptSecret(deps.secretsKey, secret)],
    );
    return { endpoint: rows[0]!, secret };
  });
}

export async function getEndpoint(q: pg.Pool | pg.PoolClient, organizationId: string, id: string): Promise<EndpointRow> {
  const { rows } = await q.query<EndpointRow>(`select * from webhook_endpoints where id = $1 and organization_id = $2`, [id, organizationId]);
  if (!rows[0]) throw new SpoolError("NOT_FOUND", `No webhook endpoint ${id} in your organization.`);
  return rows[0];
}

/** Changes the given fields. Re-activating clears the reason it was disabled and its failure run. */
export async function updateEndpoint(deps: WebhookDeps, organizationId: string, id: string, input: EndpointInput): Promise<EndpointRow> {
  const sets: string[] = [];
  const values: unknown[] = [id, organizationId];
  const set = (column: string, value: unknown) => {
    values.push(value);
    sets.push(`${column} = $${values.length}`);
  };
  if (input.url != null) set("url", checkEndpointUrl(input.url, deps.outbound));
  if (input.description !== undefined) set("description", checkDescription(input.description));
  if (input.eventTypes != null) set("event_types", checkEventTypes(input.eventTypes));
  if (input.active != null) {
    set("active", input.active);
    if (input.active) sets.push("disabled_reason = null", "disabled_at = null", "failing_since = null");
  }
  if (sets.length === 0) return getEndpoint(deps.pool, organizationId, id);
  const { rows } = await deps.pool.query<EndpointRow>(
    `update webhook_endpoints set ${sets.join(", ")}, updated_at = now() where id = $1 and organization_id = $2 returning *`, values);
  if (!rows[0]) throw new SpoolError("NOT_FOUND", `No webhook endpoint ${id} in your organization.`);
  return rows[0];
}

/**
 * The organization's job webhook secret, new, returned once: endpoints made for jobs' own
 * webhookUrl sign with it (the previous one too, for `overlapHours`).
 */
export async function rotateJobWebhookSecret(deps: WebhookDeps, organizationId: string, overlapHours = DEFAULT_ROTATION_OVERLAP_HOURS): Promise<string> {
  checkOverlap(overlapHours);
  const secret = newWebhookSecret();
  const encrypted = encryptSecret(deps.secretsKey, secret);
  await inTransaction(deps.pool, async (tx) => {
    await tx.query(`update organizations set job_webhook_secret = $2 where id = $1`, [organizationId, encrypted]);
    await tx.query(
      `update webhook_endpoints
         set previous_secret = case when $2 > 0 then secret end,
             previous_secret_expires_at = case when $2 > 0 then now() + make_interval(secs => $2 * 3600) end,
             secret = $3, updated_at = now()
       where organization_id = $1 and kind = 'JOB'`, [organizationId, overlapHours, encrypted]);
  });
  return secret;
}

/**
 * The JOB endpoint for a job's own webhookUrl (made on first use, re-activated when a new job
 * names it again), inside the submitting transaction. Needs the organization's job webhook
 * secret (rotateJobWebhookSecret), since the receiver must be able to verify.
 */
export async function jobWebhookEndpoint(tx: pg.PoolClient, outbound: OutboundPolicy, organizationId: string, rawUrl: string): Promise<string> {
  const url = checkEndpointUrl(rawUrl, outbound);
  const { rows: [org] } = await tx.query<{ job_webhook_secret: string | null }>(`select job_webhook_secret from organizations where id = $1`, [organizationId]);
  if (!org?.job_webhook_secret) {
    throw new SpoolError("INVALID_INPUT", "webhookUrl needs the organization's job webhook secret, to sign with: create it once with rotateJobWebhookSecret.");
  }
  const { rows } = await tx.query<{ id: string }>(
    `insert into webhook_endpoints (organization_id, url, kind, secret, description) values ($1, $2, 'JOB', $3, 'webhookUrl of jobs')
     on conflict (organization_id, url) where kind = 'JOB'
     do update set active = true, disabled_reason = null, disabled_at = null, failing_since = null, updated_at = now()
     returning id`, [organizationId, url, org.job_webhook_secret]);
  return rows[0]!.id;
}

/** Deletes the endpoint with its deliveries and attempts; pending deliveries stop (their jobs find no row). */
export async function deleteEndpoint(deps: WebhookDeps, organizationId: string, id: string): Promise<EndpointRow> {
  const { rows } = await deps.pool.query<EndpointRow>(`delete from webhook_endpoints where id = $1 and organization_id = $2 returning *`, [id, organizationId]);
  if (!rows[0]) throw new SpoolError("NOT_FOUND", `No webhook endpoint ${id} in your organization.`);
  return rows[0];
}

/**
 * A new secret, returned once. The old one keeps signing (a second `v1,` signature in
 * webhook-signature) for `overlapHours`, so receivers can switch without losing a message.
 */
export async function rotateSecret(deps: WebhookDeps, organizationId: string, id: string, overlapHours = DEFAULT_ROTATION_OVERLAP_HOURS): Promise<{ endpoint: EndpointRow; secret: string }> {
  checkOverlap(overlapHours);
  const secret = newWebhookSecret();
  const { rows } = await deps.pool.query<EndpointRow>(
    `update webhook_endpoints
       set previous_secret = case when $3 > 0 then secret end,
           previous_secret_expires_at = case when $3 > 0 then now() + make_interval(secs => $3 * 3600) end,
           secret = $4, updated_at = now()
     where id = $1 and organization_id = $2 and kind = 'ENDPOINT' returning *`,
    [id, organizationId, overlapHours, encryptSecret(deps.secretsKey, secret)],
  );
  if (!rows[0]) {
    const job = await deps.pool.query(`select 1 from webhook_endpoints where id = $1 and organization_id = $2 and kind = 'JOB'`, [id, organizationId]);
    if (job.rowCount) throw new SpoolError("CONFLICT", "This endpoint serves jobs' webhookUrl and signs with the organization's job webhook secret: use rotateJobWebhookSecret.");
    throw new SpoolError("NOT_FOUND", `No webhook endpoint ${id} in your organization.`);
  }
  return { endpoint: rows[0], secret };
}

/** A webhook.test message to this endpoint only (even if inactive types would exclude it); returns its delivery id. */
export async function testEndpoint(deps: WebhookDeps, organizationId: string, id: string, message = "Hello from Spool"): Promise<string> {
  return inTransaction(deps.pool, async (tx) => {
    const { rows } = await tx.query<{ id: string; active: boolean }>(`select id, active from webhook_endpoints where id = $1 and organization_id = $2`, [id, organizationId]);
    if (!rows[0]) throw new SpoolError("NOT_FOUND", `No webhook endpoint ${id} in your organization.`);
    if (!rows[0].active) throw new SpoolError("CONFLICT", "The endpoint is disabled; set active: true with updateWebhook first.");
    const { rows: [msg] } = await tx.query<{ id: string }>(
      `select spool_webhook_publish($1, 'webhook.test', jsonb_build_object('endpointId', spool_global_id('WebhookEndpoint', $2::uuid), 'message', $3::text), $2::uuid) as id`,
      [organizationId, id, message.slice(0, 200)],
    );
    const { rows: [d] } = await tx.query<{ id: string }>(`select id from webhook_deliveries where message_id = $1`, [msg!.id]);
    return d!.id;
  });
}

/**
 * Sends a delivery's message again to its endpoint, as a new delivery: same body and
 * webhook-id (receivers deduplicate on it), a new timestamp and signature.
 */
export async function redeliver(deps: WebhookDeps, organizationId: string, deliveryId: string): Promise<string> {
  return inTransaction(deps.pool, async (tx) => {
    const { rows } = await tx.query<{ message_id: string; endpoint_id: string; active: boolean }>(
      `select d.message_id, d.endpoint_id, e.active from webhook_deliveries d join webhook_endpoints e on e.id = d.endpoint_id
       where d.id = $1 and d.organization_id = $2`, [deliveryId, organizationId]);
    const row = rows[0];
    if (!row) throw new SpoolError("NOT_FOUND", `No webhook delivery ${deliveryId} in your organization.`);
    if (!row.active) throw new SpoolError("CONFLICT", "The endpoint is disabled; set active: true with updateWebhook first.");
    const { rows: [d] } = await tx.query<{ id: string }>(
      `insert into webhook_deliveries (organization_id, message_id, endpoint_id, next_attempt_at, redelivery_of_id) values ($1, $2, $3, now(), $4) returning id`,
      [organizationId, row.message_id, row.endpoint_id, deliveryId]);
    await enqueueInternal(tx, { organizationId, type: "webhook.deliver", input: { deliveryId: d!.id } });
    return d!.id;
  });
}
