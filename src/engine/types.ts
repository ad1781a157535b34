/**
 * The job engine's words, used exactly everywhere (see the design notes):
 *
 * - job: one row in `jobs`: a unit of work with a `type`, typed `input`, `status`,
 *   `priority`, `progress`, `stage`, `attempts`.
 *   QUEUED → RUNNING → SUCCEEDED | FAILED | CANCELLED; a failed attempt with attempts left
 *   goes back to QUEUED with a later `run_at`.
 * - job type: a dotted `domain.verb` name (`video.transcode`, `system.cleanup`).
 * - job type definition: one per processors/*.ts file (`defineJobType`): name, zod input,
 *   typed mutation, limits and `run(job, ctx, deps)`.
 * - processor: a definition bound to its deps in the registry (engine/registry.ts): what
 *   the engine runs for one job type.
 * - claim: one SQL statement that moves QUEUED jobs to RUNNING with `for update skip locked`.
 * - lease: a claimed job belongs to one worker until `lease_expires_at`; the worker renews
 *   it by heartbeat. An expired lease is reclaimed by any worker.
 * - attempt: each claim increments `attempts`; the attempt number is the fencing token:
 *   every write a worker makes for a job says `where id = $1 and attempts = $n and
 *   status = 'RUNNING'`, so a worker whose lease was reclaimed (or whose job was cancelled)
 *   can no longer touch the job. A release at shutdown is not charged: it grows
 *   `max_attempts` by one instead of taking the count back.
 * - event: an append-only row in `job_events` (bigserial id): status and stage changes,
 *   progress, log lines. Events are the history and the replay source for subscriptions;
 *   inserting one sends a NOTIFY on `spool_events` (trigger, same transaction).
 * - batch: a parent job whose children run independently; the parent is never claimed,
 *   its progress and final status are derived from its children.
 */
import type { z } from "zod";
import type { Logger } from "../log.ts";

export const JOB_STATUSES = ["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const TERMINAL_STATUSES: readonly JobStatus[] = ["SUCCEEDED", "FAILED", "CANCELLED"];

export const JOB_PRIORITIES = ["LOW", "NORMAL", "HIGH", "URGENT"] as const;
export type JobPriority = (typeof JOB_PRIORITIES)[number];

export type JobEventKind = "STATUS" | "STAGE" | "PROGRESS" | "LOG";

/** The type of a batch parent: no processor has it, so it is never claimed. */
export const BATCH_JOB_TYPE = "batch";

export type JobErrorInfo = { code: string; message: string };

export type Job<I = unknown> = {
  id: string;
  organizationId: string;
  type: string;
  status: JobStatus;
  priority: JobPriority;
  input: I;
  result: unknown;
  error: JobErrorInfo | null;
  metadata: Record<string, unknown>;
  progress: number;
  stage: string | null;
  attempts: number;
  maxAttempts: number;
  runAt: Date;
  leaseExpiresAt: Date | null;
  lockedBy: string | null;
  parentId: string | null;
  idempotencyKey: string | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  updatedAt: Date;
};

/** Rates a long-running step reports with its progress; every field optional. */
export type ProgressDetails = {
  fps?: number | null;
  speed?: number | null;
  etaSeconds?: number | null;
  /** Document jobs: pages finished so far, of pageCount. */
  pagesDone?: number | null;
  pageCount?: number | null;
};

/** What a processor gets besides its job: the abort signal and ways to report. */
export type JobContext = {
  /** Aborted on cancel, timeout, lost lease or shutdown; `signal.reason` says which. */
  signal: AbortSignal;
  attempt: number;
  log: Logger;
  /**
   * Fraction 0..1, with optional rate details (ffmpeg's fps, speed, seconds left) kept in the
   * PROGRESS event. Coalesced: at most a few database writes per second per job.
   */
  progress(fraction: number, details?: ProgressDetails): void;
  /** A named stage (`probe`, `encode[720p]`, …); written at once, with pending progress. */
  stage(name: string): Promise<void>;
  /** A log line kept in the job's history (buffered with progress writes). */
  logLine(message: string, level?: "info" | "warn" | "error"): void;
};

/**
 * The relative shares of a job type's stages in its one progress bar, by stage name; a
 * labelled stage (`encode[720p]`) takes its base name's share.
 */
export type StageWeights = Readonly<Record<string, number>>;

/** A typed mutation that submits one job type (graphql/ builds it from the definition). */
export type JobMutation = { name: string; description: string };

/**
 * One job type, defined once (processors/*.ts each export one): what it is called, what
 * it takes, how GraphQL submits it, its limits, and how it runs. `D` is what it needs from
 * the process (assets, ffmpeg, OCR…), given when the composition root binds it
 * (engine/registry.ts); an input that depends on those (the codecs this ffmpeg can encode)
 * is a function of them.
 */
export type JobTypeDefinition<D = any, I = any, R = unknown> = {
  type: string;
  description: string;
  input: z.ZodType<I> | ((deps: D) => z.ZodType<I>);
  /** The typed mutation that submits it; absent for types submitted only through submitJob. */
  mutation?: JobMutation;
  /** Its stages' shares of progress (media types; a run plans the ones it goes through). */
  stages?: StageWeights;
  /** Wall-clock limit of one attempt; the job fails with JOB_TIMEOUT (retryable) after it. */
  timeoutMs?: number | ((deps: D) => number);
  /** Default maxAttempts for jobs of this type when the submitter does not say. */
  maxAttempts?: number;
  /** Spool enqueues these itself (webhook.deliver); clients cannot submit them, jobTypes omits them. */
  internal?: boolean;
  run(job: Job<I>, ctx: JobContext, deps: D): Promise<R>;
};

/** Checks a definition against its type, so its `run` sees typed input and deps. */
export function defineJobType<D, I, R>(definition: JobTypeDefinition<D, I, R> & { mutation: JobMutation }): JobTypeDefinition<D, I, R> & { mutation: JobMutation };
export function defineJobType<D, I, R>(definition: JobTypeDefinition<D, I, R>): JobTypeDefinition<D, I, R>;
export function defineJobType<D, I, R>(definition: JobTypeDefinition<D, I, R>): JobTypeDefinition<D, I, R> {
  return definition;
}

/** A definition bound to its deps: what the engine runs and enqueue validates against. */
export type Processor<I = unknown, R = unknown> = Omit<JobTypeDefinition<never, I, R>, "input" | "timeoutMs" | "run"> & {
  input: z.ZodType<I>;
  timeoutMs?: number;
  run(job: Job<I>, ctx: JobContext): Promise<R>;
};

/** Why a running job's signal was aborted. */
export type AbortReason = "CANCELLED" | "TIMEOUT" | "LEASE_LOST" | "SHUTDOWN";
