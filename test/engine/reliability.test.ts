// What keeps jobs from being lost or run twice: retries with backoff, permanent failures,
// timeouts, leases that expire and are reclaimed, attempt fencing, heartbeats, and two
// engines racing for the same queue.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { BACKOFF_BASE_MS, retryDelayMs } from "../../src/engine/backoff.ts";
import { Engine } from "../../src/engine/engine.ts";
import { JobError } from "../../src/errors.ts";
import { ProcessorRegistry } from "../../src/engine/registry.ts";
import { getJob, submitJob } from "../../src/services/jobs.ts";
import { createOrg, createTestDatabase, log, waitFor, type TestDb } from "../helpers.ts";

let db: TestDb;
let org: string;

/** A gate a test opens to let a blocked processor return. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}
const gates = new Map<string, ReturnType<typeof gate>>();
const executions: Array<{ id: string; attempt: number }> = [];

const registry = new ProcessorRegistry()
  .register({
    type: "test.flaky",
    description: "fails the first `failures` attempts",
    input: z.object({ failures: z.number().int(), permanent: z.boolean().default(false) }),
    async run(job, ctx) {
      if (ctx.attempt <= job.input.failures) {
        if (job.input.permanent) throw new JobError("DOCUMENT_CORRUPTED", "this file can never be processed");
        throw new Error(`transient failure on attempt ${ctx.attempt}`);
      }
      return { attempt: ctx.attempt };
    },
  })
  .register({
    type: "test.slow",
    description: "waits for its abort signal",
    input: z.object({}),
    timeoutMs: 150,
    async run(_job, ctx) {
      await new Promise((_resolve, reject) => ctx.signal.addEventListener("abort", () => reject(new Error("aborted"))));
    },
  })
  .register({
    type: "test.gated",
    description: "blocks until the test opens its gate, then reports and returns",
    input: z.object({ gate: z.string(), report: z.boolean().default(true) }),
    async run(job, ctx) {
      executions.push({ id: job.id, attempt: ctx.attempt });
      await gates.get(job.input.gate)!.opened;
      if (job.input.report) {
        ctx.progress(0.9);
        await ctx.stage("late");
      }
      return { by: ctx.attempt };
    },
  })
  .register({
    type: "test.count",
    description: "records each execution",
    input: z.object({}),
    async run(job, ctx) {
      executions.push({ id: job.id, attempt: ctx.attempt });
      await new Promise((r) => setTimeout(r, Math.random() * 3));
      return null;
    },
  });

beforeAll(async () => {
  db = await createTestDatabase();
  org = (await createOrg(db)).id;
});
afterAll(async () => {
  await db.drop();
});

/** Time control for backoff: make every queued job's run_at due now. */
async function fastForward() {
  await db.pool.query(`update jobs set run_at = now() where status = 'QUEUED'`);
}

describe("retries and backoff", () => {
  it("computes exponential delays with bounded jitter", () => {
    expect(retryDelayMs(1, () => 0)).toBe(BACKOFF_BASE_MS / 2);
    expect(retryDelayMs(1, () => 1)).toBe(BACKOFF_BASE_MS);
    expect(retryDelayMs(3, () => 0.5)).toBe(BACKOFF_BASE_MS * 4 * 0.75);
    expect(retryDelayMs(40, () => 1)).toBe(60 * 60_000); // capped at an hour
  });

  it("re-queues a failed attempt with a later run_at, then succeeds", async () => {
    const engine = new Engine({ pool: db.pool, registry, log, concurrency: 1, random: () => 0.5 });
    const { job } = await submitJob(db.pool, registry, org, { type: "test.flaky", input: { failures: 2 } });

    const before = Date.now();
    await engine.runOnce();
    let now = await getJob(db.pool, org, job.id);
    expect(now).toMatchObject({ status: "QUEUED", attempts: 1, error: { code: "PROCESSOR_ERROR", message: "transient failure on attempt 1" } });
    const expected = retryDelayMs(1, () => 0.5);
    expect(now.runAt.getTime() - before).toBeGreaterThanOrEqual(expected - 50);
    expect(now.runAt.getTime() - before).toBeLessThan(expected + 2_000);
    expect(await engine.runOnce()).toBe(0); // not due yet

    await fastForward();
    await engine.runOnce();
    now = await getJob(db.pool, org, job.id);
    expect(now).toMatchObject({ status: "QUEUED", attempts: 2 });

    await fastForward();
    await engine.runOnce();
    now = await getJob(db.pool, org, job.id);
    expect(now).toMatchObject({ status: "SUCCEEDED", attempts: 3, result: { attempt: 3 }, error: null });

    const statuses = (await db.pool.query(`select data from job_events where job_id = $1 and kind = 'STATUS' order by id`, [job.id])).rows.map((r) => r.data.status);
    expect(statuses).toEqual(["QUEUED", "RUNNING", "QUEUED", "RUNNING", "QUEUED", "RUNNING", "SUCCEEDED"]);
  });

  it("fails for good after maxAttempts", async () => {
    const engine = new Engine({ pool: db.pool, registry, log, concurrency: 1 });
    const { job } = await submitJob(db.pool, registry, org, { type: "test.flaky", input: { failures: 99 }, maxAttempts: 2 });
    await engine.runOnce();
    await fastForward();
    await engine.runOnce();
    const now = await getJob(db.pool, org, job.id);
    expect(now).toMatchObject({ status: "FAILED", attempts: 2, error: { code: "PROCESSOR_ERROR" } });
    expect(now.finishedAt).toBeInstanceOf(Date);
    await fastForward();
    expect(await engine.runOnce()).toBe(0);
  });

  it("fails at once, without retry, when the processor says the error is permanent", async () => {
    const engine = new Engine({ pool: db.pool, registry, log, concurrency: 1 });
    const { job } = await submitJob(db.pool, registry, org, { type: "test.flaky", input: { failures: 1, permanent: true }, maxAttempts: 5 });
    await engine.runOnce();
    expect(await getJob(db.pool, org, job.id)).toMatchObject({
      status: "FAILED", attempts: 1, error: { code: "DOCUMENT_CORRUPTED", message: "this file can never be processed" },
    });
  });

  it("aborts an attempt that outlives its type's timeout and fails it with JOB_TIMEOUT (retryable)", async () => {
    const engine = new Engine({ pool: db.pool, registry, log, concurrency: 1 });
    const { job } = await submitJob(db.pool, registry, org, { type: "test.slow", input: {}, maxAttempts: 2 });
    await engine.runOnce();
    expect(await getJob(db.pool, org, job.id)).toMatchObject({ status: "QUEUED", attempts: 1, error: { code: "JOB_TIMEOUT" } });
    await fastForward();
    await engine.runOnce();
    expect(await getJob(db.pool, org, job.id)).toMatchObject({ status: "FAILED", attempts: 2, error: { code: "JOB_TIMEOUT" } });
  });
});

