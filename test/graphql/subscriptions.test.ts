// Subscriptions against a real server on a loopback port with the real graphql-ws client (and
// one over SSE): job(id) from mid-job to completion, the jobEvents feed resumed with `after`
// with no gap and no duplicate, a lost LISTEN connection, tenancy, and the shared row read.
// Jobs run on an engine with its own pool, as a separate worker process would: events reach
// the API only through Postgres NOTIFY.
import { createClient, type Client } from "graphql-ws";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { z } from "zod";
import { openDatabase, type Database } from "../../src/db/database.ts";
import { Engine } from "../../src/engine/engine.ts";
import type { Job } from "../../src/generated/prisma/client.ts";
import { ProcessorRegistry } from "../../src/engine/registry.ts";
import { JobStream, JobWatch } from "../../src/pubsub/job-watch.ts";
import { PgListener } from "../../src/pubsub/pg-listener.ts";
import { MAX_OPERATIONS_PER_SOCKET } from "../../src/server.ts";
import { submitJob } from "../../src/services/jobs.ts";
import { createTestDatabase, log, waitFor, type TestDb } from "../helpers.ts";
import { createTestApi, type Api } from "./api-helpers.ts";

/** A counting gate: the processor waits on it, the test releases it step by step. */
function gate() {
  let permits = 0;
  const waiters: Array<() => void> = [];
  return {
    release: () => (waiters.length ? waiters.shift()!() : permits++),
    wait: () => (permits > 0 ? (permits--, Promise.resolve()) : new Promise<void>((r) => waiters.push(r))),
  };
}
const gates = new Map<string, ReturnType<typeof gate>>();
const gateFor = (key: string) => gates.get(key) ?? (gates.set(key, gate()), gates.get(key)!);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const registry = new ProcessorRegistry()
  .register({
    type: "test.stepped",
    description: "waits for the test between steps",
    input: z.object({ key: z.string() }),
    run: async (job, ctx) => {
      const g = gateFor(job.input.key);
      await g.wait();
      await ctx.stage("encode");
      ctx.progress(0.5);
      ctx.logLine("half way");
      await g.wait();
      ctx.progress(0.9);
      return { ok: true };
    },
  })
  .register({
    type: "test.chatty",
    description: "many small events",
    input: z.object({ steps: z.number() }),
    run: async (job, ctx) => {
      for (let i = 1; i <= job.input.steps; i++) {
        ctx.progress(i / job.input.steps);
        ctx.logLine(`step ${i}`);
        await sleep(3);
      }
      return { ok: true };
    },
  });

let db: TestDb;
let worker: Database; // the "worker process": its own pool, its own connections
let listener: PgListener;
let api: Api;
let urls: { http: string; ws: string };
let a: { key: string; org: { id: string } };
let b: { key: string; org: { id: string } };
const clients: Client[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  worker = openDatabase(db.url, { max: 5, engineMax: 10 });
  listener = new PgListener(db.url, log);
  await listener.start();
  api = await createTestApi(db, { registry, listener, gapTimeoutMs: 300 });
  urls = await api.listen();
  a = await api.tenant();
  b = await api.tenant();
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.dispose()));
  // Every subscription, however it ended, gave back what it held.
  await waitFor(async () => api.liveUpdates!.stats.subscriptions === 0 && api.liveUpdates!.stats.watchedJobs === 0 && api.liveUpdates!.stats.feeds === 0, "subscriptions to be released", 5_000);
});
afterAll(async () => {
  await api.close();
  await listener.stop();
  await worker.close();
  await db.drop();
});

type Message<T> = { data?: T | null; errors?: Array<{ message: string; extensions?: { code?: string } }> };

function connect(key?: string | null, params?: Record<string, unknown>): Client {
  const c = createClient({
    url: urls.ws,
    webSocketImpl: WebSocket,
    connectionParams: params ?? (key ? { authorization: `Bearer ${key}` } : undefined),
    retryAttempts: 0,
    lazy: true,
  });
  clients.push(c);
  return c;
}

