// Cancellation (queued and running, with a real child process), retrying finished jobs,
// batch parents derived from their children, and progress coalescing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { Engine } from "../../src/engine/engine.ts";
import { JobError } from "../../src/errors.ts";
import { ProcessorRegistry } from "../../src/engine/registry.ts";
import { PgListener } from "../../src/pubsub/pg-listener.ts";
import { cancelJob, getJob, retryJob, submitBatch, submitJob } from "../../src/services/jobs.ts";
import { runProcess } from "./process-group.ts";
import { createOrg, createTestDatabase, isProcessAlive, log, waitFor, type TestDb } from "../helpers.ts";

let db: TestDb;
let org: string;
let otherOrg: string;
let listener: PgListener;
const childPids = new Map<string, number>();

const registry = new ProcessorRegistry()
  .register({
    type: "test.spawn",
    description: "runs `sh -c 'sleep 60 & sleep 60'` (a child with a grandchild), then claims success",
    input: z.object({}),
    async run(job, ctx) {
      await runProcess("sh", ["-c", "sleep 60 & sleep 60; wait"], { signal: ctx.signal, onSpawn: (pid) => childPids.set(job.id, pid) }).catch(() => undefined);
      // Even a processor that swallows the abort and reports success cannot un-cancel.
      return { finished: true };
    },
  })
  .register({
    type: "test.ok",
    description: "succeeds",
    input: z.object({ fail: z.boolean().default(false) }),
    async run(job) {
      if (job.input.fail) throw new JobError("TRANSCODING_FAILED", "child failed on purpose");
      return { ok: true };
    },
  })
  .register({
    type: "test.chatty",
    description: "reports progress 2000 times",
    input: z.object({}),
    async run(_job, ctx) {
      for (let i = 1; i <= 2000; i++) {
        ctx.progress(i / 2000);
        if (i % 100 === 0) await new Promise((r) => setTimeout(r, 20));
      }
      return null;
    },
  });

beforeAll(async () => {
  db = await createTestDatabase();
  org = (await createOrg(db)).id;
  otherOrg = (await createOrg(db)).id;
  listener = new PgListener(db.url, log);
  await listener.start();
});
afterAll(async () => {
  await listener.stop();
  await db.drop();
});

describe("cancellation", () => {
  it("cancels a QUEUED job at once; it is never claimed", async () => {
    const { job } = await submitJob(db.pool, registry, org, { type: "test.ok", input: {} });
    const cancelled = await cancelJob(db.pool, org, job.id);
    expect(cancelled).toMatchObject({ status: "CANCELLED" });
    expect(cancelled.finishedAt).toBeInstanceOf(Date);
    expect(await new Engine({ pool: db.pool, registry, log, concurrency: 2 }).runOnce()).toBe(0);
  });

  it("aborts a RUNNING job: its child processes are killed and it ends CANCELLED, never SUCCEEDED", async () => {
    const engine = new Engine({ pool: db.pool, registry, log, listener, concurrency: 1, pollMs: 50 });
    const { job } = await submitJob(db.pool, registry, org, { type: "test.spawn", input: {} });
    engine.start();
    try {
      const pid = await waitFor(async () => childPids.get(job.id), "the processor to spawn its child");
      const grandchildren = await waitFor(async () => {
        const { stdout } = await runProcess("pgrep", ["-g", String(pid)]);
        const pids = stdout.trim().split("\n").filter(Boolean).map(Number);
        return pids.length >= 2 ? pids : null;
      }, "the child's own children");
      expect((await getJob(db.pool, org, job.id)).status).toBe("RUNNING");

      expect((await cancelJob(db.pool, org, job.id)).status).toBe("CANCELLED");
      await waitFor(async () => grandchildren.every((p) => !isProcessAlive(p)), "the process group to be gone", 5_000);
      await waitFor(async () => engine.runningCount === 0, "the slot to come free");
      const after = await getJob(db.pool, org, job.id);
      expect(after).toMatchObject({ status: "CANCELLED", result: null });
      const statuses = (await db.pool.query(`select data->>'status' as s from job_events where job_id = $1 and kind = 'STATUS' order by id`, [job.id])).rows.map((r) => r.s);
      expect(statuses).toEqual(["QUEUED", "RUNNING", "CANCELLED"]);
    } finally {
      await engine.stop(2_000);
    }
  });

  it("refuses to cancel a finished job (CONFLICT) or another organization's (NOT_FOUND)", async () => {
    const { job } = await submitJob(db.pool, registry, org, { type: "test.ok", input: {} });
    await new Engine({ pool: db.pool, registry, log, concurrency: 4 }).drain();
    await expect(cancelJob(db.pool, org, job.id)).rejects.toMatchObject({ code: "CONFLICT" });
    const { job: queued } = await submitJob(db.pool, registry, org, { type: "test.ok", input: {} });
    await expect(cancelJob(db.pool, otherOrg, queued.id)).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect((await getJob(db.pool, org, queued.id)).status).toBe("QUEUED");
  });
});

