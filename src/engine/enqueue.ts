// Putting work on the queue. `enqueue(tx, …)` runs inside the caller's transaction, so a
// domain write and its job commit together or not at all; the insert trigger's NOTIFY
// wakes idle workers at that commit.
import { z } from "zod";
import type { ProcessorRegistry } from "./registry.ts";
import { SpoolError } from "../errors.ts";
import type { Queryable } from "./queryable.ts";
import { canonicalJson, toJob } from "./rows.ts";
import * as sql from "./sql.ts";
import { BATCH_JOB_TYPE, JOB_PRIORITIES, type Job, type JobPriority } from "./types.ts";

/** Limits on what a submitter can store (every unbounded input has one). */
export const LIMITS = {
  inputBytes: 256 * 1024,
  metadataBytes: 16 * 1024,
  idempotencyKeyLength: 255,
  maxAttempts: 25,
  batchSize: 1000,
  runAtHorizonMs: 366 * 24 * 3600_000,
} as const;

const options = z.object({
  priority: z.enum(JOB_PRIORITIES).optional(),
  maxAttempts: z.number().int().min(1).max(LIMITS.maxAttempts).optional(),
  runAt: z.date().optional(),
  idempotencyKey: z.string().min(1).max(LIMITS.idempotencyKeyLength).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
});

/**
 * Attempts a job gets when neither its submitter nor its type says otherwise. Three, not two:
 * a worker crash (OOM, a node going away) fails every job running on that worker, through no
 * fault of theirs; with two attempts, two such crashes in a long media job's life failed it
 * for good with WORKER_LOST. Inputs a processor recognises as bad fail at once (a permanent
 * JobError), so the extra attempt is spent only on crashes, timeouts and unknown errors.
 */
export const DEFAULT_MAX_ATTEMPTS = 3;

export type EnqueueOptions = z.input<typeof options>;
export type EnqueueRequest = EnqueueOptions & { organizationId: string; type: string; input: unknown };
export type EnqueueResult = { job: Job; created: boolean };

function invalid(message: string, details?: Record<string, unknown>): SpoolError {
  return new SpoolError("INVALID_INPUT", message, details);
}

function checkSize(what: string, value: unknown, max: number): string {
  const json = JSON.stringify(value ?? {});
  if (Buffer.byteLength(json) > max) throw invalid(`${what} is larger than ${max} bytes; store large data as an asset and pass its id.`);
  return json;
}

function parseOptions(o: EnqueueOptions) {
  const parsed = options.safeParse(o);
  if (!parsed.success) throw invalid(`Invalid job options: ${z.prettifyError(parsed.error)}`);
  const opts = parsed.data;
  if (opts.runAt && opts.runAt.getTime() - Date.now() > LIMITS.runAtHorizonMs) {
    throw invalid("runAt is more than a year ahead.");
  }
  return opts;
}

/** Validates `input` against the processor's schema; returns it with defaults applied. */
export function validateInput(registry: ProcessorRegistry, type: string, input: unknown): unknown {
  const processor = registry.get(type);
  if (!processor) {
    throw invalid(`Unknown job type "${type}". Known types: ${registry.types().join(", ")}.`);
  }
  checkSize("input", input, LIMITS.inputBytes);
  const parsed = processor.input.safeParse(input ?? {});
  if (!parsed.success) {
    throw invalid(`Invalid input for ${type}: ${z.prettifyError(parsed.error)}`, { issues: parsed.error.issues });
  }
  return parsed.data;
}

async function insert(db: Queryable, req: {
  organizationId: string; type: string; input: unknown; priority: JobPriority; maxAttempts: number;
  runAt: Date | undefined; idempotencyKey: string | undefined; metadata: Record<string, unknown>; parentId: string | null;
}): Promise<EnqueueResult> {
  const inputJson = JSON.stringify(req.input);
  const metadataJson = checkSize("metadata", req.metadata, LIMITS.metadataBytes);
  // Named: prepared once per connection, not planned at every submit.
  const { rows } = await db.query({ name: "spool_insert_job", text: sql.insertJob }, [
    req.organizationId, req.type, inputJson, req.priority, req.maxAttempts, req.runAt ?? null,
    req.idempotencyKey ?? null, metadataJson, req.parentId,
  ]);
  if (rows[0]) return { job: toJob(rows[0]), created: true };

  // The key is taken: the same request gets the same job; a different one is a conflict.
  const existing = await db.query(sql.selectByIdempotencyKey, [req.organizationId, req.idempotencyKey]);
  const job = toJob(existing.rows[0]);
  if (job.type !== req.type || canonicalJson(job.input) !== canonicalJson(req.input)) {
    throw new SpoolError("CONFLICT", `idempotencyKey "${req.idempotencyKey}" was already used for a different job (${job.id}); use a new key for new work.`, { jobId: job.id });
  }
  return { job, created: false };
}

