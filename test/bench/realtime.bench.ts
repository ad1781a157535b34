// `npm run bench:realtime`: GraphQL subscriptions (graphql-ws) on one `spool serve` process.
//
//  - live: N subscribers (default 1,000) on one API process while jobs report progress and log
//    lines; latency from the moment the engine writes an event to the moment a client has the
//    message, delivered messages/s, and whether every subscriber got everything it should.
//  - idle: M idle subscriptions (default 10,000) on a fresh API process; its RSS before and after.
//
// The server under test is the real CLI, `node src/bin.js serve` with SPOOL_ROLE=api, in a child
// process (its RSS and CPU read from /proc/<pid>). Jobs run in this process on an Engine with its
// own pool and LISTEN connection, like a separate `spool worker`: events reach the server only
// through Postgres NOTIFY. The same clients run against a named peer (realtime-peer-server.ts:
// the same yoga + graphql-ws stack on yoga's in-memory createPubSub, no Postgres) for context.
//
// Database: DATABASE_URL, else Spool's embedded Postgres under ./.spool/bench; a fresh database
// bench_realtime is created and dropped.
//
// Flags: --subscribers N (1000), --idle N (10000), --seconds S (15), --jobs N (40),
// --systems spool,peer. SPOOL_BENCH_SERVER_NODE_ARGS adds node flags to the server (e.g. --cpu-prof).
import { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { z } from "zod";
import { resolveDatabaseUrl } from "../../src/db/connect.ts";
import { loadConfig } from "../../src/config.ts";
import { migrate } from "../../src/db/migrate.ts";
import { openDatabase } from "../../src/db/database.ts";
import { Engine } from "../../src/engine/engine.ts";
import * as sql from "../../src/engine/sql.ts";
import { createLogger } from "../../src/log.ts";
import { ProcessorRegistry } from "../../src/engine/registry.ts";
import { PgListener } from "../../src/pubsub/pg-listener.ts";
import { MAX_OPERATIONS_PER_SOCKET } from "../../src/server.ts";
import { createApiKey, generateKeyValue } from "../../src/services/api-keys.ts";
import { submitJob } from "../../src/services/jobs.ts";
import { ensureOrganization } from "../../src/services/organizations.ts";
import type { PeerMessage } from "./realtime-peer-server.ts";
import { recreateDatabase, withClient } from "./bench-db.ts";
import {
  chunks, errorText, fmt, machineBusySeconds, nowMs, pool, processTreeCpuSeconds, sampleRss, sleep, Socket, startServer, summarize, table, waitFor,
  type Message, type ServerChild,
} from "./realtime-lib.ts";
import { runBench } from "./run.ts";

// ---------------------------------------------------------------------------------------------
// Options and layout

function parseArgs(argv: string[]) {
  const out = { subscribers: 1_000, idle: 10_000, seconds: 15, jobs: 40, systems: ["spool", "peer"] };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split("=", 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i] ?? "";
    const int = (name: string, min = 1) => {
      const n = Number(value());
      if (!Number.isInteger(n) || n < min) throw new Error(`${name} needs an integer ≥ ${min}`);
      return n;
    };
    if (flag === "--subscribers") out.subscribers = int(flag);
    else if (flag === "--idle") out.idle = int(flag, 0);
    else if (flag === "--seconds") out.seconds = int(flag);
    else if (flag === "--jobs") out.jobs = int(flag);
    else if (flag === "--systems") out.systems = value().split(",").map((s) => s.trim()).filter(Boolean);
    else throw new Error(`Unknown flag ${flag}. Flags: --subscribers N, --idle N, --seconds S, --jobs N, --systems spool,peer`);
  }
  return out;
}

const args = parseArgs(process.argv.slice(2));
const log = createLogger("warn");
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const DB_NAME = "bench_realtime";

/** Live: subscriptions per organization (the server allows 1,000 per organization per process). */
const LIVE_PER_ORG = 100;
/** Live: one in five subscribers is a dashboard (jobEvents, the whole organization), the rest job pages (job(id)). */
const FEED_SHARE = 0.2;
/** Live: subscriptions per WebSocket (a browser tab with a few views); the server allows 100. */
const LIVE_PER_SOCKET = 10;
/** Idle: subscriptions per organization and per WebSocket, under the limits (1,000 and 100). */
const IDLE_PER_ORG = 800;
const IDLE_PER_SOCKET = 80;
/** A job reports (one log line + progress) every TICK_MS: just over the engine's 300 ms coalescing, so each report is written at once. */
const TICK_MS = 330;
const IDLE_WARMUP_PAGES = 50;
/** Live warm-up: one job per organization, this many reports (~3 s), before the measured run. */
const WARMUP_STEPS = 9;
const GOAL_P99_MS = 25;
const GOAL_IDLE_RSS_BYTES = 1024 ** 3;

/** CPU seconds of the Postgres server (embedded: its postmaster's process tree); null for DATABASE_URL. */
let pgCpuSeconds: (() => number) | null = null;

const liveOrgs = Math.max(1, Math.ceil(args.subscribers / LIVE_PER_ORG));
const liveJobs = Math.max(args.jobs, liveOrgs);
const idlePages = Math.ceil(args.idle / 2); // a page = job(id) + jobEvents(filter: {jobId}) of one queued job
const idleOrgs = args.idle > 0 ? Math.ceil(args.idle / IDLE_PER_ORG) : 0;
const steps = Math.max(1, Math.round((args.seconds * 1000) / TICK_MS));

if (LIVE_PER_SOCKET > MAX_OPERATIONS_PER_SOCKET || IDLE_PER_SOCKET > MAX_OPERATIONS_PER_SOCKET) throw new Error("layout exceeds the server's operations per socket");

const JOB_SUB = `subscription Job($id: ID!) { job(id: $id) { id status stage progress updatedAt } }`;
const FEED_SUB = `subscription Feed($after: String, $filter: JobEventFilter) { jobEvents(after: $after, filter: $filter) { id jobId kind status progress message createdAt } }`;
const TERMINAL = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);

const uuidOf = (() => {
  const cache = new Map<string, string>();
  return (gid: string) => {
    let id = cache.get(gid);
    if (!id) cache.set(gid, (id = Buffer.from(gid, "base64").toString().replace(/^Job:/, "")));
    return id;
  };
})();