function open<T = any>(client: Client, query: string, variables: Record<string, unknown> = {}) {
  const sub = {
    messages: [] as Message<T>[],
    completed: false,
    error: null as unknown,
    stop: () => undefined as void,
  };
  sub.stop = client.subscribe<T>({ query, variables }, {
    next: (m) => void sub.messages.push(m as Message<T>),
    error: (e) => void (sub.error = e),
    complete: () => void (sub.completed = true),
  });
  return sub;
}

const engineFor = (opts: Partial<ConstructorParameters<typeof Engine>[0]> = {}) =>
  new Engine({ pool: worker.enginePool, registry, log, concurrency: 1, pollMs: 20, progressIntervalMs: 5, ...opts });
const globalId = (id: string) => Buffer.from(`Job:${id}`).toString("base64");
const JOB_SUB = `subscription($id: ID!) { job(id: $id) { id status stage progress events(first: 100) { totalCount } } }`;
const FEED_SUB = `subscription($after: String, $filter: JobEventFilter) { jobEvents(after: $after, filter: $filter) { id jobId kind status progress stage message } }`;

describe("job(id)", () => {
  it("starts with the current RUNNING state mid-job, follows stage and progress, ends after SUCCEEDED", async () => {
    const { job } = await submitJob(db.pool, registry, a.org.id, { type: "test.stepped", input: { key: "mid" } });
    const engine = engineFor();
    const run = engine.runOnce();
    await waitFor(async () => (await db.prisma.job.findUnique({ where: { id: job.id } }))?.status === "RUNNING", "the job to start");

    const sub = open<{ job: { id: string; status: string; stage: string | null; progress: number; events: { totalCount: number } } }>(connect(a.key), JOB_SUB, { id: globalId(job.id) });
    await waitFor(async () => sub.messages.length >= 1, "the first state");
    expect(sub.messages[0]!.data!.job).toMatchObject({ id: globalId(job.id), status: "RUNNING", stage: null, progress: 0, events: { totalCount: 2 } });

    gateFor("mid").release();
    await waitFor(async () => sub.messages.some((m) => m.data?.job.stage === "encode" && m.data.job.progress === 0.5), "stage and progress");
    gateFor("mid").release();
    await run;
    await waitFor(async () => sub.completed, "the subscription to complete");

    const states = sub.messages.map((m) => m.data!.job);
    expect(sub.messages.every((m) => !m.errors)).toBe(true);
    expect(states.at(-1)).toMatchObject({ status: "SUCCEEDED", progress: 1, stage: "encode" });
    expect(states.slice(0, -1).every((s) => s.status === "RUNNING")).toBe(true);
    // Progress never goes backwards, and the nested connection is read fresh for each state.
    expect(states.map((s) => s.progress)).toEqual([...states.map((s) => s.progress)].sort((x, y) => x - y));
    const total = await db.prisma.jobEvent.count({ where: { jobId: job.id } });
    expect(states.at(-1)!.events.totalCount).toBe(total);
    expect(states.map((s) => s.events.totalCount)).toEqual([...states.map((s) => s.events.totalCount)].sort((x, y) => x - y));
  });

  it("a finished job yields its state once and completes; an unknown id is NOT_FOUND", async () => {
    const { job } = await submitJob(db.pool, registry, a.org.id, { type: "test.chatty", input: { steps: 2 } });
    await engineFor().drain();
    const done = open(connect(a.key), JOB_SUB, { id: job.id });
    await waitFor(async () => done.completed, "completion");
    expect(done.messages.map((m) => (m.data as any).job.status)).toEqual(["SUCCEEDED"]);

    const missing = open(connect(a.key), JOB_SUB, { id: "00000000-0000-4000-8000-000000000000" });
    await waitFor(async () => missing.completed || missing.error, "an answer");
    expect(missing.messages[0]?.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
  });
});

describe("jobEvents", () => {
  it("replays after a reconnect with no gap and no duplicate while jobs keep writing", async () => {
    const t = await api.tenant();
    const other = await api.tenant(); // writing at the same time, never in t's feed
    const engine = engineFor({ concurrency: 4 });
    engine.start();
    try {
      const submitMany = (org: string, n: number) =>
        Promise.all(Array.from({ length: n }, () => submitJob(db.pool, registry, org, { type: "test.chatty", input: { steps: 15 } })));
      await submitMany(t.org.id, 3); // some history before the first subscription

      const first = open<{ jobEvents: { id: string } }>(connect(t.key), FEED_SUB, { after: "0" });
      const more = Promise.all([submitMany(t.org.id, 6), submitMany(other.org.id, 4)]);
      await waitFor(async () => first.messages.length >= 40, "the first part of the feed");
      first.stop(); // the client goes away mid-stream; jobs keep writing
      const seen = first.messages.map((m) => m.data!.jobEvents.id);
      await more;
      await sleep(100);

      const second = open<{ jobEvents: { id: string } }>(connect(t.key), FEED_SUB, { after: seen.at(-1) });
      await waitFor(async () => (await db.pool.query(`select count(*)::int as n from jobs where status <> 'SUCCEEDED'`)).rows[0].n === 0, "all jobs to finish");
      const expected = (await db.pool.query(`select id::text from job_events where organization_id = $1 order by job_events.id`, [t.org.id])).rows.map((r) => r.id);
      await waitFor(async () => seen.length + second.messages.length >= expected.length, "the feed to catch up");
      await sleep(400); // anything extra (a duplicate) would show up now

      expect(first.messages.concat(second.messages).every((m) => !m.errors)).toBe(true);
      const union = [...seen, ...second.messages.map((m) => m.data!.jobEvents.id)];
      expect(union).toEqual(expected);
    } finally {
      await engine.stop(5_000);
    }
  });

  it("delivers commits that happen out of id order in id order, skipping a rolled-back id", async () => {
    const { job } = await submitJob(db.pool, registry, a.org.id, { type: "test.stepped", input: { key: "raw" }, runAt: new Date(Date.now() + 3600_000) });
    const feed = open<{ jobEvents: { id: string; message: string } }>(connect(a.key), FEED_SUB, { filter: { jobId: globalId(job.id), kinds: ["LOG"] } });
    await sleep(100);
    const txs = await Promise.all([1, 2, 3, 4].map(async () => {
      const c = await worker.pool.connect();
      await c.query("begin");
      return c;
    }));
    const insert = async (i: number) =>
      (await txs[i]!.query(`insert into job_events (organization_id, job_id, kind, data) values ($1, $2, 'LOG', jsonb_build_object('message', $3::text)) returning id::text`, [a.org.id, job.id, `tx${i}`])).rows[0].id as string;
    const ids = [await insert(0), await insert(1), await insert(2), await insert(3)];
    try {
      await txs[1]!.query("commit"); // ids[1] is visible before ids[0]
      await txs[2]!.query("rollback"); // ids[2] never exists
      await sleep(100);
      expect(feed.messages).toEqual([]); // held back: ids[0] may still commit
      await txs[0]!.query("commit");
      await txs[3]!.query("commit");
      await waitFor(async () => feed.messages.length >= 3, "the three committed events");
      await sleep(400); // past the gap timeout: ids[2] is skipped, nothing else comes
      expect(feed.messages.map((m) => m.data!.jobEvents.id)).toEqual([ids[0], ids[1], ids[3]]);
    } finally {
      for (const c of txs) c.release();
    }
  });

  it("filters by job, kind and type, live and in replay", async () => {
    const { job } = await submitJob(db.pool, registry, a.org.id, { type: "test.chatty", input: { steps: 3 } });
    const byJob = open<{ jobEvents: { jobId: string; kind: string; status: string | null } }>(connect(a.key), FEED_SUB, { after: "0", filter: { jobId: globalId(job.id), kinds: ["STATUS"] } });
    const byType = open<{ jobEvents: { jobId: string } }>(connect(a.key), FEED_SUB, { filter: { types: ["test.stepped"] } });
    await sleep(100);
    await engineFor().drain();
    await waitFor(async () => byJob.messages.length >= 3, "the job's status events");
    expect(byJob.messages.map((m) => m.data!.jobEvents.status)).toEqual(["QUEUED", "RUNNING", "SUCCEEDED"]);
    expect(byJob.messages.every((m) => m.data!.jobEvents.jobId === globalId(job.id))).toBe(true);
    await sleep(300);
    expect(byType.messages).toEqual([]); // only test.chatty ran
  });
});

describe("a lost LISTEN connection", () => {
  it("ends live subscriptions with UNAVAILABLE; resubscribing after the reconnect works", async () => {
    const { job } = await submitJob(db.pool, registry, a.org.id, { type: "test.stepped", input: { key: "never" }, runAt: new Date(Date.now() + 3600_000) });
    const client = connect(a.key);
    const watch = open(client, JOB_SUB, { id: globalId(job.id) });
    const feed = open(client, FEED_SUB, {});
    await waitFor(async () => watch.messages.length === 1, "the first state");
    await sleep(50);

    // Kill the LISTEN backend from the server side, as a failover would.
    await db.pool.query(`select pg_terminate_backend(pid) from pg_stat_activity where query like 'listen%' and datname = current_database()`);
    await waitFor(async () => watch.completed && feed.completed, "both subscriptions to end");
    expect(watch.messages.at(-1)!.errors![0]!.extensions!.code).toBe("UNAVAILABLE");
    expect(feed.messages.at(-1)!.errors![0]!.extensions!.code).toBe("UNAVAILABLE");

    await waitFor(async () => listener.connected, "the listener to reconnect");
    const again = open<{ job: { status: string } }>(client, JOB_SUB, { id: globalId(job.id) });
    await waitFor(async () => again.messages.length === 1, "the first state after the reconnect");
    expect(again.messages[0]!.data!.job.status).toBe("QUEUED");
    await api.gql(`mutation($id: ID!) { cancelJob(input: { id: $id }) { job { id } } }`, { id: job.id }, a.key);
    await waitFor(async () => again.completed, "the cancel to arrive live");
    expect(again.messages.at(-1)!.data!.job.status).toBe("CANCELLED");

    // simulateDrop() takes the same path.
    const third = open(client, FEED_SUB, {});
    await sleep(100);
    listener.simulateDrop();
    await waitFor(async () => third.completed, "the feed to end");
    expect(third.messages.at(-1)!.errors![0]!.extensions!.code).toBe("UNAVAILABLE");
    await waitFor(async () => listener.connected, "the listener to reconnect");
  });
});

describe("tenancy", () => {
  it("another organization's job is NOT_FOUND, and its events never reach the feed", async () => {
    const { job } = await submitJob(db.pool, registry, a.org.id, { type: "test.chatty", input: { steps: 4 } });
    const foreign = open(connect(b.key), JOB_SUB, { id: globalId(job.id) });
    const foreignFeed = open(connect(b.key), FEED_SUB, { filter: { jobId: globalId(job.id) } });
    const feedB = open<{ jobEvents: { id: string; jobId: string } }>(connect(b.key), FEED_SUB, { after: "0" });
    await waitFor(async () => foreign.completed && foreignFeed.completed, "the refusals");
    expect(foreign.messages[0]!.errors![0]!.extensions!.code).toBe("NOT_FOUND");
    expect(foreignFeed.messages[0]!.errors![0]!.extensions!.code).toBe("NOT_FOUND");

    const { job: own } = await submitJob(db.pool, registry, b.org.id, { type: "test.chatty", input: { steps: 2 } });
    await engineFor({ concurrency: 2 }).drain();
    const expected = (await db.pool.query(`select id::text from job_events where organization_id = $1 order by job_events.id`, [b.org.id])).rows.map((r) => r.id);
    await waitFor(async () => feedB.messages.length >= expected.length, "org B's own events");
    await sleep(300);
    expect(feedB.messages.map((m) => m.data!.jobEvents.id)).toEqual(expected);
    expect(new Set(feedB.messages.map((m) => m.data!.jobEvents.jobId))).toEqual(new Set([globalId(own.id)]));
  });

  it("bounds operations per connection and checks `after`", async () => {
    const client = connect(a.key);
    const subs = Array.from({ length: MAX_OPERATIONS_PER_SOCKET }, () => open(client, FEED_SUB, {}));
    await waitFor(async () => api.liveUpdates!.stats.feeds === MAX_OPERATIONS_PER_SOCKET, "the subscriptions to open");
    const over = open(client, FEED_SUB, {});
    await waitFor(async () => over.error, "the refusal");
    expect((over.error as Array<{ extensions?: { code?: string } }>)[0]!.extensions!.code).toBe("RATE_LIMITED");
    for (const s of subs) s.stop();
    const bad = open(client, FEED_SUB, { after: "12abc" });
    await waitFor(async () => bad.completed, "the answer");
    expect(bad.messages[0]!.errors![0]!.extensions!.code).toBe("INVALID_INPUT");
  });

  it("refuses a connection without a key or with a bad key (4403)", async () => {
    for (const params of [{}, { authorization: "Bearer spool_0000000000000000_" + "x".repeat(43) }]) {
      const sub = open(connect(null, params), JOB_SUB, { id: "00000000-0000-4000-8000-000000000000" });
      await waitFor(async () => sub.error, "the refusal");
      expect((sub.error as { code?: number }).code).toBe(4403);
    }
  });
});

describe("SSE", () => {
  it("streams job(id) over HTTP with text/event-stream", async () => {
    const { job } = await submitJob(db.pool, registry, a.org.id, { type: "test.stepped", input: { key: "sse" }, runAt: new Date(Date.now() + 3600_000) });
    const res = await api.yoga.fetch("http://spool.test/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream", authorization: `Bearer ${a.key}` },
      body: JSON.stringify({ query: `subscription($id: ID!) { job(id: $id) { id status } }`, variables: { id: job.id } }),
    });
    expect(res.headers.get("content-type")).toMatch(/text\/event-stream/);
    const reader = res.body!.getReader();
    let text = "";
    while (!/event: next\ndata: .+\n\n/.test(text)) text += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    const data = JSON.parse(/event: next\ndata: (.+)\n\n/.exec(text)![1]!);
    expect(data).toEqual({ data: { job: { id: globalId(job.id), status: "QUEUED" } } });
  });
});

describe("JobWatch", () => {
  it("shares one row read among subscribers and coalesces a burst of changes", async () => {
    let reads = 0;
    const row = { id: "j", organizationId: "o", status: "RUNNING", progress: 0 } as unknown as Job;
    const watch = new JobWatch("j", async () => (reads++, await sleep(20), { ...row, progress: reads }), (e) => e as Error, () => undefined);
    const streams = Array.from({ length: 50 }, () => new JobStream(watch, "o", () => undefined));
    await Promise.all(streams.map((s) => s.ready()));
    const before = reads;
    for (let i = 0; i < 1_000; i++) watch.changed(); // a progress storm
    await sleep(100);
    expect(before).toBeLessThanOrEqual(2);
    expect(reads - before).toBeLessThanOrEqual(2);
    for (const s of streams) {
      const first = await s.next();
      expect((first.value as Job).progress).toBeGreaterThan(0);
      await s.return();
    }
  });
});