export async function enqueue(db: Queryable, registry: ProcessorRegistry, req: EnqueueRequest): Promise<EnqueueResult> {
  const opts = parseOptions(req);
  const input = validateInput(registry, req.type, req.input);
  return insert(db, {
    organizationId: req.organizationId, type: req.type, input,
    priority: opts.priority ?? "NORMAL",
    maxAttempts: opts.maxAttempts ?? registry.get(req.type)!.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    runAt: opts.runAt, idempotencyKey: opts.idempotencyKey, metadata: opts.metadata ?? {}, parentId: null,
  });
}

/**
 * A job Spool enqueues itself (webhook.deliver's next attempt, a redelivery): its input is
 * Spool's, not a client's, and an API process may not register the type, so it is not
 * validated against a registry; the insert is the same one.
 */
export async function enqueueInternal(db: Queryable, req: { organizationId: string; type: string; input: unknown; runAt?: Date | null }): Promise<Job> {
  const { job } = await insert(db, {
    organizationId: req.organizationId, type: req.type, input: req.input, priority: "NORMAL", maxAttempts: DEFAULT_MAX_ATTEMPTS,
    runAt: req.runAt ?? undefined, idempotencyKey: undefined, metadata: {}, parentId: null,
  });
  return job;
}

export type BatchRequest = EnqueueOptions & {
  organizationId: string;
  jobs: Array<Omit<EnqueueRequest, "organizationId" | "idempotencyKey">>;
};

/**
 * A batch: one parent (never claimed) and its children, inserted together. The parent's
 * status and progress follow its children (see Engine.refreshParent). Run it in a
 * transaction so a batch is all there or not at all.
 */
export async function enqueueBatch(db: Queryable, registry: ProcessorRegistry, req: BatchRequest): Promise<EnqueueResult & { children: Job[] }> {
  const opts = parseOptions(req);
  if (req.jobs.length === 0 || req.jobs.length > LIMITS.batchSize) {
    throw invalid(`A batch holds 1 to ${LIMITS.batchSize} jobs; got ${req.jobs.length}.`);
  }
  const children = req.jobs.map((child, i) => {
    try {
      return { child, opts: parseOptions(child), input: validateInput(registry, child.type, child.input) };
    } catch (err) {
      if (err instanceof SpoolError) throw invalid(`jobs[${i}]: ${err.message}`, err.details);
      throw err;
    }
  });
  const batchInput = { jobs: children.map((c) => ({ type: c.child.type })) };
  const parent = await insert(db, {
    organizationId: req.organizationId, type: BATCH_JOB_TYPE, input: batchInput,
    priority: opts.priority ?? "NORMAL", maxAttempts: 1, runAt: opts.runAt,
    idempotencyKey: opts.idempotencyKey, metadata: opts.metadata ?? {}, parentId: null,
  });
  if (!parent.created) {
    const { rows } = await db.query(`select * from jobs where parent_id = $1 order by created_at, id`, [parent.job.id]);
    return { ...parent, children: rows.map(toJob) };
  }
  const inserted: Job[] = [];
  for (const c of children) {
    const { job } = await insert(db, {
      organizationId: req.organizationId, type: c.child.type, input: c.input,
      priority: c.opts.priority ?? opts.priority ?? "NORMAL",
      maxAttempts: c.opts.maxAttempts ?? registry.get(c.child.type)!.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
      runAt: c.opts.runAt ?? opts.runAt, idempotencyKey: undefined,
      metadata: c.opts.metadata ?? {}, parentId: parent.job.id,
    });
    inserted.push(job);
  }
  return { ...parent, children: inserted };
}