// ---------------------------------------------------------------------------------------------
// Measurements shared by both systems

/**
 * Per event, keyed `${jobId}|L${step}` (the LOG event of report `step`) and `${jobId}|${progress}`
 * (the PROGRESS event): `written` = nowMs() when the engine issues the event's INSERT (Spool:
 * enginePool.query wrapped; peer: just before the IPC send), `reported` = nowMs() just before the
 * processor's ctx.logLine/ctx.progress call (also in the log line's text as `t=`).
 */
const written = new Map<string, number>();
const reported = new Map<string, number>();
const STEP = /\bstep (\d+)\//;

type LiveJob = { id: string; org: number; steps: number };
type JobKind = "live" | "warmup";
type Sub = {
  kind: "feed" | "job";
  org: number;
  job: LiveJob | null;
  /** Event ids received (feeds). */
  ids: number[];
  firstAt: number | null;
  lastProgress: number;
  progressSeen: number;
  regressed: boolean;
  terminal: string | null;
  terminalProgress: number | null;
  done: boolean;
  error: string | null;
};

type Latencies = { feed: number[]; job: number[]; fromReport: number[]; createdAt: number[]; perSecond: number[][] };
type LiveResult = {
  subscribers: number; feeds: number; jobSubs: number; sockets: number; orgs: number; jobs: number;
  lat: Latencies; messages: number; windowMs: number;
  feedsComplete: number; jobsComplete: number; progressSeenShare: number; errors: string[];
  serverCpu: number; benchCpu: number; pgCpu: number | null; machineCpu: number; serverRssKb: number;
  flushLag?: number[];
};
type IdleResult = { subscriptions: number; sockets: number; orgs: number; baselineKb: number; afterKb: number; samplesKb: number[]; openMs: number; errors: string[] };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : NaN;
}

function newSub(kind: Sub["kind"], org: number, job: LiveJob | null): Sub {
  return { kind, org, job, ids: [], firstAt: null, lastProgress: -1, progressSeen: 0, regressed: false, terminal: null, terminalProgress: null, done: false, error: null };
}

type LiveState = { measuring: boolean; t0: number; messages: number; lastAt: number; lat: Latencies };
const newLive = (): LiveState => ({ measuring: false, t0: 0, messages: 0, lastAt: 0, lat: { feed: [], job: [], fromReport: [], createdAt: [], perSecond: [] } });

/** Latencies by the second (of event creation) since the jobs started. */
function bucket(live: LiveState, createdAt: number, ms: number) {
  const k = Math.max(0, Math.floor((createdAt - live.t0) / 1000));
  (live.lat.perSecond[k] ??= []).push(ms);
}

/** Handles one message; latency samples and counts only while `live.measuring`. */
function receive(sub: Sub, m: Message, at: number, live: LiveState) {
  if (m.errors?.length) {
    sub.error ??= m.errors.map((e) => `${e.extensions?.code ?? ""} ${e.message}`).join("; ");
    return;
  }
  sub.firstAt ??= at;
  if (live.measuring) {
    live.messages++;
    live.lastAt = at;
  }
  if (sub.kind === "feed") {
    const e = m.data?.jobEvents as { id: string; jobId: string; kind: string; progress: number | null; message: string | null; createdAt: string } | undefined;
    if (!e) return;
    sub.ids.push(Number(e.id));
    if (!live.measuring) return;
    const key = e.kind === "LOG" && e.message ? `${uuidOf(e.jobId)}|L${STEP.exec(e.message)?.[1]}` : e.kind === "PROGRESS" && e.progress !== null ? `${uuidOf(e.jobId)}|${e.progress}` : null;
    const w = key ? written.get(key) : undefined;
    if (w === undefined) return;
    live.lat.feed.push(at - w);
    bucket(live, w, at - w);
    live.lat.fromReport.push(at - reported.get(key!)!);
    if (e.kind === "LOG") live.lat.createdAt.push(at - Date.parse(e.createdAt));
  } else {
    const j = m.data?.job as { id: string; status: string; progress: number } | undefined;
    if (!j) return;
    if (j.progress < sub.lastProgress) sub.regressed = true;
    if (j.progress > sub.lastProgress) {
      if (sub.lastProgress >= 0) sub.progressSeen++;
      sub.lastProgress = j.progress;
      const key = `${sub.job!.id}|${j.progress}`;
      const w = live.measuring ? written.get(key) : undefined;
      if (w !== undefined) {
        live.lat.job.push(at - w);
        bucket(live, w, at - w);
        live.lat.fromReport.push(at - reported.get(key)!);
      }
    }
    if (TERMINAL.has(j.status)) {
      sub.terminal = j.status;
      sub.terminalProgress = j.progress;
    }
  }
}

/** What differs between Spool and the peer. */
type Target = {
  label: string;
  startServer(): Promise<ServerChild>;
  authorization(org: number): string;
  /** Queued jobs: the live subscribers watch the "live" ones; "warmup" ones run first, untimed. */
  createJobs(kind: JobKind, count: number, steps: number): Promise<LiveJob[]>;
  /** `after` for the live feeds (Spool: the newest event id before subscribing). */
  feedAfter(): Promise<string | null>;
  /** Resolves once every feed is live. */
  feedsReady(feeds: Sub[], server: ServerChild, jobSubs: number): Promise<void>;
  /** Runs the jobs to the end. */
  runJobs(jobs: LiveJob[], kind: JobKind): Promise<void>;
  /** Event ids each feed of `org` must have received, in order. */
  expectedFeedIds(org: number): Promise<number[]>;
  afterLive?(): Promise<{ flushLag?: number[] }>;
  /** Queued jobs that never run, for the idle subscriptions; `after` acks each idle feed with one replayed event where supported. */
  createIdleJobs(): Promise<Array<LiveJob & { after: string | null }>>;
  /** Resolves once `expected` idle subscriptions are live (beyond the acks the clients see). */
  idleReady(server: ServerChild, expected: number): Promise<void>;
};

// ---------------------------------------------------------------------------------------------
// Live run

