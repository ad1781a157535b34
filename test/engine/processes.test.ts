// Real `spool worker` processes (src/bin.js, the product's registry) against a test
// database: a worker SIGKILLed mid-job whose job another process completes; graceful
// shutdown that releases a running job, without charging it an attempt; a second signal
// that exits at once.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../src/engine/engine.ts";
import { createRegistry } from "../../src/app.ts";
import type { ProcessorRegistry } from "../../src/engine/registry.ts";
import { getJob, submitJob } from "../../src/services/jobs.ts";
import { createOrg, createTestDatabase, isProcessAlive, log, waitFor, type TestDb } from "../helpers.ts";

const BIN = fileURLToPath(new URL("../../src/bin.js", import.meta.url));
let registry: ProcessorRegistry;
let db: TestDb;
let org: string;
const children: ChildProcess[] = [];

function spoolWorker(env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [BIN, "worker"], {
    env: { ...process.env, DATABASE_URL: db.url, SPOOL_LEASE_MS: "2000", SPOOL_CONCURRENCY: "2", SPOOL_LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  children.push(child);
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  return { child, exited, output: () => output };
}

/** Finished jobs from long ago: system.cleanup with batchSize 1 takes a few seconds on them. */
async function seedOldJobs(n: number) {
  await db.pool.query(
    `insert into jobs (organization_id, type, status, input, finished_at, created_at)
     select $1, 'test.old', 'SUCCEEDED', '{}', now() - interval '30 days', now() - interval '30 days' from generate_series(1, $2)`,
    [org, n],
  );
}

beforeAll(async () => {
  db = await createTestDatabase();
  registry = createRegistry({ pool: db.pool });
  org = (await createOrg(db)).id;
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  await db.drop();
});

describe("a real spool worker process", () => {
  it("is SIGKILLed mid-job; another process reclaims the job after its lease and completes it", async () => {
    await seedOldJobs(2500);
    const { job } = await submitJob(db.pool, registry, org, { type: "system.cleanup", input: { maxAgeSeconds: 86_400, batchSize: 1 } });
    const worker = spoolWorker();
    await waitFor(async () => {
      const j = await getJob(db.pool, org, job.id);
      return j.status === "RUNNING" && j.progress > 0.02;
    }, "the worker to be mid-job", 30_000);
    const mid = await getJob(db.pool, org, job.id);
    expect(mid.lockedBy).toContain(`:${worker.child.pid}:`);

    worker.child.kill("SIGKILL");
    expect((await worker.exited).signal).toBe("SIGKILL");
    expect(isProcessAlive(worker.child.pid!)).toBe(false);
    const orphaned = await getJob(db.pool, org, job.id);
    expect(orphaned).toMatchObject({ status: "RUNNING", attempts: 1 });

    // Another process (this one) sweeps until the lease has expired, then runs attempt 2.
    const rescuer = new Engine({ pool: db.pool, registry, log, concurrency: 1 });
    await waitFor(async () => (await rescuer.runOnce()) > 0, "the expired lease to be reclaimed and run", 30_000, 250);
    const done = await getJob(db.pool, org, job.id);
    expect(done).toMatchObject({ status: "SUCCEEDED", attempts: 2 });
    expect((await db.pool.query(`select count(*)::int as n from jobs where type = 'test.old'`)).rows[0].n).toBe(0);
    const statuses = (await db.pool.query(`select data from job_events where job_id = $1 and kind = 'STATUS' order by id`, [job.id])).rows.map((r) => r.data);
    expect(statuses.map((d) => d.status)).toEqual(["QUEUED", "RUNNING", "QUEUED", "RUNNING", "SUCCEEDED"]);
    expect(statuses[2].error.code).toBe("WORKER_LOST");
  });

  it("on SIGTERM finishes nothing new, aborts the running job after the grace period and releases it", async () => {
    await seedOldJobs(2500);
    const { job } = await submitJob(db.pool, registry, org, { type: "system.cleanup", input: { maxAgeSeconds: 86_400, batchSize: 1 } });
    const worker = spoolWorker({ SPOOL_SHUTDOWN_GRACE_MS: "300" });
    await waitFor(async () => {
      const j = await getJob(db.pool, org, job.id);
      return j.status === "RUNNING" && j.progress > 0.02;
    }, "the worker to be mid-job", 30_000);
    worker.child.kill("SIGTERM");
    const exit = await worker.exited;
    expect(exit.code, worker.output()).toBe(0);
    const released = await getJob(db.pool, org, job.id);
    expect(released).toMatchObject({ status: "QUEUED", attempts: 1, lockedBy: null });
    const last = (await db.pool.query(`select data from job_events where job_id = $1 and kind = 'STATUS' order by id desc limit 1`, [job.id])).rows[0].data;
    expect(last).toMatchObject({ status: "QUEUED", reason: "released at shutdown" });

    // Released, not failed: the next worker runs it to the end at once.
    await new Engine({ pool: db.pool, registry, log, concurrency: 1 }).runOnce();
    expect(await getJob(db.pool, org, job.id)).toMatchObject({ status: "SUCCEEDED", attempts: 2 });
  });

  it("does not charge a release: released at SIGTERM, then SIGKILLed with maxAttempts 2, the job is retried, not FAILED", async () => {
    await seedOldJobs(2500);
    const { job } = await submitJob(db.pool, registry, org, { type: "system.cleanup", input: { maxAgeSeconds: 86_400, batchSize: 1 }, maxAttempts: 2 });
    const midJob = async () => {
      const j = await getJob(db.pool, org, job.id);
      return j.status === "RUNNING" && j.progress > 0.02;
    };
    const first = spoolWorker({ SPOOL_SHUTDOWN_GRACE_MS: "300" });
    await waitFor(midJob, "the first worker to be mid-job", 30_000);
    first.child.kill("SIGTERM");
    expect((await first.exited).code, first.output()).toBe(0);
    expect(await getJob(db.pool, org, job.id)).toMatchObject({ status: "QUEUED", attempts: 1 });

    const second = spoolWorker();
    await waitFor(async () => (await midJob()) && (await getJob(db.pool, org, job.id)).attempts === 2, "the second worker to be mid-job", 30_000);
    second.child.kill("SIGKILL");
    await second.exited;

    // One crash of two allowed attempts: the sweep puts the job back in the queue.
    const rescuer = new Engine({ pool: db.pool, registry, log, concurrency: 1 });
    await waitFor(async () => {
      await rescuer.sweep();
      return (await getJob(db.pool, org, job.id)).status !== "RUNNING";
    }, "the expired lease to be reclaimed", 30_000, 250);
    expect(await getJob(db.pool, org, job.id)).toMatchObject({ status: "QUEUED", attempts: 2, error: { code: "WORKER_LOST" } });
    await rescuer.runOnce();
    expect(await getJob(db.pool, org, job.id)).toMatchObject({ status: "SUCCEEDED", attempts: 3 });
    const statuses = (await db.pool.query(`select data from job_events where job_id = $1 and kind = 'STATUS' order by id`, [job.id])).rows.map((r) => r.data);
    expect(statuses.map((d) => d.status)).toEqual(["QUEUED", "RUNNING", "QUEUED", "RUNNING", "QUEUED", "RUNNING", "SUCCEEDED"]);
    expect(statuses[4].error.code).toBe("WORKER_LOST");
  });

  it("exits at once on a second signal", async () => {
    await seedOldJobs(2500);
    const { job } = await submitJob(db.pool, registry, org, { type: "system.cleanup", input: { maxAgeSeconds: 86_400, batchSize: 1 } });
    const worker = spoolWorker({ SPOOL_SHUTDOWN_GRACE_MS: "60000" });
    await waitFor(async () => (await getJob(db.pool, org, job.id)).status === "RUNNING", "the worker to start the job", 30_000);
    worker.child.kill("SIGTERM");
    await waitFor(async () => worker.output().includes("shutting down"), "the first signal to be logged");
    worker.child.kill("SIGTERM");
    const exit = await worker.exited;
    expect(exit.code).toBe(130);
    expect(worker.output()).toContain("second signal");
  });
});
