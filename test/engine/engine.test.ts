// The engine's basic contract on real Postgres: enqueue → claim → run → finish, the event
// history and its NOTIFYs, validation, enqueue inside the caller's transaction, priority
// order, scheduled jobs and idempotency keys.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { Engine } from "../../src/engine/engine.ts";
import { enqueue } from "../../src/engine/enqueue.ts";
import { SpoolError } from "../../src/errors.ts";
import { fromPrismaTx, inTransaction } from "../../src/engine/queryable.ts";
import { ProcessorRegistry } from "../../src/engine/registry.ts";
import { getJob, submitJob } from "../../src/services/jobs.ts";
import { createOrg, createTestDatabase, log, type TestDb } from "../helpers.ts";

let db: TestDb;
let org: string;
let otherOrg: string;
const ran: string[] = [];

const registry = new ProcessorRegistry()
  .register({
    type: "test.echo",
    description: "returns its input",
    input: z.object({ text: z.string().max(100), times: z.number().int().min(1).default(1) }),
    async run(job, ctx) {
      ran.push(job.id);
      await ctx.stage("echo");
      ctx.progress(0.5);
      ctx.logLine(`echoing ${job.input.text}`);
      return { echoed: job.input.text.repeat(job.input.times) };
    },
  })
  .register({
    type: "test.record",
    description: "records the order it runs in",
    input: z.object({ name: z.string() }),
    async run(job) {
      ran.push(job.input.name);
      return null;
    },
  });

function engine(concurrency = 1) {
  return new Engine({ pool: db.pool, registry, log, concurrency });
}

beforeAll(async () => {
  db = await createTestDatabase();
  org = (await createOrg(db)).id;
  otherOrg = (await createOrg(db)).id;
});
afterAll(async () => {
  await db.drop();
});

async function events(jobId: string) {
  const { rows } = await db.pool.query(`select id, kind, data from job_events where job_id = $1 order by id`, [jobId]);
  return rows;
}

describe("a job's life", () => {
  it("runs a submitted job to SUCCEEDED with its result, stage, progress and history", async () => {
    const { job, created } = await submitJob(db.pool, registry, org, { type: "test.echo", input: { text: "hi", times: 2 } });
    expect(created).toBe(true);
    expect(job).toMatchObject({ status: "QUEUED", attempts: 0, priority: "NORMAL", maxAttempts: 3, input: { text: "hi", times: 2 } });

    expect(await engine().runOnce()).toBe(1);

    const done = await getJob(db.pool, org, job.id);
    expect(done).toMatchObject({ status: "SUCCEEDED", attempts: 1, progress: 1, stage: "echo", result: { echoed: "hihi" }, error: null });
    expect(done.startedAt).toBeInstanceOf(Date);
    expect(done.finishedAt!.getTime()).toBeGreaterThanOrEqual(done.startedAt!.getTime());
    expect(done.leaseExpiresAt).toBeNull();

    const history = await events(job.id);
    expect(history.map((e) => e.kind)).toEqual(["STATUS", "STATUS", "STAGE", "LOG", "PROGRESS", "STATUS"]);
    expect(history.filter((e) => e.kind === "STATUS").map((e) => e.data.status)).toEqual(["QUEUED", "RUNNING", "SUCCEEDED"]);
    expect(history.find((e) => e.kind === "LOG")!.data).toMatchObject({ level: "info", message: "echoing hi", attempt: 1 });
  });

  it("applies the schema's defaults and stores the validated input", async () => {
    const { job } = await submitJob(db.pool, registry, org, { type: "test.echo", input: { text: "x" } });
    expect(job.input).toEqual({ text: "x", times: 1 });
  });

  it("sends a NOTIFY for the queue at commit and one per event, with small payloads", async () => {
    const listener = new pg.Client({ connectionString: db.url });
    await listener.connect();
    const got: Array<{ channel: string; payload: string }> = [];
    listener.on("notification", (m) => got.push({ channel: m.channel, payload: m.payload ?? "" }));
    await listener.query("listen spool_queue; listen spool_events");
    try {
      const { job } = await submitJob(db.pool, registry, org, { type: "test.echo", input: { text: "n" } });
      await engine(4).drain();
      const ids = (await events(job.id)).map((e) => String(e.id));
      const mine = () => got.filter((g) => g.channel === "spool_events").map((g) => JSON.parse(g.payload)).filter((p) => p.job === job.id);
      await expect.poll(() => mine().length).toBe(ids.length);
      const payloads = mine();
      expect(payloads.map((p) => String(p.id))).toEqual(ids);
      expect(payloads[0]).toMatchObject({ org, job: job.id, kind: "STATUS", status: "QUEUED" });
      expect(Math.max(...got.map((g) => g.payload.length))).toBeLessThan(400);
      expect(got.some((g) => g.channel === "spool_queue")).toBe(true);
    } finally {
      await listener.end();
    }
  });
});