async function liveRun(t: Target): Promise<LiveResult> {
  const server = await t.startServer();
  const sockets: Socket[] = [];
  const errors: string[] = [];
  try {
    const jobs = await t.createJobs("live", liveJobs, steps);
    const warmJobs = await t.createJobs("warmup", liveOrgs, WARMUP_STEPS);
    const after = await t.feedAfter();
    const live = newLive();
    const wsUrl = `${server.url.replace(/^http/, "ws")}/graphql`;

    // Subscribers: per organization LIVE_PER_ORG (the last ones fewer), FEED_SHARE of them
    // jobEvents feeds, the rest job(id) spread over the organization's jobs; LIVE_PER_SOCKET
    // per WebSocket, each socket one organization's key.
    const subs: Sub[] = [];
    const bySocket: Sub[][] = [];
    for (let o = 0; o < liveOrgs; o++) {
      const n = Math.min(LIVE_PER_ORG, args.subscribers - o * LIVE_PER_ORG);
      const orgJobs = jobs.filter((j) => j.org === o);
      const feeds = Math.max(1, Math.round(n * FEED_SHARE));
      const mine: Sub[] = [];
      for (let i = 0; i < n; i++) mine.push(i < feeds || orgJobs.length === 0 ? newSub("feed", o, null) : newSub("job", o, orgJobs[(i - feeds) % orgJobs.length]!));
      const socketCount = Math.ceil(n / LIVE_PER_SOCKET);
      const groups: Sub[][] = Array.from({ length: socketCount }, () => []);
      mine.forEach((s, i) => groups[i % socketCount]!.push(s)); // feeds spread over the sockets too
      subs.push(...mine);
      bySocket.push(...groups);
    }
    const feedSubs = subs.filter((s) => s.kind === "feed");
    const jobSubs = subs.filter((s) => s.kind === "job");
    // Warm-up watchers: one job(id) per warm-up job, on its organization's first socket; not counted.
    const warmSubs = warmJobs.map((j) => newSub("job", j.org, j));
    for (const w of warmSubs) bySocket[bySocket.findIndex((g) => g[0]!.org === w.org)]!.push(w);
    for (const group of bySocket) {
      const socket = new Socket(wsUrl, t.authorization(group[0]!.org));
      sockets.push(socket);
      for (const sub of group) {
        const handlers = { onNext: (m: Message, at: number) => receive(sub, m, at, live), onDone: (err: unknown) => ((sub.done = true), err && (sub.error ??= errorText(err))) };
        if (sub.kind === "feed") socket.subscribe(FEED_SUB, { after }, handlers);
        else socket.subscribe(JOB_SUB, { id: sub.job!.id }, handlers);
      }
    }
    if (!(await waitFor(() => [...jobSubs, ...warmSubs].every((s) => s.firstAt !== null || s.error), 60_000))) throw new Error(`${t.label}: not every job(id) subscriber got its first state within 60 s`);
    await t.feedsReady(feedSubs, server, jobSubs.length + warmSubs.length);
    const failed = [...subs, ...warmSubs].filter((s) => s.error);
    if (failed.length) throw new Error(`${t.label}: ${failed.length} subscriptions failed: ${failed[0]!.error}`);

    // Warm-up (untimed, uncounted): one short job per organization through the same subscribers,
    // so the measured run meets a server whose code paths and caches are warm, as in production.
    await t.runJobs(warmJobs, "warmup");
    await waitFor(() => warmSubs.every((s) => s.done), 10_000, 20);
    await sleep(500);

    // The run: every message from here on is counted.
    const cpu0 = { server: server.cpuSeconds(), bench: process.cpuUsage(), machine: machineBusySeconds(), pg: pgCpuSeconds?.() ?? null };
    const t0 = nowMs();
    live.t0 = t0;
    live.measuring = true;
    await t.runJobs(jobs, "live");
    const ran = nowMs();
    // Tail: wait until every feed has its organization's last event and every job(id) stream completed.
    const expected = new Map<number, number[]>();
    for (let o = 0; o < liveOrgs; o++) expected.set(o, await t.expectedFeedIds(o));
    await waitFor(() => feedSubs.every((s) => s.error || s.ids.at(-1) === expected.get(s.org)!.at(-1)) && jobSubs.every((s) => s.done), 15_000, 50);
    const spanS = (nowMs() - t0) / 1000; // CPU is shared over the run and its tail
    const serverCpu = server.cpuSeconds() - cpu0.server;
    const benchCpuUsage = process.cpuUsage(cpu0.bench);
    const machineCpu = machineBusySeconds() - cpu0.machine;
    const pgCpu = cpu0.pg !== null ? pgCpuSeconds!() - cpu0.pg : null;
    live.measuring = false;
    const windowMs = Math.max(live.lastAt, ran) - t0;
    const serverRssKb = server.rssKb();
    const extra = (await t.afterLive?.()) ?? {};

    let feedsComplete = 0;
    for (const s of feedSubs) {
      const want = expected.get(s.org)!;
      const ok = !s.error && s.ids.length === want.length && s.ids.every((id, i) => id === want[i]);
      if (ok) feedsComplete++;
      else if (errors.length < 5) {
        const missing = want.filter((id) => !s.ids.includes(id)).length;
        errors.push(`feed org ${s.org}: ${s.error ?? `${s.ids.length} events, expected ${want.length} (${missing} missing, increasing: ${s.ids.every((id, i) => i === 0 || id > s.ids[i - 1]!)})`}`);
      }
    }
    let jobsComplete = 0;
    for (const s of jobSubs) {
      const ok = !s.error && s.done && s.terminal === "SUCCEEDED" && s.terminalProgress === 1 && !s.regressed;
      if (ok) jobsComplete++;
      else if (errors.length < 10) errors.push(`job(${s.job!.id}): ${s.error ?? `terminal ${s.terminal}, progress ${s.terminalProgress}, regressed ${s.regressed}, done ${s.done}`}`);
    }
    const progressSeenShare = jobSubs.reduce((a, s) => a + s.progressSeen, 0) / (jobSubs.length * steps || 1);
    return {
      subscribers: subs.length, feeds: feedSubs.length, jobSubs: jobSubs.length, sockets: sockets.length, orgs: liveOrgs, jobs: jobs.length,
      lat: live.lat, messages: live.messages, windowMs,
      feedsComplete, jobsComplete, progressSeenShare, errors,
      serverCpu: serverCpu / spanS, benchCpu: (benchCpuUsage.user + benchCpuUsage.system) / 1e6 / spanS,
      pgCpu: pgCpu !== null ? pgCpu / spanS : null, machineCpu: machineCpu / spanS, serverRssKb, flushLag: extra.flushLag,
    };
  } finally {
    await Promise.all(sockets.map((s) => s.dispose().catch(() => undefined)));
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Idle run

async function idleRun(t: Target): Promise<IdleResult> {
  const pages = await t.createIdleJobs();
  const server = await t.startServer();
  const sockets: Socket[] = [];
  const errors: string[] = [];
  const wsUrl = `${server.url.replace(/^http/, "ws")}/graphql`;
  type Ack = { acked: boolean; error: string | null };
  const noop = newLive();

  /** Opens the pages' subscriptions on one socket; resolves when each job(id) and (where acked) each feed answered. */
  const openSocket = async (org: number, group: typeof pages, n: number): Promise<{ socket: Socket; acks: Ack[] }> => {
    const socket = new Socket(wsUrl, t.authorization(org));
    const acks: Ack[] = [];
    let opened = 0;
    for (const page of group) {
      for (const kind of ["job", "feed"] as const) {
        if (opened++ >= n) break;
        const ack: Ack = { acked: kind === "feed" && page.after === null, error: null };
        acks.push(ack);
        const sub = newSub(kind, org, page);
        const handlers = {
          onNext: (m: Message, at: number) => {
            receive(sub, m, at, noop);
            if (sub.error) ack.error ??= sub.error;
            ack.acked = true;
          },
          onDone: (err: unknown) => void (ack.error ??= err ? errorText(err) : "completed"),
        };
        if (kind === "job") socket.subscribe(JOB_SUB, { id: page.id }, handlers);
        else socket.subscribe(FEED_SUB, { after: page.after, filter: { jobId: Buffer.from(`Job:${page.id}`).toString("base64") } }, handlers);
      }
    }
    await waitFor(() => acks.every((a) => a.acked || a.error), 60_000, 20);
    for (const a of acks) if (a.error && errors.length < 5) errors.push(a.error);
    return { socket, acks };
  };

  try {
    // Warm-up (not counted): a few pages opened and closed, so the baseline has the code paths loaded.
    const warm = pages.slice(0, Math.min(IDLE_WARMUP_PAGES, pages.length));
    const w = await openSocket(warm[0]?.org ?? 0, warm.filter((p) => p.org === (warm[0]?.org ?? 0)), IDLE_PER_SOCKET);
    await w.socket.dispose();
    await sleep(2_000);
    const baselineKb = median(await sampleRss(server, 2_000));

    // Per organization (≤ IDLE_PER_ORG), IDLE_PER_SOCKET operations per socket, 8 sockets opening at a time.
    const groups: Array<{ org: number; pages: typeof pages; n: number }> = [];
    let left = args.idle;
    for (let o = 0; o < idleOrgs; o++) {
      for (const g of chunks(pages.filter((p) => p.org === o), IDLE_PER_SOCKET / 2)) {
        const n = Math.min(left, g.length * 2);
        if (n > 0) groups.push({ org: o, pages: g, n });
        left -= n;
      }
    }
    const t0 = nowMs();
    let subscriptions = 0;
    await pool(groups, 8, async (g) => {
      const r = await openSocket(g.org, g.pages, g.n);
      sockets.push(r.socket);
      subscriptions += r.acks.filter((a) => a.acked && !a.error).length;
    });
    await t.idleReady(server, subscriptions);
    const openMs = nowMs() - t0;
    // GC-quiet pause: nothing happens for 5 s; RSS sampled every 500 ms, the median of the last 2 s reported.
    const samplesKb = await sampleRss(server, 5_000);
    return { subscriptions, sockets: sockets.length, orgs: idleOrgs, baselineKb, afterKb: median(samplesKb.slice(-4)), samplesKb, openMs, errors };
  } finally {
    await pool(sockets, 20, (s) => s.dispose().catch(() => undefined));
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Spool

/** Queued jobs that never run (no engine knows their type), with their QUEUED event, as submitJob writes them. */
const BULK_QUEUED = `
with j as (
  insert into jobs (organization_id, type, input, priority, max_attempts, run_at, idempotency_key, metadata, parent_id)
  select $1::uuid, $2, '{}'::jsonb, 'NORMAL'::job_priority, 1, now(), null, '{}'::jsonb, null
  from generate_series(1, $3::int)
  returning organization_id, id, status
)
insert into job_events (organization_id, job_id, kind, data)
select organization_id, id, 'STATUS', jsonb_build_object('status', status, 'attempt', 0) from j
returning job_id::text as job, id::text as event`;

async function spoolTarget(adminUrl: string): Promise<{ target: Target; close(): Promise<void> }> {
  const url = await recreateDatabase(adminUrl, DB_NAME);
  await migrate(url);
  const db = openDatabase(url, { max: 5, engineMax: liveJobs + 4, onError: (err) => log.warn({ err: err.message }, "idle connection failed") });
  const orgCount = Math.max(liveOrgs, idleOrgs);
  const orgs: Array<{ id: string; key: string }> = [];
  for (let o = 0; o < orgCount; o++) {
    const org = await ensureOrganization(db.prisma, `bench-${o}`);
    orgs.push({ id: org.id, key: (await createApiKey(db.prisma, { organizationId: org.id, name: "bench", scopes: ["jobs:read"] })).key });
  }
  const adminKey = generateKeyValue();
  /** The `after` the live feeds were given (expectedFeedIds compares from it). */
  let liveAfter = "0";

  let finished = 0;
  const processor = (type: string) => ({
    type,
    description: "reports progress and a log line every TICK_MS",
    input: z.object({ steps: z.number().int(), tickMs: z.number(), delayMs: z.number() }),
    maxAttempts: 1,
    run: async (job: { id: string; input: { steps: number; tickMs: number; delayMs: number } }, ctx: { signal: AbortSignal; logLine(m: string): void; progress(f: number): void }) => {
      await sleep(job.input.delayMs);
      for (let i = 1; i <= job.input.steps && !ctx.signal.aborted; i++) {
        const p = Math.round((i / job.input.steps) * 10_000) / 10_000;
        const t = nowMs();
        reported.set(`${job.id}|L${i}`, t);
        reported.set(`${job.id}|${p}`, t);
        ctx.logLine(`bench t=${t.toFixed(3)} step ${i}/${job.input.steps}`);
        ctx.progress(p);
        if (i < job.input.steps) await sleep(job.input.tickMs);
      }
      finished++;
      return { steps: job.input.steps };
    },
  });
  const TYPES: Record<JobKind, string> = { live: "bench.progress", warmup: "bench.warmup" };
  // Each engine claims only its registry's type; submissions know both.
  const engineRegistry = { live: new ProcessorRegistry().register(processor(TYPES.live)), warmup: new ProcessorRegistry().register(processor(TYPES.warmup)) };
  const registry = new ProcessorRegistry().register(processor(TYPES.live)).register(processor(TYPES.warmup));

  // The moment the engine issues each event's INSERT (the `written` stamps), and the time from
  // the report (ctx.logLine) to it: the engine's coalescing wait plus this process's timer lag.
  const flushLag: number[] = [];
  const query = db.enginePool.query.bind(db.enginePool) as (...a: unknown[]) => unknown;
  (db.enginePool as unknown as { query: (...a: unknown[]) => unknown }).query = (...a: unknown[]) => {
    const params = a[1] as unknown[] | undefined;
    if (a[0] === sql.logLines && Array.isArray(params)) {
      const at = nowMs();
      for (const line of JSON.parse(String(params[2])) as Array<{ message: string }>) {
        const step = STEP.exec(line.message)?.[1];
        if (!step) continue;
        written.set(`${params[0]}|L${step}`, at);
        flushLag.push(at - reported.get(`${params[0]}|L${step}`)!);
      }
    } else if (a[0] === sql.progress && Array.isArray(params)) {
      written.set(`${params[0]}|${params[2]}`, nowMs());
    }
    return query(...a);
  };

  const target: Target = {
    label: "spool",
    startServer: () =>
      // SPOOL_BENCH_SERVER_NODE_ARGS: extra node flags for the server (e.g. --cpu-prof --cpu-prof-dir=/tmp/prof), for analysis.
      startServer("spool serve", process.execPath, [...(process.env.SPOOL_BENCH_SERVER_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? []), "src/bin.js", "serve"], {
        cwd: ROOT,
        env: {
          ...process.env, DATABASE_URL: url, SPOOL_ROLE: "api", PORT: "0", HOST: "127.0.0.1", SPOOL_ADMIN_KEY: adminKey,
          SPOOL_LOG_LEVEL: "info", SPOOL_SHUTDOWN_GRACE_MS: "2000", SPOOL_DATA_DIR: path.join(ROOT, ".spool/bench"),
        },
      }),
    authorization: (o) => `Bearer ${orgs[o]!.key}`,
    async createJobs(kind, count, n) {
      const out: LiveJob[] = [];
      for (let k = 0; k < count; k++) {
        const org = k % liveOrgs;
        const { job } = await submitJob(db.pool, registry, orgs[org]!.id, { type: TYPES[kind], input: { steps: n, tickMs: TICK_MS, delayMs: Math.random() * TICK_MS } });
        out.push({ id: job.id, org, steps: n });
      }
      return out;
    },
    async feedAfter() {
      const { rows } = await db.pool.query(`select coalesce(max(id), 0)::text as max from job_events`);
      return (liveAfter = rows[0].max as string);
    },
    async feedsReady(feeds) {
      // One queued marker job per organization (a type no engine runs): its QUEUED event
      // reaching every feed of the organization shows the feeds are live (`after` covers any
      // feed that registered late, so nothing is lost either way).
      const markers = new Map<number, number>();
      for (let o = 0; o < liveOrgs; o++) {
        const { rows } = await db.pool.query(BULK_QUEUED, [orgs[o]!.id, "bench.marker", 1]);
        markers.set(o, Number(rows[0].event));
      }
      if (!(await waitFor(() => feeds.every((s) => s.error || s.ids.includes(markers.get(s.org)!)), 30_000))) {
        throw new Error(`spool: ${feeds.filter((s) => !s.ids.includes(markers.get(s.org)!)).length} feeds did not receive their marker event within 30 s`);
      }
    },
    async runJobs(jobs, kind) {
      // As a separate `spool worker`: its own pools and LISTEN connection, concurrency = the jobs.
      const listener = new PgListener(url, log);
      await listener.start();
      const engine = new Engine({ pool: db.enginePool, registry: engineRegistry[kind], log, listener, concurrency: jobs.length });
      finished = 0;
      engine.start();
      try {
        const ok = await waitFor(() => finished >= jobs.length && engine.runningCount === 0, (args.seconds + 60) * 1000, 20);
        if (!ok) throw new Error(`spool: only ${finished} of ${jobs.length} jobs finished in time`);
      } finally {
        await engine.stop(5_000);
        await listener.stop();
      }
    },
    async expectedFeedIds(o) {
      const after = await db.pool.query(`select id::text from job_events where organization_id = $1 and id > $2 order by job_events.id`, [orgs[o]!.id, liveAfter]);
      return after.rows.map((r) => Number(r.id));
    },
    async afterLive() {
      return { flushLag };
    },
    async createIdleJobs() {
      const out: Array<LiveJob & { after: string | null }> = [];
      for (let o = 0; o < idleOrgs; o++) {
        const n = Math.min(IDLE_PER_ORG / 2, idlePages - o * (IDLE_PER_ORG / 2));
        if (n <= 0) break;
        const { rows } = await db.pool.query(BULK_QUEUED, [orgs[o]!.id, "bench.idle", n]);
        // `after` just below the job's QUEUED event: the feed replays that one event (its ack), then idles.
        for (const r of rows) out.push({ id: r.job, org: o, steps: 0, after: String(Number(r.event) - 1) });
      }
      return out;
    },
    async idleReady() {
      // Every subscription answered already (job(id): its state; feeds: the replayed event).
    },
  };
  return { target, close: () => db.close() };
}

// ---------------------------------------------------------------------------------------------
// Peer: graphql-yoga createPubSub, in-process events, no Postgres

function peerTarget(): Target {
  let child: ServerChild | null = null;
  let nextEventId = 0;
  const published = new Map<number, number[]>();
  const orgId = (o: number) => `00000000-0000-4000-8000-${String(o).padStart(12, "0")}`;
  const send = (m: PeerMessage) => child!.proc.send(m);
  let statsSeq = 0;
  const stats = () =>
    new Promise<number>((resolve) => {
      const seq = ++statsSeq;
      const on = (m: { t: string; seq: number; live: number }) => {
        if (m.t === "stats" && m.seq === seq) {
          child!.proc.off("message", on);
          resolve(m.live);
        }
      };
      child!.proc.on("message", on);
      send({ t: "stats", seq });
    });
  const event = (o: number, job: string, e: { kind: string; status?: string; progress?: number; message?: string }) => {
    const id = ++nextEventId;
    published.get(o)!.push(id);
    send({ t: "event", id, org: orgId(o), job, ...e });
  };
  const uuid = () => crypto.randomUUID();
  return {
    label: "peer",
    startServer: async () =>
      (child = await startServer("peer", process.execPath, ["--import", "tsx", "test/bench/realtime-peer-server.ts"], { cwd: ROOT, env: process.env, ipc: true })),
    authorization: (o) => `Bearer peer:${orgId(o)}`,
    async createJobs(_kind, count, n) {
      const jobs: LiveJob[] = Array.from({ length: count }, (_, k) => ({ id: uuid(), org: k % liveOrgs, steps: n }));
      send({ t: "jobs", jobs: jobs.map((j) => ({ id: j.id, org: orgId(j.org), status: "QUEUED" })) });
      return jobs;
    },
    feedAfter: async () => null,
    async feedsReady(feeds, _server, jobSubs) {
      if (!(await waitFor(async () => (await stats()) >= feeds.length + jobSubs, 30_000, 50))) throw new Error("peer: subscriptions not live within 30 s");
      for (let o = 0; o < liveOrgs; o++) published.set(o, []);
    },
    async runJobs(jobs) {
      // The same cadence as the Spool processor, published over IPC instead of written to Postgres.
      await Promise.all(jobs.map(async (j) => {
        event(j.org, j.id, { kind: "STATUS", status: "RUNNING" });
        await sleep(Math.random() * TICK_MS);
        for (let i = 1; i <= j.steps; i++) {
          const p = Math.round((i / j.steps) * 10_000) / 10_000;
          const t = nowMs();
          for (const key of [`${j.id}|L${i}`, `${j.id}|${p}`]) {
            reported.set(key, t);
            written.set(key, t);
          }
          event(j.org, j.id, { kind: "LOG", message: `bench t=${t.toFixed(3)} step ${i}/${j.steps}` });
          event(j.org, j.id, { kind: "PROGRESS", progress: p });
          if (i < j.steps) await sleep(TICK_MS);
        }
        event(j.org, j.id, { kind: "STATUS", status: "SUCCEEDED", progress: 1 });
      }));
    },
    expectedFeedIds: async (o) => published.get(o) ?? [],
    async createIdleJobs() {
      const out = Array.from({ length: idlePages }, (_, p) => ({ id: uuid(), org: Math.floor(p / (IDLE_PER_ORG / 2)), steps: 0, after: null }));
      return out;
    },
    async idleReady(server, expected) {
      // Feeds have no ack here (no history to replay): wait for the server to count them live.
      if (!(await waitFor(async () => (await stats()) >= expected, 60_000, 100))) throw new Error(`peer: only ${await stats()} of ${expected} idle subscriptions live`);
    },
  };
}

// The peer's idle jobs must exist in its process before subscribing: sent once it is up.
async function withPeerIdleJobs(t: Target): Promise<Target> {
  const created = await t.createIdleJobs();
  const start = t.startServer;
  return {
    ...t,
    createIdleJobs: async () => created,
    startServer: async () => {
      const s = await start();
      s.proc.send({ t: "jobs", jobs: created.map((j) => ({ id: j.id, org: `00000000-0000-4000-8000-${String(j.org).padStart(12, "0")}`, status: "QUEUED" })) } satisfies PeerMessage);
      return s;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Database


// ---------------------------------------------------------------------------------------------
// Report

type Row = { system: string; live: LiveResult | null; idle: IdleResult | null };

function report(rows: Row[], meta: { pgVersion: string; server: string; load: number[] }) {
  const mb = (kb: number) => `${fmt(kb / 1024, 0)} MB`;
  const lines: string[][] = [];
  for (const r of rows) {
    const l = r.live;
    const all = l ? summarize([...l.lat.feed, ...l.lat.job]) : null;
    const i = r.idle;
    const perSub = i ? (i.afterKb - i.baselineKb) / i.subscriptions : null;
    lines.push([
      r.system,
      l ? l.subscribers.toLocaleString("en-US") : "-",
      fmt(all?.p50, 2), fmt(all?.p99, 2), fmt(all?.max, 1),
      l ? fmt(l.messages / (l.windowMs / 1000), 0) : "-",
      i ? `${mb(i.afterKb)} (${i.subscriptions.toLocaleString("en-US")})` : "-",
      fmt(perSub, 1),
    ]);
    if (l) {
      for (const [name, s, n] of [["jobEvents feeds", l.lat.feed, l.feeds], ["job(id)", l.lat.job, l.jobSubs]] as const) {
        const x = summarize([...s]);
        lines.push([`  ${name}`, n.toLocaleString("en-US"), fmt(x.p50, 2), fmt(x.p99, 2), fmt(x.max, 1), "", "", ""]);
      }
    }
  }
  console.log("");
  console.log(`Spool realtime benchmark: ${args.subscribers.toLocaleString("en-US")} live subscribers, ${liveJobs} jobs × ${args.seconds} s reporting every ${TICK_MS} ms; ${args.idle.toLocaleString("en-US")} idle subscriptions`);
  console.log(`PostgreSQL ${meta.pgVersion} (${meta.server}); ${os.availableParallelism()} CPUs, ${os.cpus()[0]?.model ?? "?"}; Node ${process.version}; load average at start ${meta.load.map((x) => fmt(x, 2)).join(" ")}`);
  console.log("");
  console.log(table(["system", "subscribers", "p50 ms", "p99 ms", "max ms", "msgs/s", "idle RSS (subs)", "KB/sub"], lines));
  console.log("");
  console.log("Delivery and cost:");
  console.log(table(
    ["system", "complete subscribers", "timed", "messages", "window s", "CPU server", "bench", "postgres", "other", "server RSS live", "idle: baseline RSS", "sockets/orgs (live · idle)", "idle open s"],
    rows.map((r) => {
      const l = r.live;
      const i = r.idle;
      return [
        r.system,
        l ? `${l.feedsComplete + l.jobsComplete}/${l.subscribers} (feeds ${l.feedsComplete}/${l.feeds}, job ${l.jobsComplete}/${l.jobSubs})` : "-",
        l ? (l.lat.feed.length + l.lat.job.length).toLocaleString("en-US") : "-",
        l ? l.messages.toLocaleString("en-US") : "-",
        l ? fmt(l.windowMs / 1000, 1) : "-",
        l ? `${fmt(l.serverCpu * 100, 0)}%` : "-",
        l ? `${fmt(l.benchCpu * 100, 0)}%` : "-",
        l?.pgCpu != null ? `${fmt(l.pgCpu * 100, 0)}%` : "-",
        l ? `${fmt(Math.max(0, l.machineCpu - l.serverCpu - l.benchCpu - (l.pgCpu ?? 0)) * 100, 0)}%` : "-",
        l ? mb(l.serverRssKb) : "-",
        i ? mb(i.baselineKb) : "-",
        `${l ? `${l.sockets}/${l.orgs}` : "-"} · ${i ? `${i.sockets}/${i.orgs}` : "-"}`,
        i ? fmt(i.openMs / 1000, 1) : "-",
      ];
    }),
  ));
  const spool = rows.find((r) => r.system.startsWith("spool"));
  console.log("");
  console.log("Notes:");
  console.log(`  spool = the real CLI, \`node src/bin.js serve\` with SPOOL_ROLE=api, DATABASE_URL = a fresh database, PORT=0, SPOOL_ADMIN_KEY (generated), in a child process;`);
  console.log(`    the jobs run in the bench process on an Engine with its own pool and LISTEN connection (concurrency = ${liveJobs}, default 300 ms progress coalescing),`);
  console.log(`    like a separate \`spool worker\`: events reach the server only by Postgres NOTIFY (then LiveUpdates: sequencing, one row read per batch / per job).`);
  console.log(`  peer = the same graphql-yoga 5 + graphql-armor + graphql-ws 6 wiring in a child process, subscriptions on yoga's in-memory createPubSub, no Postgres and no`);
  console.log(`    key lookup; this process sends it the same jobs and events over the IPC channel (the stand-in for NOTIFY). It shows what the transport alone costs.`);
  console.log(`  A message = one graphql-ws "next" received by a client: a JobEvent on a jobEvents feed, or a Job state on job(id) (Spool sends a state after every`);
  console.log(`    event of the job, log lines included, so ~2 per report; the peer does the same). Each job reports every ${TICK_MS} ms: ctx.logLine + ctx.progress,`);
  console.log(`    written by the engine as a LOG event then a PROGRESS event (2 transactions); plus STATUS RUNNING and SUCCEEDED. ${steps} reports per job.`);
  console.log(`  Latency = client receive time − event creation time, both performance.timeOrigin + performance.now() in this process (the clients and the jobs share it).`);
  console.log(`    Creation = the moment the engine issues the event's INSERT (enginePool.query wrapped; keyed by job + step from the log line's \`step i/N\`, by job +`);
  console.log(`    progress for PROGRESS); peer: just before the IPC send. Timed: LOG and PROGRESS events on feeds, job(id) states showing a new progress value.`);
  console.log(`    STATUS events, markers and repeated states count in msgs/s, untimed. Covers the INSERT and commit, NOTIFY, the server's sequencing, row read,`);
  console.log(`    GraphQL execution and WebSocket send, and the client's parsing.`);
  if (spool?.live) {
    const lag = summarize(spool.live.flushLag ?? []);
    const ca = summarize(spool.live.lat.createdAt);
    const rep = summarize(spool.live.lat.fromReport);
    console.log(`    Spool cross-checks: from the processor's report (ctx.logLine time, the log line's \`t=\`) instead: p50 ${fmt(rep.p50, 2)} / p99 ${fmt(rep.p99, 2)} ms`);
    console.log(`    (report → INSERT issued: p50 ${fmt(lag.p50, 2)} / p99 ${fmt(lag.p99, 2)} ms: the engine's 300 ms coalescing, as reports come every ${TICK_MS} ms, plus timer lag);`);
    console.log(`    LOG events from their createdAt (DB clock = transaction start, ms precision): p50 ${fmt(ca.p50, 2)} / p99 ${fmt(ca.p99, 2)} ms.`);
  }
  console.log(`  Live layout: ${liveOrgs} organizations × ≤${LIVE_PER_ORG} subscribers (limit 1,000 per organization per process), ${LIVE_PER_SOCKET} per WebSocket (limit`);
  console.log(`    ${MAX_OPERATIONS_PER_SOCKET} operations per socket); per organization ${Math.round(FEED_SHARE * 100)}% dashboards = jobEvents(after: newest id before subscribing) over all the`);
  console.log(`    organization's events, ${Math.round((1 - FEED_SHARE) * 100)}% job pages = job(id) spread over its ${Math.ceil(liveJobs / liveOrgs)} running jobs. Subscriptions are all live before the jobs start`);
  console.log(`    (Spool: a queued marker job per organization must reach every feed; peer: the server counts its listeners). Then an untimed warm-up: one ${WARMUP_STEPS}-report`);
  console.log(`    job per organization (plus a job(id) watcher each) through the same subscribers, so the timed run meets warm code, as a long-running server would.`);
  console.log(`  Complete: a feed received exactly the organization's event ids after its \`after\` as in the database at the end (peer: as published), strictly`);
  console.log(`    increasing, none missing; a job(id) stream ended with SUCCEEDED at progress 1, never went back, no error.`);
  if (spool?.live) console.log(`    job(id) subscribers saw ${fmt(spool.live.progressSeenShare * 100, 1)}% of the distinct progress values (states are coalesced by design).`);
  console.log(`  msgs/s = messages received from the jobs' start to the last one / that window. CPU = share of one core from the jobs' start to the end of the tail:`);
  console.log(`    server = the child process, bench = this process (engine + all clients), postgres = the embedded cluster's processes, other = the rest of the`);
  console.log(`    machine's busy time (/proc/stat; other work on this ${os.availableParallelism()}-CPU machine). Server + bench + postgres + other near ${os.availableParallelism() * 100}% = the machine is saturated;`);
  console.log(`    the server is one event loop, so its CPU near 100% = the server is the bottleneck (every burst then queues).`);
  console.log(`  Idle: a fresh server; ${IDLE_WARMUP_PAGES} job pages opened and closed first (warm-up), then baseline RSS (VmRSS from /proc/<pid>/status, median over 2 s); then job pages of queued jobs`);
  console.log(`    that never run, each = job(id) + jobEvents(filter: {jobId}) on the same socket (Spool: \`after\` just below the job's QUEUED event, so the feed`);
  console.log(`    replays that one event as its ack, then idles; peer: no history, the server counts its listeners). ${IDLE_PER_SOCKET} per WebSocket, ≤${IDLE_PER_ORG} per organization;`);
  console.log(`    RSS after all are established: the median of the last 2 s of a 5 s pause without traffic (no forced GC). KB/sub = (RSS after − baseline) / subscriptions, sockets included`);
  console.log(`    (RSS moves by tens of MB with GC on its own: with fewer than a few thousand subscriptions KB/sub is noise).`);
  for (const r of rows) {
    const per = (r.live?.lat.perSecond ?? []).map((v) => summarize(v ?? []).p99).filter(Number.isFinite);
    if (per.length < 2) continue;
    const rest = [...per.slice(1)].sort((x, y) => x - y);
    console.log(`  ${r.system}: p99 per second of the run (by creation time): first second ${fmt(per[0], 1)} ms; the other ${rest.length}: min ${fmt(rest[0], 1)} / median ${fmt(rest[Math.floor((rest.length - 1) / 2)], 1)} / max ${fmt(rest.at(-1), 1)} ms.`);
  }
  for (const r of rows) for (const e of [...(r.live?.errors ?? []), ...(r.idle?.errors ?? [])]) console.log(`  ${r.system}: ${e}`);

  if (spool) {
    const ok = (b: boolean) => (b ? "MET" : "NOT MET");
    console.log("");
    if (spool.live) {
      const all = summarize([...spool.live.lat.feed, ...spool.live.lat.job]);
      console.log(`Goal live p99 ≤ ${GOAL_P99_MS} ms (${spool.live.subscribers.toLocaleString("en-US")} subscribers): ${ok(all.p99 <= GOAL_P99_MS)} (p99 ${fmt(all.p99, 2)} ms, p50 ${fmt(all.p50, 2)} ms)` +
        (spool.live.subscribers < 1_000 ? " [fewer subscribers than the goal's 1,000]" : ""));
    }
    if (spool.idle) {
      const bytes = spool.idle.afterKb * 1024;
      console.log(`Goal ${spool.idle.subscriptions.toLocaleString("en-US")} idle subscriptions ≤ 1 GB RSS: ${ok(bytes <= GOAL_IDLE_RSS_BYTES)} (${mb(spool.idle.afterKb)})` +
        (spool.idle.subscriptions < 10_000 ? " [fewer subscriptions than the goal's 10,000]" : ""));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  const started = nowMs();
  const load = os.loadavg();
  const config = loadConfig({ ...process.env, SPOOL_DATA_DIR: process.env.SPOOL_BENCH_DATA_DIR ?? path.join(ROOT, ".spool/bench"), SPOOL_LOG_LEVEL: "warn" });
  const { url, embedded } = await resolveDatabaseUrl(config, log);
  const closers: Array<() => Promise<void>> = [];
  try {
    const pgVersion = await withClient(url, async (c) => (await c.query("show server_version")).rows[0].server_version as string);
    const rows: Row[] = [];
    const step = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
      process.stderr.write(`bench: ${name}...\n`);
      const t = nowMs();
      const r = await fn();
      process.stderr.write(`bench: ${name} done in ${fmt((nowMs() - t) / 1000, 1)} s\n`);
      return r;
    };
    if (args.systems.includes("spool")) {
      if (embedded) {
        const dataDir = process.env.SPOOL_BENCH_DATA_DIR ?? path.join(ROOT, ".spool/bench");
        const postmaster = Number(readFileSync(path.join(dataDir, "pg", "postmaster.pid"), "utf8").split("\n")[0]);
        if (Number.isInteger(postmaster) && postmaster > 0) pgCpuSeconds = () => processTreeCpuSeconds(postmaster);
      }
      const s = await step("spool: setup", () => spoolTarget(url));
      closers.push(s.close);
      const live = await step(`spool: live, ${args.subscribers} subscribers`, () => liveRun(s.target));
      const idle = args.idle > 0 ? await step(`spool: idle, ${args.idle} subscriptions`, () => idleRun(s.target)) : null;
      rows.push({ system: "spool serve (api) + NOTIFY", live, idle });
    }
    if (args.systems.includes("peer")) {
      const p = peerTarget();
      const live = await step(`peer: live, ${args.subscribers} subscribers`, () => liveRun(p));
      const idle = args.idle > 0 ? await step(`peer: idle, ${args.idle} subscriptions`, async () => idleRun(await withPeerIdleJobs(p))) : null;
      rows.push({ system: "peer: yoga createPubSub", live, idle });
    }
    report(rows, { pgVersion, server: embedded ? "Spool's embedded Postgres" : "DATABASE_URL", load });
    process.stderr.write(`bench: total ${fmt((nowMs() - started) / 1000, 0)} s\n`);
  } finally {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    await withClient(url, (c) => c.query(`drop database if exists ${pg.escapeIdentifier(DB_NAME)} with (force)`)).catch(() => undefined);
    await embedded?.stop();
  }
}

// A hard bound: nothing here should take 10 minutes; if it does, say so and stop.
const watchdog = setTimeout(() => {
  console.error("bench: still running after 10 minutes; exiting");
  process.exit(1);
}, 10 * 60_000);
watchdog.unref();

runBench(main);