describe("leases and fencing", () => {
  it("reclaims a job whose worker froze, and rejects the frozen worker's late writes", async () => {
    const g = gate();
    gates.set("frozen", g);
    // Worker A: no heartbeat runs under runOnce(), as if the process were frozen.
    const a = new Engine({ pool: db.pool, registry, log, concurrency: 1, leaseMs: 60_000 });
    const b = new Engine({ pool: db.pool, registry, log, concurrency: 1, leaseMs: 60_000 });
    const { job } = await submitJob(db.pool, registry, org, { type: "test.gated", input: { gate: "frozen" } });

    const aRun = a.runOnce();
    await waitFor(async () => executions.some((e) => e.id === job.id), "worker A to start");
    expect((await getJob(db.pool, org, job.id)).lockedBy).toBe(a.workerId);

    // A's lease runs out (the clock, not the test, decides when: we move the expiry).
    await db.pool.query(`update jobs set lease_expires_at = now() - interval '1 second' where id = $1`, [job.id]);
    const bRun = b.runOnce(); // sweeps first: reclaims, then claims attempt 2
    await waitFor(async () => executions.some((e) => e.id === job.id && e.attempt === 2), "worker B to start attempt 2");
    const reclaimed = await getJob(db.pool, org, job.id);
    expect(reclaimed).toMatchObject({ status: "RUNNING", attempts: 2, lockedBy: b.workerId });

    // Both finish; A finishes first, but its attempt 1 no longer owns the row.
    g.open();
    await aRun;
    const afterA = await getJob(db.pool, org, job.id);
    expect(afterA).toMatchObject({ status: "RUNNING", attempts: 2, stage: null, progress: 0 });
    await bRun;
    expect(await getJob(db.pool, org, job.id)).toMatchObject({ status: "SUCCEEDED", attempts: 2, result: { by: 2 }, stage: "late" });

    const statuses = (await db.pool.query(`select data from job_events where job_id = $1 and kind = 'STATUS' order by id`, [job.id])).rows.map((r) => r.data);
    expect(statuses.map((d) => d.status)).toEqual(["QUEUED", "RUNNING", "QUEUED", "RUNNING", "SUCCEEDED"]);
    expect(statuses[2].error.code).toBe("WORKER_LOST");
    const late = (await db.pool.query(`select count(*)::int as n from job_events where job_id = $1 and (data->>'attempt')::int = 1 and kind <> 'STATUS'`, [job.id])).rows[0].n;
    expect(late).toBe(0);
  });

  it("rejects a frozen worker's completion even when it reports nothing first", async () => {
    // Without a progress or stage write, nothing tells worker A it lost the job: only the
    // attempt fence on the completing statement stands between A and B's job.
    const g = gate();
    gates.set("silent", g);
    const a = new Engine({ pool: db.pool, registry, log, concurrency: 1, leaseMs: 60_000 });
    const { job } = await submitJob(db.pool, registry, org, { type: "test.gated", input: { gate: "silent", report: false } });
    const aRun = a.runOnce();
    await waitFor(async () => executions.some((e) => e.id === job.id), "worker A to start");
    await db.pool.query(`update jobs set lease_expires_at = now() - interval '1 second' where id = $1`, [job.id]);
    await new Engine({ pool: db.pool, registry, log, concurrency: 1 }).sweep();
    // B claims attempt 2 (and is itself still running it when A finishes).
    await db.pool.query(`update jobs set status = 'RUNNING', attempts = attempts + 1, lease_expires_at = now() + interval '1 minute' where id = $1`, [job.id]);
    g.open();
    await aRun;
    expect(await getJob(db.pool, org, job.id)).toMatchObject({ status: "RUNNING", attempts: 2, result: null });
  });

  it("fails a job with WORKER_LOST when the lost attempt was its last", async () => {
    const g = gate();
    gates.set("last", g);
    const a = new Engine({ pool: db.pool, registry, log, concurrency: 1, leaseMs: 60_000 });
    const { job } = await submitJob(db.pool, registry, org, { type: "test.gated", input: { gate: "last" }, maxAttempts: 1 });
    const aRun = a.runOnce();
    await waitFor(async () => executions.some((e) => e.id === job.id), "worker A to start");
    await db.pool.query(`update jobs set lease_expires_at = now() - interval '1 second' where id = $1`, [job.id]);
    await new Engine({ pool: db.pool, registry, log, concurrency: 1 }).sweep();
    expect(await getJob(db.pool, org, job.id)).toMatchObject({ status: "FAILED", attempts: 1, error: { code: "WORKER_LOST" } });
    g.open();
    await aRun;
    expect((await getJob(db.pool, org, job.id)).status).toBe("FAILED");
  });

  it("keeps a long job's lease alive by heartbeat, so no other worker reclaims it", async () => {
    const g = gate();
    gates.set("heartbeat", g);
    const a = new Engine({ pool: db.pool, registry, log, concurrency: 1, leaseMs: 1_000, pollMs: 50 });
    const b = new Engine({ pool: db.pool, registry, log, concurrency: 1, leaseMs: 1_000 });
    const { job } = await submitJob(db.pool, registry, org, { type: "test.gated", input: { gate: "heartbeat" } });
    a.start();
    try {
      await waitFor(async () => (await getJob(db.pool, org, job.id)).status === "RUNNING", "A to claim");
      const first = (await getJob(db.pool, org, job.id)).leaseExpiresAt!.getTime();
      // Three lease lengths later, B's sweeps still find nothing to reclaim.
      for (let i = 0; i < 6; i++) {
        await new Promise((r) => setTimeout(r, 500));
        await b.sweep();
      }
      const now = await getJob(db.pool, org, job.id);
      expect(now).toMatchObject({ status: "RUNNING", attempts: 1, lockedBy: a.workerId });
      expect(now.leaseExpiresAt!.getTime()).toBeGreaterThan(first);
      g.open();
      await waitFor(async () => (await getJob(db.pool, org, job.id)).status === "SUCCEEDED", "A to finish");
    } finally {
      g.open();
      await a.stop(5_000);
    }
  });
});

