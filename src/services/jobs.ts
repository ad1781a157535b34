// Job use-cases shared by the GraphQL resolvers, the CLI and tests. Each takes the pool
// first and the caller's organization: a job of another organization is NOT_FOUND.
import type pg from "pg";
import * as control from "../engine/control.ts";
import { enqueue, enqueueBatch, type BatchRequest, type EnqueueOptions, type EnqueueResult } from "../engine/enqueue.ts";
import { SpoolError } from "../errors.ts";
import { isUuid } from "../uuid.ts";
import { inTransaction } from "../engine/queryable.ts";
import type { Job } from "../engine/types.ts";
import type { ProcessorRegistry } from "../engine/registry.ts";
import type { OutboundPolicy } from "../tools/http.ts";
import { jobWebhookEndpoint } from "./webhooks.ts";

function notFound(id: string): SpoolError {
  return new SpoolError("NOT_FOUND", `No job ${id} in your organization.`);
}

export async function getJob(pool: pg.Pool, organizationId: string, id: string): Promise<Job> {
  const job = isUuid(id) ? await control.findJob(pool, { organizationId, id }) : null;
  if (!job) throw notFound(id);
  return job;
}

/**
 * Submits one job. The insert is a single statement (atomic on its own), so it runs
 * without BEGIN/COMMIT round trips; domain writes that enqueue call `enqueue(tx, …)` in
 * their own transaction instead.
 */
export function submitJob(
  pool: pg.Pool, registry: ProcessorRegistry, organizationId: string,
  req: EnqueueOptions & { type: string; input: unknown; webhook?: JobWebhook },
): Promise<EnqueueResult> {
  const { webhook, ...rest } = req;
  refuseInternal(registry, [req.type]);
  if (!webhook) return enqueue(pool, registry, { ...rest, organizationId });
  return inTransaction(pool, async (tx) => {
    const result = await enqueue(tx, registry, { ...rest, organizationId });
    if (result.created) await attachJobWebhook(tx, organizationId, result.job.id, webhook);
    return result;
  });
}

/** A job's own webhookUrl, with the outbound policy its address is checked against. */
export type JobWebhook = { url: string; outbound: OutboundPolicy };

/**
 * Points a just-inserted job at the JOB endpoint of its webhookUrl, in the submitting
 * transaction; the job's events (job.created included: the webhook trigger runs at commit)
 * then go there as well.
 */
export async function attachJobWebhook(tx: pg.PoolClient, organizationId: string, jobId: string, webhook: JobWebhook): Promise<void> {
  const endpointId = await jobWebhookEndpoint(tx, webhook.outbound, organizationId, webhook.url);
  await tx.query(`update jobs set webhook_endpoint_id = $2 where id = $1 and organization_id = $3`, [jobId, endpointId, organizationId]);
}

export function submitBatch(
  pool: pg.Pool, registry: ProcessorRegistry, organizationId: string, req: Omit<BatchRequest, "organizationId">,
): Promise<EnqueueResult & { children: Job[] }> {
  refuseInternal(registry, req.jobs.map((j) => j.type));
  return inTransaction(pool, (tx) => enqueueBatch(tx, registry, { ...req, organizationId }));
}

/** Job types Spool enqueues itself (processor.internal) are not for clients to submit. */
function refuseInternal(registry: ProcessorRegistry, types: string[]): void {
  const internal = types.find((t) => registry.get(t)?.internal);
  if (internal) throw new SpoolError("INVALID_INPUT", `${internal} jobs are enqueued by Spool itself and cannot be submitted.`);
}

/**
 * Cancels a QUEUED or RUNNING job (a batch: with its unfinished children). Returns the
 * job as it is now. Cancelling a CANCELLED job again returns it unchanged (idempotent);
 * cancelling a SUCCEEDED or FAILED one is a CONFLICT.
 */
export async function cancelJob(pool: pg.Pool, organizationId: string, id: string): Promise<Job> {
  return control.cancel(pool, await getJob(pool, organizationId, id));
}

/** Runs a FAILED or CANCELLED job again, with `extraAttempts` more attempts (default 3). */
export async function retryJob(pool: pg.Pool, organizationId: string, id: string, extraAttempts = 3): Promise<Job> {
  if (!Number.isInteger(extraAttempts) || extraAttempts < 1 || extraAttempts > 25) {
    throw new SpoolError("INVALID_INPUT", "extraAttempts must be an integer from 1 to 25.");
  }
  return control.retry(pool, await getJob(pool, organizationId, id), extraAttempts);
}
