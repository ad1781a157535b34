// The worker loop: wait for a nudge (NOTIFY on `spool_queue`, a finished job freeing a
// slot) or the poll timer, claim as many jobs as there are free slots, run each with its
// own AbortController, finish it with one fenced statement. Alongside: one heartbeat for
// all held leases, and a sweeper that reclaims expired leases and repairs batch parents.
import os from "node:os";
import { randomBytes } from "node:crypto";
import type pg from "pg";
import type { Logger } from "../log.ts";
import type { ProcessorRegistry } from "./registry.ts";
import { retryDelayMs } from "./backoff.ts";
import { refreshParent } from "./batch.ts";
import { JobError } from "../errors.ts";
import { JobReporter } from "./reporter.ts";
import { toJob } from "./rows.ts";
import * as sql from "./sql.ts";
import type { AbortReason, Job, JobContext } from "./types.ts";

/**
 * Where the engine hears that work arrived (`spool_queue`) or a job was cancelled
 * (`spool_cancel`, payload the job id). The process's LISTEN connection
 * (pubsub/pg-listener.ts) is one; NOTIFY is only a hint, so without one the engine polls.
 */
export type WakeSource = {
  on(channel: "spool_queue" | "spool_cancel", handler: (payload: string) => void): () => void;
};

export type EngineOptions = {
  pool: pg.Pool;
  registry: ProcessorRegistry;
  log: Logger;
  listener?: WakeSource;
  concurrency: number;
  /** A claimed job is this worker's until now + leaseMs; renewed every leaseMs / 3. */
  leaseMs?: number;
  /** How often to look for work when no NOTIFY came (covers a lost listener, run_at in the future). */
  pollMs?: number;
  /** How often to reclaim expired leases and repair batch parents. */
  sweepMs?: number;
  /** Minimum spacing of a job's progress/log writes. */
  progressIntervalMs?: number;
  /** After an abort, how long a processor may take to return before its slot is freed anyway. */
  abortGraceMs?: number;
  random?: () => number;
};

export const DEFAULT_TIMEOUT_MS = 60 * 60_000;
const RESULT_LIMIT_BYTES = 256 * 1024;

type Running = { job: Job; controller: AbortController; reporter: JobReporter; done: Promise<void> };

