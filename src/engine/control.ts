// A client's two ways to change a job's course: cancel and retry. Both are one fenced engine
// statement (engine/sql.ts) plus the batch parent's refresh, so the services (and through
// them the API and the CLI) never build engine statements themselves.
import type pg from "pg";
import { SpoolError } from "../errors.ts";
import { refreshParent } from "./batch.ts";
import { inTransaction, type Queryable } from "./queryable.ts";
import { toJob } from "./rows.ts";
import * as sql from "./sql.ts";
import type { Job } from "./types.ts";

/** A job of one organization: another organization's job is not there. */
export type JobRef = { organizationId: string; id: string };

export async function findJob(db: Queryable, ref: JobRef): Promise<Job | null> {
  const { rows } = await db.query(`select * from jobs where id = $1 and organization_id = $2`, [ref.id, ref.organizationId]);
  return rows[0] ? toJob(rows[0]) : null;
}

/**
 * Cancels a QUEUED or RUNNING job and its unfinished children, inside the caller's
 * transaction when given one (deleting a Video cancels its ingest). A RUNNING job's worker
 * hears it on `spool_cancel`. Returns how many jobs it cancelled.
 */
export async function cancelJobs(db: Queryable, ref: JobRef): Promise<number> {
  const { rowCount } = await db.query(sql.cancel, [ref.organizationId, ref.id]);
  return rowCount ?? 0;
}

/**
 * Cancels a job and refreshes its batch parent. Cancelling a CANCELLED job again returns it
 * unchanged (idempotent); a SUCCEEDED or FAILED one is a CONFLICT.
 */
export async function cancel(pool: pg.Pool, job: Job): Promise<Job> {
  const ref = { organizationId: job.organizationId, id: job.id };
  await cancelJobs(pool, ref);
  const now = (await findJob(pool, ref))!;
  if (now.status !== "CANCELLED") {
    throw new SpoolError("CONFLICT", `Job ${job.id} is ${now.status}; only QUEUED or RUNNING jobs can be cancelled.`, { status: now.status });
  }
  if (job.parentId) await refreshParent(pool, job.parentId);
  return now;
}

/**
 * Runs a FAILED or CANCELLED job (and such children of a batch) again with `extraAttempts`
 * more attempts; its batch parent is reopened and refreshed.
 */
export async function retry(pool: pg.Pool, job: Job, extraAttempts: number): Promise<Job> {
  if (job.status !== "FAILED" && job.status !== "CANCELLED") {
    throw new SpoolError("CONFLICT", `Job ${job.id} is ${job.status}; only FAILED or CANCELLED jobs can be retried.`, { status: job.status });
  }
  await inTransaction(pool, async (tx) => {
    await tx.query(sql.retry, [job.organizationId, job.id, extraAttempts]);
    if (job.parentId) await tx.query(sql.reopenParent, [job.parentId]);
  });
  if (job.parentId) await refreshParent(pool, job.parentId);
  return (await findJob(pool, job))!;
}