describe("retryJob", () => {
  it("runs a FAILED job again with a fresh attempt budget; a QUEUED one is a CONFLICT", async () => {
    const engine = new Engine({ pool: db.pool, registry, log, concurrency: 1 });
    const { job } = await submitJob(db.pool, registry, org, { type: "test.ok", input: { fail: true } });
    await engine.drain();
    expect(await getJob(db.pool, org, job.id)).toMatchObject({ status: "FAILED", attempts: 1 });

    // Make it succeed this time by fixing its input in place (as an operator would).
    await db.pool.query(`update jobs set input = '{"fail": false}' where id = $1`, [job.id]);
    const retried = await retryJob(db.pool, org, job.id);
    expect(retried).toMatchObject({ status: "QUEUED", attempts: 1, maxAttempts: 4, error: null, finishedAt: null });
    await engine.drain();
    expect(await getJob(db.pool, org, job.id)).toMatchObject({ status: "SUCCEEDED", attempts: 2 });

    const { job: q } = await submitJob(db.pool, registry, org, { type: "test.ok", input: {} });
    await expect(retryJob(db.pool, org, q.id)).rejects.toMatchObject({ code: "CONFLICT" });
    await expect(retryJob(db.pool, otherOrg, job.id)).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});

describe("batches", () => {
  it("derives the parent's status and progress from its children", async () => {
    await db.pool.query(`update jobs set status = 'CANCELLED' where status = 'QUEUED'`);
    const { job: parent, children } = await submitBatch(db.pool, registry, org, {
      jobs: [{ type: "test.ok", input: {} }, { type: "test.ok", input: {} }, { type: "test.ok", input: {} }],
      metadata: { order: "A-1" },
    });
    expect(children).toHaveLength(3);
    expect(children.every((c) => c.parentId === parent.id)).toBe(true);
    expect(parent).toMatchObject({ type: "batch", status: "QUEUED", metadata: { order: "A-1" } });

    const engine = new Engine({ pool: db.pool, registry, log, concurrency: 1 });
    await engine.runOnce();
    const mid = await getJob(db.pool, org, parent.id);
    expect(mid.status).toBe("RUNNING");
    expect(mid.progress).toBeCloseTo(1 / 3, 5);

    await engine.drain();
    const done = await getJob(db.pool, org, parent.id);
    expect(done).toMatchObject({ status: "SUCCEEDED", progress: 1 });
    expect(done.finishedAt).toBeInstanceOf(Date);
    const statuses = (await db.pool.query(`select data->>'status' as s from job_events where job_id = $1 and kind = 'STATUS' order by id`, [parent.id])).rows.map((r) => r.s);
    expect(statuses).toEqual(["QUEUED", "RUNNING", "SUCCEEDED"]);
  });

  it("fails the parent when a child fails for good, once every child is finished", async () => {
    const { job: parent } = await submitBatch(db.pool, registry, org, {
      jobs: [{ type: "test.ok", input: { fail: true } }, { type: "test.ok", input: {} }],
    });
    await new Engine({ pool: db.pool, registry, log, concurrency: 2 }).drain();
    expect(await getJob(db.pool, org, parent.id)).toMatchObject({ status: "FAILED", error: { code: "BATCH_JOB_FAILED" } });
  });

  it("cancels every unfinished child with the parent", async () => {
    const { job: parent, children } = await submitBatch(db.pool, registry, org, {
      jobs: [{ type: "test.ok", input: {} }, { type: "test.ok", input: {} }],
    });
    await cancelJob(db.pool, org, parent.id);
    for (const c of children) expect((await getJob(db.pool, org, c.id)).status).toBe("CANCELLED");
    expect((await getJob(db.pool, org, parent.id)).status).toBe("CANCELLED");
  });

  it("refuses an empty batch or a bad child with INVALID_INPUT, inserting nothing", async () => {
    const before = (await db.pool.query(`select count(*)::int as n from jobs`)).rows[0].n;
    await expect(submitBatch(db.pool, registry, org, { jobs: [] })).rejects.toMatchObject({ code: "INVALID_INPUT" });
    await expect(
      submitBatch(db.pool, registry, org, { jobs: [{ type: "test.ok", input: {} }, { type: "test.ok", input: { fail: "no" } }] }),
    ).rejects.toMatchObject({ code: "INVALID_INPUT", message: expect.stringContaining("jobs[1]") });
    expect((await db.pool.query(`select count(*)::int as n from jobs`)).rows[0].n).toBe(before);
  });

  it("repairs a parent left behind by a crash between a child's finish and the parent's refresh", async () => {
    const { job: parent, children } = await submitBatch(db.pool, registry, org, { jobs: [{ type: "test.ok", input: {} }] });
    // The child finished, but nobody refreshed the parent (the worker died in between).
    await db.pool.query(`update jobs set status = 'SUCCEEDED', finished_at = now() where id = $1`, [children[0]!.id]);
    expect((await getJob(db.pool, org, parent.id)).status).toBe("QUEUED");
    await new Engine({ pool: db.pool, registry, log, concurrency: 1 }).sweep();
    expect(await getJob(db.pool, org, parent.id)).toMatchObject({ status: "SUCCEEDED", progress: 1 });
  });
});

describe("progress", () => {
  it("coalesces thousands of reports into a few writes and keeps the last value", async () => {
    const { job } = await submitJob(db.pool, registry, org, { type: "test.chatty", input: {} });
    await new Engine({ pool: db.pool, registry, log, concurrency: 1, progressIntervalMs: 250 }).drain();
    const { rows } = await db.pool.query(`select (data->>'progress')::float8 as p from job_events where job_id = $1 and kind = 'PROGRESS' order by id`, [job.id]);
    // 2000 reports over ~400 ms of work: one write per 250 ms window plus the final flush.
    expect(rows.length).toBeGreaterThanOrEqual(1);
    expect(rows.length).toBeLessThanOrEqual(6);
    expect(rows.at(-1)!.p).toBe(1);
    expect(rows.map((r) => r.p)).toEqual([...rows.map((r) => r.p)].sort((a, b) => a - b));
  });
});