export class Engine {
  readonly workerId = `${os.hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`;
  private readonly pool: pg.Pool;
  private readonly registry: ProcessorRegistry;
  private readonly log: Logger;
  private readonly concurrency: number;
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly sweepMs: number;
  private readonly progressIntervalMs: number;
  private readonly abortGraceMs: number;
  private readonly random: () => number;
  private readonly running = new Map<string, Running>();
  private readonly unsubscribe: Array<() => void> = [];
  private loop: Promise<void> | null = null;
  private stopping = false;
  private nudged = false;
  private wakeWaiter: (() => void) | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: EngineOptions) {
    this.pool = opts.pool;
    this.registry = opts.registry;
    this.log = opts.log.child({ worker: this.workerId });
    this.concurrency = opts.concurrency;
    this.leaseMs = opts.leaseMs ?? 15_000;
    this.pollMs = opts.pollMs ?? 1_000;
    this.sweepMs = opts.sweepMs ?? 5_000;
    this.progressIntervalMs = opts.progressIntervalMs ?? 300;
    this.abortGraceMs = opts.abortGraceMs ?? 5_000;
    this.random = opts.random ?? Math.random;
    // Cancels are delivered even to an engine driven by runOnce() (tests).
    if (opts.listener) {
      this.unsubscribe.push(opts.listener.on("spool_cancel", (id) => this.abortJob(id, "CANCELLED")));
    }
  }

  get runningCount(): number {
    return this.running.size;
  }

  /** Starts the loop, the heartbeat and the sweeper. */
  start(): void {
    if (this.loop) return;
    this.stopping = false;
    if (this.opts.listener) this.unsubscribe.push(this.opts.listener.on("spool_queue", () => this.wake()));
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), Math.max(50, Math.floor(this.leaseMs / 3)));
    this.sweepTimer = setInterval(() => void this.sweep(), this.sweepMs);
    this.loop = this.run();
    this.log.info({ concurrency: this.concurrency, types: this.registry.types() }, "engine started");
  }

  /**
   * Graceful stop: claim nothing more, let running jobs finish for up to `graceMs`, then
   * abort the rest and release them to the queue so another worker runs them.
   */
  async stop(graceMs = 30_000): Promise<void> {
    this.stopping = true;
    this.wake();
    await this.loop;
    this.loop = null;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    const pending = [...this.running.values()];
    if (pending.length > 0) {
      this.log.info({ jobs: pending.length, graceMs }, "waiting for running jobs");
      const settled = await within(Promise.all(pending.map((r) => r.done)), graceMs);
      if (!settled) {
        for (const r of this.running.values()) r.controller.abort("SHUTDOWN" satisfies AbortReason);
        await within(Promise.all([...this.running.values()].map((r) => r.done)), this.abortGraceMs + 1_000);
      }
    }
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    for (const off of this.unsubscribe.splice(0)) off();
    this.log.info("engine stopped");
  }

  /** One step, for tests and tools: sweep, claim up to `concurrency` jobs, run them to the end. */
  async runOnce(): Promise<number> {
    await this.sweep();
    const jobs = await this.claim(this.concurrency);
    await Promise.all(jobs.map((job) => this.launch(job).done));
    return jobs.length;
  }

  /** Runs steps until nothing is claimable. */
  async drain(): Promise<number> {
    let total = 0;
    for (let n = await this.runOnce(); n > 0; n = await this.runOnce()) total += n;
    return total;
  }

  /** Wakes the loop: new work may be claimable or a slot came free. */
  wake(): void {
    this.nudged = true;
    this.wakeWaiter?.();
  }

  private async run(): Promise<void> {
    // Sweep before the first claim, not one sweep interval later: under churn (workers
    // killed every few seconds) few engines lived long enough to sweep at all.
    await this.sweep();
    while (!this.stopping) {
      this.nudged = false;
      const free = this.concurrency - this.running.size;
      if (free > 0) {
        try {
          const jobs = await this.claim(free);
          for (const job of jobs) this.launch(job);
          // A full claim means there may be more: look again as soon as a slot frees.
        } catch (err) {
          this.log.error({ err }, "claim failed; retrying after the poll interval");
        }
      }
      if (!this.nudged && !this.stopping) await this.waitForNudge(this.pollMs);
    }
  }

  private waitForNudge(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.wakeWaiter = null;
        resolve();
      }
      this.wakeWaiter = done;
    });
  }

  private async claim(limit: number): Promise<Job[]> {
    const types = this.registry.types();
    if (limit <= 0 || types.length === 0) return [];
    const { rows } = await this.pool.query({ name: "spool_claim", text: sql.claim, values: [this.workerId, limit, this.leaseMs, types] });
    return this.claimed(rows);
  }

  private claimed(rows: Record<string, unknown>[]): Job[] {
    const jobs = rows.map(toJob);
    const parents = new Set(jobs.map((j) => j.parentId).filter((p): p is string => p !== null));
    for (const p of parents) void this.refreshParentSafely(p);
    return jobs;
  }

  private launch(job: Job): Running {
    const controller = new AbortController();
    const reporter = new JobReporter(this.pool, job, this.progressIntervalMs, this.log, () =>
      this.abortJob(job.id, "LEASE_LOST"),
    );
    const entry: Running = { job, controller, reporter, done: Promise.resolve() };
    const key = `${job.id}#${job.attempts}`;
    this.running.set(key, entry);
    entry.done = this.execute(entry)
      .catch((err) => this.log.error({ err, jobId: job.id }, "finishing a job failed; its lease will expire and it will be retried"))
      .finally(() => {
        this.running.delete(key);
        this.wake();
      });
    return entry;
  }

  private async execute({ job, controller, reporter }: Running): Promise<void> {
    const processor = this.registry.get(job.type)!;
    const log = this.log.child({ jobId: job.id, type: job.type, attempt: job.attempts });
    const timeout = setTimeout(() => controller.abort("TIMEOUT" satisfies AbortReason), processor.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const ctx: JobContext = {
      signal: controller.signal,
      attempt: job.attempts,
      log,
      progress: (f, details) => reporter.progress(f, details),
      stage: (name) => reporter.stage(name),
      logLine: (message, level) => reporter.logLine(message, level),
    };
    let outcome: { ok: true; result: unknown } | { ok: false; error: unknown };
    try {
      // Re-validate: the schema may have changed since the job was queued.
      const input = processor.input.safeParse(job.input);
      if (!input.success) throw new JobError("INVALID_INPUT", `Stored input no longer matches ${job.type}'s schema: ${input.error.message}`);
      const result = await untilAbortedPlusGrace(processor.run({ ...job, input: input.data }, ctx), controller.signal, this.abortGraceMs);
      outcome = { ok: true, result: result ?? null };
    } catch (error) {
      outcome = { ok: false, error };
    } finally {
      clearTimeout(timeout);
    }
    await reporter.close();

    const reason = controller.signal.aborted ? (controller.signal.reason as AbortReason) : null;
    if (reason === "CANCELLED" || reason === "LEASE_LOST") {
      log.info({ reason }, "job stopped; its row was already changed by someone else");
      return;
    }
    if (outcome.ok) {
      const json = JSON.stringify(outcome.result);
      if (Buffer.byteLength(json) > RESULT_LIMIT_BYTES) {
        await this.fail(job, new JobError("RESULT_TOO_LARGE", `The result is larger than ${RESULT_LIMIT_BYTES} bytes; processors store outputs as assets.`));
      } else {
        const completed = await this.complete(job, json);
        if (!completed) log.info("completed, but the job was cancelled or reclaimed meanwhile; result dropped");
      }
    } else if (reason === "SHUTDOWN") {
      await this.pool.query({ name: "spool_release", text: sql.release, values: [job.id, job.attempts] });
      log.info("released for another worker (shutdown)");
    } else if (reason === "TIMEOUT") {
      await this.fail(job, new JobError("JOB_TIMEOUT", `Attempt ${job.attempts} ran longer than ${processor.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms.`, { retryable: true }));
    } else {
      await this.fail(job, outcome.error);
    }
    if (job.parentId) await this.refreshParentSafely(job.parentId);
  }

  private async fail(job: Job, error: unknown): Promise<void> {
    const known = error instanceof JobError;
    const info = known
      ? { code: error.code, message: error.message }
      : { code: "PROCESSOR_ERROR", message: String((error as Error)?.message ?? error).slice(0, 2000) };
    if (!known) this.log.warn({ err: error, jobId: job.id }, "processor threw an unexpected error; retrying if attempts are left");
    const permanent = known && !error.retryable;
    const delay = retryDelayMs(job.attempts, this.random);
    await this.pool.query({ name: "spool_fail", text: sql.fail, values: [job.id, job.attempts, JSON.stringify(info), permanent, delay] });
  }

  /**
   * Completes a job. While the loop runs, the same statement also claims the job that
   * takes this one's slot (one commit per job instead of two); runOnce() claims nothing
   * extra, so a test step stays one step.
   */
  private async complete(job: Job, resultJson: string): Promise<boolean> {
    if (!this.loop || this.stopping) {
      const { rowCount } = await this.pool.query({ name: "spool_complete", text: sql.complete, values: [job.id, job.attempts, resultJson] });
      return rowCount === 1;
    }
    const { rows } = await this.pool.query({
      name: "spool_complete_and_claim",
      text: sql.completeAndClaim,
      values: [job.id, job.attempts, resultJson, this.workerId, 1, this.leaseMs, this.registry.types()],
    });
    for (const next of this.claimed(rows.filter((r) => r.id !== null))) this.launch(next);
    return rows[0]?.completed === 1;
  }

  private abortJob(jobId: string, reason: AbortReason): void {
    for (const r of this.running.values()) {
      if (r.job.id === jobId && !r.controller.signal.aborted) {
        this.log.info({ jobId, reason }, "aborting running job");
        r.controller.abort(reason);
      }
    }
  }

  private async heartbeat(): Promise<void> {
    const held = [...this.running.values()].filter((r) => !r.controller.signal.aborted);
    if (held.length === 0) return;
    try {
      const { rows } = await this.pool.query({ name: "spool_heartbeat", text: sql.heartbeat, values: [held.map((r) => r.job.id), held.map((r) => r.job.attempts), this.leaseMs] });
      const still = new Set(rows.map((r) => r.id as string));
      for (const r of held) if (!still.has(r.job.id)) this.abortJob(r.job.id, "LEASE_LOST");
    } catch (err) {
      this.log.warn({ err }, "heartbeat failed; leases may expire");
    }
  }

  /** Reclaims expired leases and repairs batch parents a crash left behind. */
  async sweep(): Promise<void> {
    try {
      const { rows } = await this.pool.query(sql.reclaimExpired, [100]);
      for (const r of rows) {
        this.log.warn({ jobId: r.id, attempt: r.attempts, status: r.status }, "reclaimed a job whose lease expired");
        if (r.parent_id) await this.refreshParentSafely(r.parent_id);
      }
      // Reclaimed jobs are claimable now; no NOTIFY says so.
      if (rows.some((r) => r.status === "QUEUED")) this.wake();
      const stale = await this.pool.query(sql.staleParents, [50]);
      for (const p of stale.rows) await this.refreshParentSafely(p.id);
    } catch (err) {
      this.log.error({ err }, "sweep failed");
    }
  }

  private async refreshParentSafely(parentId: string): Promise<void> {
    try {
      await refreshParent(this.pool, parentId);
    } catch (err) {
      // The sweeper repairs the parent later.
      this.log.warn({ err, parentId }, "batch parent refresh failed");
    }
  }
}

/** Resolves true if `p` settles within `ms`, false otherwise. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), ms); });
  try {
    return await Promise.race([p.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The processor's promise, except that once `signal` aborts, it waits at most `graceMs`
 * more: a processor that ignores its signal cannot hold a slot forever.
 */
function untilAbortedPlusGrace<T>(p: Promise<T>, signal: AbortSignal, graceMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      timer = setTimeout(() => reject(new JobError("ABORTED", `processor ignored abort (${String(signal.reason)})`)), graceMs);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    });
  });
}
