// How work comes back after a worker goes away: a reclaimed job keeps its place in the
// queue, an engine sweeps expired leases as soon as it starts, and a job handed back at
// shutdown keeps its place and is not charged an attempt.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { Engine } from "../../src/engine/engine.ts";
import * as sql from "../../src/engine/sql.ts";
import { ProcessorRegistry } from "../../src/engine/registry.ts";
import { getJob, submitJob } from "../../src/services/jobs.ts";
import { Ffmpeg } from "../../src/tools/ffmpeg/ffmpeg.ts";
import { OcrPool } from "../../src/tools/ocr/pool.ts";
import { createTestApi } from "../graphql/api-helpers.ts";
import { createOrg, createTestDatabase, log, waitFor, type TestDb } from "../helpers.ts";

let db: TestDb;
let org: string;
const executions: Array<{ id: string; attempt: number }> = [];

const registry = new ProcessorRegistry()
  .register({
    type: "test.record",
    description: "records each execution",
    input: z.object({}),
    async run(job, ctx) {
      executions.push({ id: job.id, attempt: ctx.attempt });
      return null;
    },
  })
  .register({
    type: "test.hold",
    description: "runs until aborted, as a long job caught by a shutdown",
    input: z.object({}),
    async run(job, ctx) {
      executions.push({ id: job.id, attempt: ctx.attempt });
      await new Promise((_resolve, reject) => ctx.signal.addEventListener("abort", () => reject(new Error("aborted"))));
    },
  });

beforeAll(async () => {
  db = await createTestDatabase();
  org = (await createOrg(db)).id;
});
afterAll(async () => {
  await db.drop();
});
beforeEach(async () => {
  executions.length = 0;
  await db.pool.query(`update jobs set status = 'CANCELLED' where status in ('QUEUED','RUNNING')`);
});

/** A worker that claims `jobId` and then dies: its lease is already over. */
async function claimAndCrash(jobId: string): Promise<void> {
  const { rows } = await db.pool.query(sql.claim, ["crashed-worker", 1, 60_000, ["test.record", "test.hold"]]);
  expect(rows.map((r) => r.id)).toEqual([jobId]);
  await db.pool.query(`update jobs set lease_expires_at = now() - interval '1 second' where id = $1`, [jobId]);
}

describe("a crashed worker's job", () => {
  it("keeps its place in the queue: it runs before the jobs queued after it was claimed", async () => {
    const { job: first } = await submitJob(db.pool, registry, org, { type: "test.record", input: {} });
    // Controlled time: the first job was queued a minute before the others.
    await db.pool.query(`update jobs set run_at = now() - interval '1 minute' where id = $1`, [first.id]);
    await claimAndCrash(first.id);
    const later = [];
    for (let i = 0; i < 3; i++) later.push((await submitJob(db.pool, registry, org, { type: "test.record", input: {} })).job.id);

    const engine = new Engine({ pool: db.pool, registry, log, concurrency: 1 });
    await engine.runOnce(); // sweeps (reclaims the first job), then claims one job
    expect(executions).toEqual([{ id: first.id, attempt: 2 }]);
    await engine.drain();
    expect(executions.map((e) => e.id)).toEqual([first.id, ...later]);
  });

  it("is reclaimed by an engine as it starts, before its first sweep or poll interval", async () => {
    const { job } = await submitJob(db.pool, registry, org, { type: "test.record", input: {} });
    await claimAndCrash(job.id);
    // Intervals far longer than the test waits: only a sweep at start can pick the job up.
    const engine = new Engine({ pool: db.pool, registry, log, concurrency: 1, sweepMs: 600_000, pollMs: 600_000 });
    engine.start();
    try {
      await waitFor(async () => (await getJob(db.pool, org, job.id)).status === "SUCCEEDED", "the job to be reclaimed and run", 15_000);
    } finally {
      await engine.stop(1_000);
    }
    expect(await getJob(db.pool, org, job.id)).toMatchObject({ status: "SUCCEEDED", attempts: 2 });
    expect(executions).toEqual([{ id: job.id, attempt: 2 }]);
  });
});

describe("a job released at shutdown", () => {
  it("keeps its place and its attempts: with maxAttempts 2 it survives a release and one crash, and fails at the second crash", async () => {
    const { job } = await submitJob(db.pool, registry, org, { type: "test.hold", input: {}, maxAttempts: 2 });
    const engine = new Engine({ pool: db.pool, registry, log, concurrency: 1, abortGraceMs: 100 });
    engine.start();
    await waitFor(async () => executions.some((e) => e.id === job.id), "the job to start");
    const later = (await submitJob(db.pool, registry, org, { type: "test.record", input: {} })).job;
    await engine.stop(50); // a grace far shorter than the job: it is aborted and released
    expect(await getJob(db.pool, org, job.id)).toMatchObject({ status: "QUEUED", attempts: 1, lockedBy: null });

    // Attempt 2 runs first (the job queued meanwhile waits), and its worker crashes: one
    // attempt of two is used up, so the job goes back to the queue.
    await claimAndCrash(job.id);
    const sweeper = new Engine({ pool: db.pool, registry, log, concurrency: 1 });
    await sweeper.sweep();
    expect(await getJob(db.pool, org, job.id)).toMatchObject({ status: "QUEUED", attempts: 2, error: { code: "WORKER_LOST" } });
    expect((await getJob(db.pool, org, later.id)).status).toBe("QUEUED");

    // Attempt 3 crashes as well: that was the second charged attempt.
    await claimAndCrash(job.id);
    await sweeper.sweep();
    expect(await getJob(db.pool, org, job.id)).toMatchObject({ status: "FAILED", attempts: 3, error: { code: "WORKER_LOST" } });
    const statuses = (await db.pool.query(`select data from job_events where job_id = $1 and kind = 'STATUS' order by id`, [job.id])).rows.map((r) => r.data);
    expect(statuses.map((d) => [d.status, d.attempt, d.reason ?? d.error?.code ?? null])).toEqual([
      ["QUEUED", 0, null], ["RUNNING", 1, null], ["QUEUED", 1, "released at shutdown"],
      ["RUNNING", 2, null], ["QUEUED", 2, "WORKER_LOST"], ["RUNNING", 3, null], ["FAILED", 3, "WORKER_LOST"],
    ]);
  });
});

describe("default attempts", () => {
  it("every job type a client can submit gets at least 3 attempts, so two worker crashes do not fail it for good", async () => {
    const ocr = new OcrPool({ size: 1 }); // never started: no page is read here
    const api = await createTestApi(db, { ffmpeg: await Ffmpeg.resolve({}), ocr });
    try {
      const { key } = await api.tenant();
      const r = await api.gql(`{ jobTypes { type maxAttempts } }`, {}, key);
      const types: Array<{ type: string; maxAttempts: number }> = r.data.jobTypes;
      expect(types.map((t) => t.type)).toEqual(expect.arrayContaining(["video.transcode", "media.streaming", "document.process", "document.extractText"]));
      expect(types.filter((t) => t.maxAttempts < 3)).toEqual([]);
    } finally {
      await api.close();
      await ocr.close();
    }
  });
});
