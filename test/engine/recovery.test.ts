// How work comes back after a worker goes away: a reclaimed job keeps its place in the
// queue, and an engine sweeps expired leases as soon as it starts.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { Engine } from "../../src/engine/engine.ts";
import * as sql from "../../src/engine/sql.ts";
import { ProcessorRegistry } from "../../src/processors/registry.ts";
import { getJob, submitJob } from "../../src/services/jobs.ts";
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
  const { rows } = await db.pool.query(sql.claim, ["crashed-worker", 1, 60_000, ["test.record"]]);
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