describe("two engines racing", () => {
  it("runs each of 500 jobs exactly once", async () => {
    executions.length = 0;
    await db.pool.query(`update jobs set status = 'CANCELLED' where status in ('QUEUED','RUNNING')`);
    const ids = new Set<string>();
    for (let i = 0; i < 500; i += 50) {
      const batch = await Promise.all(Array.from({ length: 50 }, () => submitJob(db.pool, registry, org, { type: "test.count", input: {} })));
      for (const r of batch) ids.add(r.job.id);
    }
    const a = new Engine({ pool: db.pool, registry, log, concurrency: 4, pollMs: 20 });
    const b = new Engine({ pool: db.pool, registry, log, concurrency: 4, pollMs: 20 });
    a.start();
    b.start();
    try {
      await waitFor(async () => {
        const { rows } = await db.pool.query(`select count(*)::int as n from jobs where id = any($1) and status = 'SUCCEEDED'`, [[...ids]]);
        return rows[0].n === 500;
      }, "500 jobs to succeed", 60_000, 100);
    } finally {
      await Promise.all([a.stop(5_000), b.stop(5_000)]);
    }
    const mine = executions.filter((e) => ids.has(e.id));
    expect(mine).toHaveLength(500);
    expect(new Set(mine.map((e) => e.id)).size).toBe(500);
    expect(mine.every((e) => e.attempt === 1)).toBe(true);
    const workers = await db.pool.query(`select count(distinct (data->>'attempt')) as a from job_events where job_id = any($1) and kind = 'STATUS' and data->>'status' = 'RUNNING'`, [[...ids]]);
    expect(Number(workers.rows[0].a)).toBe(1);
  });
});
