// A batch parent's state is derived from its children. After any child changes, the
// engine calls refreshParent in a transaction of its own: it locks the parent first, then
// reads the children with a fresh snapshot, so the last child to finish always sees every
// other child's outcome (two children finishing at once cannot both miss each other).
// Locking the parent only after the child's own transaction committed keeps lock order
// one-way (never child → parent inside one transaction), so it cannot deadlock with a
// cancel, which locks parent and children in one statement.
import type pg from "pg";
import { inTransaction } from "./queryable.ts";
import * as sql from "./sql.ts";
import type { JobErrorInfo, JobStatus } from "./types.ts";

type Summary = { total: number; queued: number; succeeded: number; failed: number; cancelled: number; progress: number };

export function deriveParentStatus(current: JobStatus, s: Summary): { status: JobStatus; error: JobErrorInfo | null } {
  const finished = s.succeeded + s.failed + s.cancelled;
  if (s.total > 0 && finished === s.total) {
    if (s.failed > 0) return { status: "FAILED", error: { code: "BATCH_JOB_FAILED", message: `${s.failed} of ${s.total} jobs in the batch failed; see its children.` } };
    if (s.cancelled > 0) return { status: "CANCELLED", error: null };
    return { status: "SUCCEEDED", error: null };
  }
  // Once started, a batch stays RUNNING even while a child waits for a retry.
  return { status: current === "QUEUED" && s.queued === s.total ? "QUEUED" : "RUNNING", error: null };
}

export async function refreshParent(pool: pg.Pool, parentId: string): Promise<void> {
  await inTransaction(pool, async (tx) => {
    const locked = (await tx.query(sql.lockParent, [parentId])).rows[0];
    if (!locked) return; // already finished (or cancelled as a whole)
    const summary = (await tx.query<Summary>(sql.childrenSummary, [parentId])).rows[0]!;
    const { status, error } = deriveParentStatus(locked.status, summary);
    const statusChanged = status !== locked.status;
    if (!statusChanged && Math.abs(summary.progress - Number(locked.progress)) < 1e-6) return;
    await tx.query(sql.updateParent, [parentId, status, summary.progress, error ? JSON.stringify(error) : null, statusChanged]);
  });
}
