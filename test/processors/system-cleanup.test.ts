// system.cleanup on real rows: the dry run counts and deletes nothing; the real run deletes
// only this organization's finished jobs older than the cutoff, with children and events.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../src/engine/engine.ts";
import { createRegistry } from "../../src/app.ts";
import type { ProcessorRegistry } from "../../src/engine/registry.ts";
import { getJob, submitBatch, submitJob } from "../../src/services/jobs.ts";
import { createOrg, createTestDatabase, log, type TestDb } from "../helpers.ts";

let registry: ProcessorRegistry;
let db: TestDb;
let org: string;
let otherOrg: string;

async function oldFinished(organizationId: string, n: number, daysAgo: number) {
  const { rows } = await db.pool.query(
    `insert into jobs (organization_id, type, status, input, finished_at) select $1, 'test.old', 'SUCCEEDED', '{}', now() - make_interval(days => $3) from generate_series(1, $2) returning id`,
    [organizationId, n, daysAgo],
  );
  await db.pool.query(`insert into job_events (organization_id, job_id, kind, data) select $1, id, 'STATUS', '{"status":"SUCCEEDED"}' from unnest($2::uuid[]) as id`, [organizationId, rows.map((r) => r.id)]);
  return rows.map((r) => r.id as string);
}

async function count(sql: string, params: unknown[] = []) {
  return (await db.pool.query(sql, params)).rows[0].n as number;
}

beforeAll(async () => {
  db = await createTestDatabase();
  registry = createRegistry({ pool: db.pool });
  org = (await createOrg(db)).id;
  otherOrg = (await createOrg(db)).id;
});
afterAll(async () => {
  await db.drop();
});

describe("system.cleanup", () => {
  it("reports in a dry run, deletes in a real run, and spares recent, unfinished and foreign jobs", async () => {
    const old = await oldFinished(org, 25, 10);
    const recent = await oldFinished(org, 3, 0);
    const foreign = await oldFinished(otherOrg, 4, 10);
    // An old finished batch: its children go with it.
    const { job: batch, children } = await submitBatch(db.pool, registry, org, { jobs: [{ type: "system.cleanup", input: { maxAgeSeconds: 1e6, dryRun: true } }] });
    await db.pool.query(`update jobs set status = 'SUCCEEDED', finished_at = now() - interval '10 days' where id = any($1)`, [[batch.id, children[0]!.id]]);
    const { job: queued } = await submitJob(db.pool, registry, org, { type: "system.cleanup", input: { maxAgeSeconds: 1e6, dryRun: true }, runAt: new Date(Date.now() + 3600_000) });
    const engine = new Engine({ pool: db.pool, registry, log, concurrency: 1 });

    const { job: dry } = await submitJob(db.pool, registry, org, { type: "system.cleanup", input: { maxAgeSeconds: 5 * 86_400, dryRun: true } });
    await engine.runOnce();
    const dryDone = await getJob(db.pool, org, dry.id);
    expect(dryDone.result).toMatchObject({ dryRun: true, jobs: 27, events: 25 + 2 });
    expect(await count(`select count(*)::int as n from jobs where id = any($1)`, [old])).toBe(25);

    const { job: real } = await submitJob(db.pool, registry, org, { type: "system.cleanup", input: { maxAgeSeconds: 5 * 86_400, batchSize: 7 } });
    await engine.runOnce();
    const realDone = await getJob(db.pool, org, real.id);
    expect(realDone).toMatchObject({ status: "SUCCEEDED", progress: 1, result: { dryRun: false, jobs: 27, events: 27 } });
    expect(await count(`select count(*)::int as n from jobs where id = any($1)`, [old])).toBe(0);
    expect(await count(`select count(*)::int as n from job_events where job_id = any($1)`, [old])).toBe(0);
    expect(await count(`select count(*)::int as n from jobs where id = any($1)`, [[batch.id, children[0]!.id]])).toBe(0);
    expect(await count(`select count(*)::int as n from jobs where id = any($1)`, [recent])).toBe(3);
    expect(await count(`select count(*)::int as n from jobs where id = any($1)`, [foreign])).toBe(4);
    expect((await getJob(db.pool, org, queued.id)).status).toBe("QUEUED");
    expect((await getJob(db.pool, org, dry.id)).status).toBe("SUCCEEDED");
    const progress = await count(`select count(*)::int as n from job_events where job_id = $1 and kind = 'PROGRESS'`, [real.id]);
    expect(progress).toBeGreaterThanOrEqual(1);
  });

  it("refuses a negative age or a huge batch with INVALID_INPUT", async () => {
    await expect(submitJob(db.pool, registry, org, { type: "system.cleanup", input: { maxAgeSeconds: -1 } })).rejects.toMatchObject({ code: "INVALID_INPUT" });
    await expect(submitJob(db.pool, registry, org, { type: "system.cleanup", input: { maxAgeSeconds: 1, batchSize: 1e6 } })).rejects.toMatchObject({ code: "INVALID_INPUT" });
  });
});