describe("bad input", () => {
  async function count() {
    return Number((await db.pool.query(`select count(*) from jobs`)).rows[0].count);
  }

  it.each([
    ["an unknown type", { type: "test.nope", input: {} }, /Unknown job type "test.nope"/],
    ["input failing the schema", { type: "test.echo", input: { text: 5 } }, /Invalid input for test.echo/],
    ["input over the size limit", { type: "test.echo", input: { text: "a".repeat(300_000) } }, /input is larger than/],
    ["metadata that is not an object", { type: "test.echo", input: { text: "a" }, metadata: [1] as never }, /Invalid job options/],
    ["maxAttempts out of range", { type: "test.echo", input: { text: "a" }, maxAttempts: 0 }, /Invalid job options/],
    ["an idempotency key too long", { type: "test.echo", input: { text: "a" }, idempotencyKey: "k".repeat(300) }, /Invalid job options/],
    ["a runAt years ahead", { type: "test.echo", input: { text: "a" }, runAt: new Date(Date.now() + 5 * 365 * 864e5) }, /more than a year ahead/],
  ])("refuses %s with INVALID_INPUT and stores nothing", async (_name, req, message) => {
    const before = await count();
    const err = await submitJob(db.pool, registry, org, req).catch((e) => e);
    expect(err).toBeInstanceOf(SpoolError);
    expect(err.code).toBe("INVALID_INPUT");
    expect(err.message).toMatch(message);
    expect(await count()).toBe(before);
  });

  it("answers NOT_FOUND for another organization's job and for a malformed id", async () => {
    const { job } = await submitJob(db.pool, registry, org, { type: "test.echo", input: { text: "mine" } });
    await expect(getJob(db.pool, otherOrg, job.id)).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(getJob(db.pool, org, "not-a-uuid")).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});

describe("enqueue joins the caller's transaction", () => {
  it("leaves no job (and wakes nobody) when the domain write fails (pg transaction)", async () => {
    const key = `rollback-${Date.now()}`;
    await expect(
      inTransaction(db.pool, async (tx) => {
        await enqueue(tx, registry, { organizationId: org, type: "test.echo", input: { text: "a" }, idempotencyKey: key });
        throw new Error("domain write failed");
      }),
    ).rejects.toThrow("domain write failed");
    expect((await db.pool.query(`select 1 from jobs where idempotency_key = $1`, [key])).rowCount).toBe(0);
  });

  it("works inside a Prisma interactive transaction, committing or rolling back with it", async () => {
    const key = `prisma-${Date.now()}`;
    await expect(
      db.prisma.$transaction(async (tx) => {
        await tx.organization.update({ where: { id: org }, data: { name: "renamed" } });
        await enqueue(fromPrismaTx(tx), registry, { organizationId: org, type: "test.echo", input: { text: "a" }, idempotencyKey: key });
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect((await db.pool.query(`select 1 from jobs where idempotency_key = $1`, [key])).rowCount).toBe(0);
    expect((await db.prisma.organization.findUniqueOrThrow({ where: { id: org } })).name).not.toBe("renamed");

    const job = await db.prisma.$transaction(async (tx) => {
      await tx.organization.update({ where: { id: org }, data: { name: "renamed" } });
      return (await enqueue(fromPrismaTx(tx), registry, { organizationId: org, type: "test.echo", input: { text: "a" }, idempotencyKey: key })).job;
    });
    expect((await getJob(db.pool, org, job.id)).status).toBe("QUEUED");
  });
});

describe("claim order", () => {
  it("claims by priority (URGENT, HIGH, NORMAL, LOW), then oldest run_at, and skips jobs scheduled later", async () => {
    await db.pool.query(`update jobs set status = 'CANCELLED' where status = 'QUEUED'`);
    ran.length = 0;
    const at = (s: number) => new Date(Date.now() - s * 1000);
    const plan: Array<[string, "LOW" | "NORMAL" | "HIGH" | "URGENT", Date]> = [
      ["low", "LOW", at(50)],
      ["normal-newer", "NORMAL", at(10)],
      ["urgent", "URGENT", at(1)],
      ["normal-older", "NORMAL", at(20)],
      ["high", "HIGH", at(5)],
    ];
    for (const [name, priority, runAt] of plan) {
      await submitJob(db.pool, registry, org, { type: "test.record", input: { name }, priority, runAt });
    }
    await submitJob(db.pool, registry, org, { type: "test.record", input: { name: "later" }, priority: "URGENT", runAt: new Date(Date.now() + 3600_000) });
    const e = engine(1);
    while ((await e.runOnce()) > 0);
    expect(ran).toEqual(["urgent", "high", "normal-older", "normal-newer", "low"]);
    const later = await db.pool.query(`select status from jobs where input->>'name' = 'later'`);
    expect(later.rows[0].status).toBe("QUEUED");
  });

  it("never claims a type this process has no processor for", async () => {
    const { job } = await submitJob(db.pool, registry, org, { type: "test.echo", input: { text: "a" } });
    const narrow = new ProcessorRegistry().register({ type: "test.other", description: "", input: z.object({}), run: async () => null });
    expect(await new Engine({ pool: db.pool, registry: narrow, log, concurrency: 4 }).runOnce()).toBe(0);
    expect((await getJob(db.pool, org, job.id)).status).toBe("QUEUED");
  });
});

describe("idempotency keys", () => {
  it("returns the same job for the same key and input, CONFLICT for a different input, and scopes keys per organization", async () => {
    const req = { type: "test.echo", input: { text: "once" }, idempotencyKey: "order-42" };
    const first = await submitJob(db.pool, registry, org, req);
    const again = await submitJob(db.pool, registry, org, { ...req, input: { times: 1, text: "once" } });
    expect(again).toMatchObject({ created: false, job: { id: first.job.id } });

    const err = await submitJob(db.pool, registry, org, { ...req, input: { text: "twice" } }).catch((e) => e);
    expect(err).toMatchObject({ code: "CONFLICT" });
    expect(err.message).toContain(first.job.id);

    const elsewhere = await submitJob(db.pool, registry, otherOrg, req);
    expect(elsewhere.created).toBe(true);
    expect(elsewhere.job.id).not.toBe(first.job.id);
  });

  it("gives concurrent submissions with one key exactly one job", async () => {
    const req = { type: "test.echo", input: { text: "race" }, idempotencyKey: `race-${Date.now()}` };
    const results = await Promise.all(Array.from({ length: 8 }, () => submitJob(db.pool, registry, org, req)));
    expect(new Set(results.map((r) => r.job.id)).size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
  });
});
