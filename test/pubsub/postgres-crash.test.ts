// A Postgres crash after subscribers were told: a terminal state that was announced must
// survive it. The engine pool commits without waiting for the WAL flush, and Postgres sends
// a transaction's NOTIFYs as soon as its commit is visible; only a commit that waits for the
// flush is announced after it is on disk.
//
// A cluster of its own, SIGKILLed (postmaster and every backend, as the OOM killer or a
// power cut would), then restarted: its recovery replays only what reached the WAL on disk.
// The WAL writer is slowed down (10 s) so that what the engine commits without a flush stays
// in memory until the kill, as on a busy server where the last fraction of a second is lost.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { openDatabase, type Database } from "../../src/db/database.ts";
import { Engine } from "../../src/engine/engine.ts";
import { ProcessorRegistry } from "../../src/engine/registry.ts";
import { submitJob } from "../../src/services/jobs.ts";
import { ensureOrganization } from "../../src/services/organizations.ts";
import { createTestApi } from "../graphql/api-helpers.ts";
import { createTestDatabase, log, waitFor } from "../helpers.ts";
import { startOwnPostgres, type OwnPostgres } from "../own-postgres.ts";

let postgres: OwnPostgres;

const registry = new ProcessorRegistry().register({
  type: "test.report",
  description: "reports a stage and progress, then returns",
  input: z.object({}),
  async run(_job, ctx) {
    await ctx.stage("work");
    ctx.progress(0.5);
    return { ok: true };
  },
});

beforeAll(async () => {
  // Nothing but our own commits may flush the WAL in the test's window: no autovacuum, and a
  // WAL writer that wakes every 10 s and does not flush on volume.
  postgres = await startOwnPostgres({ wal_writer_delay: "10s", wal_writer_flush_after: "1GB", autovacuum: "off" });
});
afterAll(async () => {
  await postgres.remove();
});

describe("a Postgres crash right after a job's events were announced", () => {
  // runOnce() completes with `complete`; the running loop with `complete-and-claim`.
  it.each([
    ["one engine step", (engine: Engine) => void engine.runOnce()],
    ["the running engine loop", (engine: Engine) => engine.start()],
  ])("keeps the SUCCEEDED every subscriber was told of (%s)", async (_how, drive) => {
    const url = postgres.url;
    const db: Database = openDatabase(url, { onError: () => undefined });
    const listener = new pg.Client({ connectionString: url });
    listener.on("error", () => undefined);
    // As `spool serve` runs it: the engine on the pool that does not wait for the flush.
    const engine = new Engine({ pool: db.enginePool, registry, log, concurrency: 1 });
    const told: Array<{ id: number; job: string; kind: string; status: string | null }> = [];
    let jobId: string;
    try {
      const org = await ensureOrganization(db.prisma, "crash");
      ({ job: { id: jobId } } = await submitJob(db.pool, registry, org.id, { type: "test.report", input: {} })); // durable: the API pool
      await listener.connect();
      listener.on("notification", (m) => told.push(JSON.parse(m.payload!)));
      await listener.query("listen spool_events");
      drive(engine);
      await waitFor(async () => told.some((e) => e.job === jobId && e.status === "SUCCEEDED"), "SUCCEEDED to be announced", 5_000, 5);
      await postgres.crash();
    } finally {
      await engine.stop(0);
      await listener.end().catch(() => undefined);
      await db.close();
    }
    expect(told.filter((e) => e.job === jobId).map((e) => e.status ?? e.kind)).toEqual(["RUNNING", "STAGE", "PROGRESS", "SUCCEEDED"]);

    await postgres.restart(); // crash recovery replays the WAL on disk
    const after = new pg.Client({ connectionString: postgres.url });
    await after.connect();
    try {
      const job = (await after.query(`select status, attempts, result from jobs where id = $1`, [jobId!])).rows[0];
      expect(job).toEqual({ status: "SUCCEEDED", attempts: 1, result: { ok: true } });
      // With the flush came the job's whole history up to its end.
      const { rows } = await after.query(`select id::int, kind::text, data->>'status' as status from job_events where job_id = $1 order by id`, [jobId!]);
      expect(rows.map((r) => r.status ?? r.kind)).toEqual(["QUEUED", "RUNNING", "STAGE", "PROGRESS", "SUCCEEDED"]);
      expect(rows.at(-1).id).toBe(told.find((e) => e.job === jobId && e.status === "SUCCEEDED")!.id);
    } finally {
      await after.end();
    }
  });
});

describe("JobEvent.durable", () => {
  it("is true for the terminal status only: what a crash cannot undo", async () => {
    const db = await createTestDatabase();
    const api = await createTestApi(db, { registry });
    try {
      const { org, key } = await api.tenant();
      const { job } = await submitJob(db.pool, registry, org.id, { type: "test.report", input: {} });
      await new Engine({ pool: db.enginePool, registry, log, concurrency: 1 }).runOnce();
      const r = await api.gql(`query($id: ID!) { job(id: $id) { events(first: 10) { edges { node { kind status durable } } } } }`, { id: job.id }, key);
      expect(r.errors).toBeUndefined();
      expect(r.data.job.events.edges.map((e: any) => [e.node.status ?? e.node.kind, e.node.durable])).toEqual([
        ["QUEUED", false], ["RUNNING", false], ["STAGE", false], ["PROGRESS", false], ["SUCCEEDED", true],
      ]);
    } finally {
      await api.close();
      await db.drop();
    }
  });
});
