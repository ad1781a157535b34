// `npm run bench:engine`: Spool's engine against graphile-worker and pg-boss, no-op jobs, on
// one Postgres server (DATABASE_URL, else Spool's embedded Postgres under ./.spool/bench).
//
//  - drain: N jobs queued while no worker runs, then a worker starts; time until every job
//    is finished in the database (jobs/s).
//  - latency: the worker runs idle; one job at a time is submitted through each system's
//    normal API; time from just before the submit call to the moment the handler starts
//    (performance.now(), same process); the next job is submitted once the worker is idle.
//
// Each system gets its own fresh database (bench_spool, bench_graphile, bench_pgboss) on the
// same server. Alongside the drain rate, the cost per job is read from the server:
// transactions committed (pg_stat_database) and WAL written, with every connection of the
// system closed before the counters are read so their statistics are flushed.
//
// Flags: --jobs N (20000), --latency-samples N (1000), --systems spool,graphile,pgboss,
// --pgboss-drain-seconds S (20: pg-boss's defaults fetch 1 job per 2 s poll),
// --no-webhook-trigger (Spool without its webhook outbox trigger, to measure what it costs),
// --kill-churn (instead: crashed workers' jobs under churn, test/bench/engine-churn.ts; --jobs N, 1000).
import { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { z } from "zod";
import { Logger as GraphileLogger, makeWorkerUtils, run as runGraphile } from "graphile-worker";
import PgBoss from "pg-boss";
import { resolveDatabaseUrl } from "../../src/db/connect.ts";
import { loadConfig } from "../../src/config.ts";
import { migrate } from "../../src/db/migrate.ts";
import { openDatabase } from "../../src/db/database.ts";
import { Engine } from "../../src/engine/engine.ts";
import { createLogger } from "../../src/log.ts";
import { ProcessorRegistry } from "../../src/engine/registry.ts";
import { PgListener } from "../../src/pubsub/pg-listener.ts";
import { submitJob } from "../../src/services/jobs.ts";
import { ensureOrganization } from "../../src/services/organizations.ts";
import { recreateDatabase, withClient } from "./bench-db.ts";
import { benchKillChurn, CHURN_DEFAULTS, reportKillChurn } from "./engine-churn.ts";
import { runBench } from "./run.ts";

// ---------------------------------------------------------------------------------------------
// Options

function parseArgs(argv: string[]) {
  const out = { jobs: 20_000, jobsGiven: false, latencySamples: 1_000, systems: ["spool", "graphile", "pgboss"], pgbossDrainSeconds: 20, webhookTrigger: true, killChurn: false };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split("=", 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i] ?? "";
    const int = (name: string) => {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 1) throw new Error(`${name} needs a positive integer`);
      return n;
    };
    if (flag === "--jobs") (out.jobs = int(flag)), (out.jobsGiven = true);
    else if (flag === "--latency-samples") out.latencySamples = int(flag);
    else if (flag === "--pgboss-drain-seconds") out.pgbossDrainSeconds = int(flag);
    else if (flag === "--systems") out.systems = value().split(",").map((s) => s.trim()).filter(Boolean);
    else if (flag === "--no-webhook-trigger") out.webhookTrigger = false;
    else if (flag === "--kill-churn") out.killChurn = true;
    else throw new Error(`Unknown flag ${flag}. Flags: --jobs N, --latency-samples N, --systems spool,graphile,pgboss, --pgboss-drain-seconds S, --no-webhook-trigger, --kill-churn`);
  }
  return out;
}

const args = parseArgs(process.argv.slice(2));
const log = createLogger("warn");
const CPUS = os.availableParallelism();
const WARMUP_JOBS = 1_000; // run through each worker once before the timed drain (JIT, caches, connections)
const IDLE_GAP_MS = 10; // pause between a job finishing and the next submit, so the worker is idle
const PGBOSS_LATENCY_CAP = 50; // pg-boss's 2 s polling makes each sample take ~2 s (latency + random gap)

// ---------------------------------------------------------------------------------------------
// Helpers

type Drain = {
  jobs: number; done: number; ms: number; complete: boolean; commits: number | null; walBytes: number | null;
  statements?: number; nodeCpuUs: number; machineCpuUs: number | null;
};
type Row = { system: string; drain: Drain | null; latency: number[] | null; latencyNote?: string };


/** Server-side counters for one database: committed transactions and the cluster's WAL position. */
async function counters(adminUrl: string, database: string): Promise<{ commits: number; lsn: string | null }> {
  return withClient(adminUrl, async (c) => {
    const { rows } = await c.query(`select xact_commit::bigint::text as commits from pg_stat_database where datname = $1`, [database]);
    const lsn = await c.query(`select pg_current_wal_lsn()::text as lsn`).then((r) => r.rows[0].lsn as string, () => null);
    return { commits: Number(rows[0]?.commits ?? 0), lsn };
  });
}

async function costSince(adminUrl: string, database: string, before: { commits: number; lsn: string | null }) {
  // Backends flush their statistics when they exit; all of the system's connections are closed by now.
  await sleep(700);
  const after = await counters(adminUrl, database);
  let walBytes: number | null = null;
  if (before.lsn && after.lsn) {
    walBytes = await withClient(adminUrl, (c) =>
      c.query(`select pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)::float8 as d`, [after.lsn, before.lsn]).then((r) => Number(r.rows[0].d)),
    );
  }
  // The counter read itself is one commit on the admin connection's database, not this one.
  return { commits: after.commits - before.commits, walBytes };
}

async function waitFor(cond: () => boolean | Promise<boolean>, intervalMs: number, timeoutMs: number): Promise<boolean> {
  const end = performance.now() + timeoutMs;
  while (performance.now() < end) {
    if (await cond()) return true;
    await sleep(intervalMs);
  }
  return cond();
}

/** Waits for `p`, at most `ms`; clears its timer either way. */
async function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

function drainTimeoutMs(n: number) {
  return Math.max(120_000, n * 20); // generous: ≥ 50 jobs/s
}

/** A "started" signal per sequence number, set by the handlers. */
class StartSignals {
  private waiters = new Map<number, (t: number) => void>();
  started = 0;
  expect(seq: number): Promise<number> {
    return new Promise((resolve) => this.waiters.set(seq, resolve));
  }
  hit(seq: unknown): void {
    const t = performance.now();
    this.started++;
    if (typeof seq !== "number") return;
    const w = this.waiters.get(seq);
    if (w) {
      this.waiters.delete(seq);
      w(t);
    }
  }
  reset(): void {
    this.started = 0;
    this.waiters.clear();
  }
}

async function measureLatency(
  samples: number,
  signals: StartSignals,
  submit: (seq: number) => Promise<unknown>,
  waitIdle: (seq: number) => Promise<void>,
  extraGap: () => number = () => 0,
): Promise<number[]> {
  const out: number[] = [];
  for (let seq = 1; seq <= samples; seq++) {
    const started = signals.expect(seq);
    const t0 = performance.now();
    const submitted = submit(seq);
    const t1 = await started;
    await submitted;
    out.push(t1 - t0);
    await waitIdle(seq);
    await sleep(IDLE_GAP_MS + extraGap());
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Spool

const SPOOL_TYPE = "bench.noop";

/** Like insertJob (sql.ts) for many rows at once: same columns, one STATUS event per job. */
const SPOOL_BULK_INSERT = `
with j as (
  insert into jobs (organization_id, type, input, priority, max_attempts, run_at, idempotency_key, metadata, parent_id)
  select $1::uuid, $2, '{}'::jsonb, 'NORMAL'::job_priority, $3::int, now(), null, '{}'::jsonb, null
  from generate_series(1, $4::int)
  returning organization_id, id, status
), e as (
  insert into job_events (organization_id, job_id, kind, data)
  select organization_id, id, 'STATUS', jsonb_build_object('status', status, 'attempt', 0) from j
  returning 1
)
select count(*)::int as n from e`;

async function benchSpool(label: string, concurrency: number, adminUrl: string, engineSyncCommit = false): Promise<Row> {
  const dbName = "bench_spool";
  const url = await recreateDatabase(adminUrl, dbName);
  await migrate(url);
  // Every STATUS event runs the webhook outbox trigger (one indexed lookup when the
  // organization has no endpoint); turning it off shows its cost.
  if (!args.webhookTrigger) await withClient(url, (c) => c.query("alter table job_events disable trigger job_events_webhooks"));
  const signals = new StartSignals();
  const registry = new ProcessorRegistry().register({
    type: SPOOL_TYPE,
    description: "benchmark no-op",
    input: z.object({ seq: z.number().int().optional() }),
    maxAttempts: 3,
    run: async (job) => {
      signals.hit(job.input.seq);
      return null;
    },
  });
  const config = loadConfig({ ...process.env, DATABASE_URL: url });
  const setup = openDatabase(url);
  const org = await ensureOrganization(setup.prisma, "bench");
  await setup.close();

  const queue = async (n: number) => {
    const db = openDatabase(url);
    for (let left = n; left > 0; left -= 5_000) {
      await db.pool.query(SPOOL_BULK_INSERT, [org.id, SPOOL_TYPE, registry.get(SPOOL_TYPE)!.maxAttempts ?? 3, Math.min(5_000, left)]);
    }
    await db.pool.query("vacuum analyze jobs");
    await db.pool.query("vacuum analyze job_events");
    await db.close();
  };
  const startWorker = async (countStatements = false) => {
    // As `spool serve` builds it: the engine on enginePool, submissions on the durable pool.
    const db = openDatabase(url, { engineMax: concurrency + 4, engineSyncCommit, onError: (err) => log.warn({ err: err.message }, "idle connection failed") });
    let statements = 0;
    if (countStatements) {
      const query = db.enginePool.query.bind(db.enginePool) as (...a: unknown[]) => unknown;
      (db.enginePool as unknown as { query: (...a: unknown[]) => unknown }).query = (...a: unknown[]) => {
        statements++;
        return query(...a);
      };
    }
    const listener = new PgListener(url, log);
    await listener.start();
    const engine = new Engine({ pool: db.enginePool, registry, log, listener, concurrency, leaseMs: config.leaseMs });
    engine.start();
    return {
      db,
      engine,
      statements: () => statements,
      async stop() {
        await engine.stop(5_000);
        await listener.stop();
        await db.close();
      },
    };
  };

  // Warm-up (not measured): the same worker through a small queue.
  const warmup = Math.min(WARMUP_JOBS, args.jobs);
  await queue(warmup);
  {
    const w = await startWorker();
    await waitFor(() => signals.started >= warmup, 5, drainTimeoutMs(warmup));
    await waitFor(() => w.engine.runningCount === 0, 5, 30_000);
    await w.stop();
    signals.reset();
  }

  await queue(args.jobs);
  const drain = await timedDrain({
    adminUrl, dbName, url, signals,
    timeoutMs: drainTimeoutMs(args.jobs),
    remaining: { text: `select count(*)::int as n from jobs where status <> 'SUCCEEDED'` },
    startWorker: () => startWorker(true),
  });

  // Latency: a fresh, idle worker; submissions through submitJob on the durable API pool.
  signals.reset();
  const w = await startWorker();
  await sleep(200);
  const latency = await measureLatency(
    args.latencySamples,
    signals,
    (seq) => submitJob(w.db.pool, registry, org.id, { type: SPOOL_TYPE, input: { seq } }),
    async () => {
      await waitFor(() => w.engine.runningCount === 0, 1, 30_000);
    },
  );
  await w.stop();
  return { system: label, drain, latency };
}

/** CPU time used so far: this process, and the whole machine (all cores; Linux only). */
function cpuNow(): { node: number; machine: number | null } {
  const u = process.cpuUsage();
  let machine: number | null = null;
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal …: busy = all but idle and iowait, in USER_HZ (100/s)
    const busy = line.slice(0, 8).reduce((a, b) => a + b, 0) - line[3]! - line[4]!;
    machine = busy * 10_000; // µs
  } catch {
    machine = null;
  }
  return { node: u.user + u.system, machine };
}

/**
 * Starts the worker, waits until the handlers saw every job, then until the database says
 * no job is left; then stops the worker and reads the server's counters.
 */
async function timedDrain(o: {
  adminUrl: string; dbName: string; url: string; signals: StartSignals; timeoutMs: number;
  remaining: { text: string; values?: unknown[] };
  startWorker: () => Promise<{ stop(): Promise<void>; statements?: () => number }>;
}): Promise<Drain> {
  await sleep(300); // setup connections have exited and flushed their statistics
  const before = await counters(o.adminUrl, o.dbName);
  const check = new pg.Client({ connectionString: o.url });
  await check.connect();
  const left = async () => Number((await check.query(o.remaining.text, o.remaining.values)).rows[0].n);
  const jobs = await left();
  const cpu0 = cpuNow();
  const t0 = performance.now();
  const worker = await o.startWorker();
  const handled = await waitFor(() => o.signals.started >= jobs, 5, o.timeoutMs);
  const complete = handled && (await waitFor(async () => (await left()) === 0, 10, 30_000));
  const ms = performance.now() - t0;
  const cpu1 = cpuNow();
  const statements = worker.statements?.();
  const done = jobs - (await left());
  await check.end();
  await worker.stop();
  const cost = await costSince(o.adminUrl, o.dbName, before);
  return {
    jobs, done, ms, complete, ...cost, statements,
    nodeCpuUs: cpu1.node - cpu0.node,
    machineCpuUs: cpu0.machine !== null && cpu1.machine !== null ? cpu1.machine - cpu0.machine : null,
  };
}

// ---------------------------------------------------------------------------------------------
// graphile-worker

const GRAPHILE_TASK = "bench_noop";

// The default logger prints a line per completed job at "info"; keep warnings and errors only,
// as Spool's logger is at "warn" here. Not a performance setting otherwise.
const graphileLogger = new GraphileLogger(() => (level, message) => {
  if (level === "error" || level === "warning") console.error(`[graphile-worker ${level}] ${message}`);
});

async function benchGraphile(label: string, concurrency: number | undefined, adminUrl: string): Promise<Row> {
  const dbName = "bench_graphile";
  const url = await recreateDatabase(adminUrl, dbName);
  const signals = new StartSignals();
  const taskList = {
    [GRAPHILE_TASK]: async (payload: unknown) => {
      signals.hit((payload as { seq?: number } | null)?.seq);
    },
  };
  // Everything else default (concurrency 1, pollInterval 2000 ms, LISTEN/NOTIFY, no local
  // queue, no batched completion); noHandleSignals so the bench owns its process's signals.
  const options = { connectionString: url, taskList, logger: graphileLogger, noHandleSignals: true, ...(concurrency ? { concurrency } : {}) };
  const queue = async (n: number) => {
    const utils = await makeWorkerUtils({ connectionString: url, logger: graphileLogger });
    await utils.migrate();
    for (let i = 0; i < n; i += 1_000) {
      await utils.addJobs(Array.from({ length: Math.min(1_000, n - i) }, () => ({ identifier: GRAPHILE_TASK, payload: {} })));
    }
    await utils.withPgClient((c) => c.query("vacuum analyze graphile_worker._private_jobs"));
    await utils.release();
  };

  const warmup = Math.min(WARMUP_JOBS, args.jobs);
  await queue(warmup);
  {
    const runner = await runGraphile(options);
    await waitFor(() => signals.started >= warmup, 5, drainTimeoutMs(warmup));
    await runner.stop();
    signals.reset();
  }

  await queue(args.jobs);
  const drain = await timedDrain({
    adminUrl, dbName, url, signals,
    timeoutMs: drainTimeoutMs(args.jobs),
    remaining: { text: `select count(*)::int as n from graphile_worker._private_jobs` },
    startWorker: async () => runGraphile(options),
  });

  signals.reset();
  const runner = await runGraphile(options);
  const utils = await makeWorkerUtils({ connectionString: url, logger: graphileLogger });
  const completed = new Map<number, () => void>();
  const pendingComplete = new Map<number, Promise<void>>();
  runner.events.on("job:complete", ({ job }) => {
    const seq = (job.payload as { seq?: number } | null)?.seq;
    if (typeof seq === "number") completed.get(seq)?.();
  });
  await sleep(200);
  const latency = await measureLatency(
    args.latencySamples,
    signals,
    (seq) => {
      // Registered before the submit, so a fast completion is not missed.
      pendingComplete.set(seq, new Promise<void>((resolve) => completed.set(seq, resolve)));
      return utils.addJob(GRAPHILE_TASK, { seq });
    },
    async (seq) => {
      await within(pendingComplete.get(seq)!, 30_000);
      pendingComplete.delete(seq);
      completed.delete(seq);
    },
  );
  await utils.release();
  await runner.stop();
  return { system: label, drain, latency };
}

// ---------------------------------------------------------------------------------------------
// pg-boss

async function benchPgBoss(label: string, adminUrl: string): Promise<Row> {
  const dbName = "bench_pgboss";
  const url = await recreateDatabase(adminUrl, dbName);
  const drainQueue = "bench_drain";
  const latencyQueue = "bench_latency";
  const signals = new StartSignals();
  const onError = (err: Error) => console.error(`[pg-boss] ${err.message}`);

  {
    // Setup only: schema, queues, jobs. Its maintenance/cron are off (it is not the worker).
    const boss = new PgBoss({ connectionString: url, supervise: false, schedule: false });
    boss.on("error", onError);
    await boss.start();
    await boss.createQueue(drainQueue);
    await boss.createQueue(latencyQueue);
    for (let i = 0; i < args.jobs; i += 1_000) {
      await boss.insert(Array.from({ length: Math.min(1_000, args.jobs - i) }, () => ({ name: drainQueue, data: {} })));
    }
    await boss.stop({ graceful: true, wait: true });
  }

  // The worker: default constructor options, default work options (batchSize 1, pollingIntervalSeconds 2).
  // No warm-up: at 1 job per 2 s there is nothing to warm.
  const drain = await timedDrain({
    adminUrl, dbName, url, signals,
    timeoutMs: Math.min(args.pgbossDrainSeconds * 1_000, drainTimeoutMs(args.jobs)),
    remaining: { text: `select count(*)::int as n from pgboss.job where name = $1 and state <> 'completed'`, values: [drainQueue] },
    startWorker: async () => {
      const boss = new PgBoss(url);
      boss.on("error", onError);
      await boss.start();
      await boss.work(drainQueue, async (jobs) => {
        for (const j of jobs) signals.hit((j.data as { seq?: number }).seq);
      });
      return {
        async stop() {
          await boss.offWork(drainQueue);
          await boss.stop({ graceful: true, wait: true });
        },
      };
    },
  });

  const samples = Math.min(args.latencySamples, PGBOSS_LATENCY_CAP);
  signals.reset();
  const boss = new PgBoss(url);
  boss.on("error", onError);
  await boss.start();
  await boss.work(latencyQueue, async (jobs) => {
    for (const j of jobs) signals.hit((j.data as { seq?: number }).seq);
  });
  await sleep(200);
  const latency = await measureLatency(
    samples,
    signals,
    (seq) => boss.send(latencyQueue, { seq }),
    async () => undefined,
    // Submitting right after a fetch would always land ~2 s before the next poll; a random
    // pause spreads submissions over the polling cycle, as independent arrivals would be.
    () => Math.random() * 2_000,
  );
  await boss.offWork(latencyQueue);
  await boss.stop({ graceful: true, wait: true });
  const note = samples < args.latencySamples ? `${samples} samples` : undefined;
  return { system: label, drain, latency, latencyNote: note };
}

// ---------------------------------------------------------------------------------------------
// Report

function fmt(n: number | null | undefined, digits = 1): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "-";
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function rate(d: Drain | null): number | null {
  return d && d.ms > 0 ? (d.done / d.ms) * 1000 : null;
}

function table(headers: string[], rows: string[][], rightFrom = 1): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < rightFrom ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ");
  return [line(headers), widths.map((w) => "-".repeat(w)).join("-+-"), ...rows.map(line)].join("\n");
}

function report(rows: Row[], meta: { pgVersion: string; server: string }) {
  const stats = rows.map((r) => {
    const sorted = r.latency ? [...r.latency].sort((a, b) => a - b) : [];
    return { row: r, rate: rate(r.drain), p50: sorted.length ? percentile(sorted, 50) : null, p99: sorted.length ? percentile(sorted, 99) : null };
  });
  const base = stats.find((s) => s.row.system === "graphile-worker (default)");
  const ratio = (v: number | null, b: number | null | undefined) => {
    if (v === null || !b) return "-";
    const r = v / b;
    return r !== 0 && r < 0.01 ? `x${r.toPrecision(2)}` : `x${fmt(r, 2)}`;
  };
  const fmtRate = (r: number | null) => fmt(r, r !== null && r < 10 ? 2 : 0);

  console.log("");
  console.log(`Spool engine benchmark: no-op jobs, ${args.jobs.toLocaleString("en-US")} queued for the drain, ${args.latencySamples} sequential submissions for latency`);
  console.log(`PostgreSQL ${meta.pgVersion} (${meta.server}); ${CPUS} CPUs (os.availableParallelism), ${os.cpus()[0]?.model ?? "?"}; Node ${process.version}`);
  console.log("");
  console.log(
    table(
      ["system", "drain jobs/s", "p50 ms", "p99 ms", "drain vs gw", "p50 vs gw", "p99 vs gw"],
      stats.map((s) => [
        s.row.system + (s.row.drain && !s.row.drain.complete ? " *" : ""),
        fmtRate(s.rate),
        fmt(s.p50, 2),
        fmt(s.p99, 2) + (s.row.latencyNote ? ` (${s.row.latencyNote})` : ""),
        ratio(s.rate, base?.rate),
        ratio(s.p50, base?.p50),
        ratio(s.p99, base?.p99),
      ]),
    ),
  );
  console.log("");
  console.log("Cost per job during the drain (server counters; includes the systems' own background queries):");
  console.log(
    table(
      ["system", "jobs done", "drain s", "commits/job", "WAL bytes/job", "CPU µs/job node", "CPU µs/job machine", "client stmts/job"],
      stats.map((s) => {
        const d = s.row.drain;
        const per = (v: number | null | undefined, digits: number) => (d && d.done && v != null ? fmt(v / d.done, digits) : "-");
        return [
          s.row.system,
          d ? d.done.toLocaleString("en-US") : "-",
          d ? fmt(d.ms / 1000, 2) : "-",
          per(d?.commits, 2),
          per(d?.walBytes, 0),
          per(d?.nodeCpuUs, 0),
          per(d?.machineCpuUs, 0),
          per(d?.statements, 2),
        ];
      }),
    ),
  );
  console.log("");
  console.log("Notes:");
  console.log(`  ratios are system / graphile-worker (default); drain: higher is better, latency: lower is better.`);
  console.log(`  spool (default) = SPOOL_CONCURRENCY unset = os.availableParallelism() = ${CPUS}, as \`npm start\` runs; leaseMs 15000, pollMs 1000, LISTEN/NOTIFY wake-ups;`);
  console.log(`    engine commits skip the WAL flush (synchronous_commit=off on the engine pool; jobs are at-least-once) except a job's end; submissions are fully durable.`);
  console.log(`  spool (engine sync commit) = the same with SPOOL_ENGINE_SYNC_COMMIT=on: every engine commit waits for the WAL flush, as graphile-worker's do.`);
  console.log(`  spool (concurrency 1) matches graphile-worker's default concurrency; the concurrency-10 rows compare both at 10.`);
  console.log(`  graphile-worker (default) = 0.17 defaults: concurrency 1, pollInterval 2000 ms, LISTEN/NOTIFY on jobs:insert, maxPoolSize 10,`);
  console.log(`    no localQueue, no completeJobBatchDelay. Logger limited to warnings (the default prints a line per job). Submissions: workerUtils.addJob.`);
  console.log(`  pg-boss (default) = 10.x defaults: work() batchSize 1, pollingIntervalSeconds 2 (no LISTEN/NOTIFY), so one worker runs at most 1 job per 2 s;`);
  console.log(`    its drain is cut off after ${args.pgbossDrainSeconds} s (rate = jobs done / time). Latency: ${Math.min(args.latencySamples, PGBOSS_LATENCY_CAP)} samples`);
  console.log(`    (each takes ~2 s), submitted after a random 0-2 s pause so they land at random points of the poll cycle. Submissions: boss.send.`);
  console.log(`  latency = performance.now() just before the submit call → handler entry; the next job is submitted ${IDLE_GAP_MS} ms after the previous one finished.`);
  console.log(`  drain = worker start → every job finished in the database (handler count, then confirmed by a count query);`);
  console.log(`    Spool and graphile-worker first run ${WARMUP_JOBS} untimed warm-up jobs through the same worker configuration.`);
  console.log(`  commits/job: pg_stat_database.xact_commit delta of the system's database (read after its connections closed); WAL: cluster-wide LSN delta.`);
  console.log(`  CPU µs/job: node = this process (process.cpuUsage); machine = all cores from /proc/stat (Postgres + node + anything else running).`);
  console.log(`  client stmts/job: Spool pool.query calls during the drain (engine statements, excluding the LISTEN connection).`);
  console.log(`  pg-boss's per-job costs are its polling and maintenance over the cut-off window divided by the few jobs it ran.`);
  if (stats.some((s) => s.row.drain && !s.row.drain.complete)) console.log(`  * the drain did not finish within its time limit; the rate counts the jobs that did.`);

  const spool = stats.find((s) => s.row.system === "spool (default)");
  if (spool && base) {
    const ok = (b: boolean) => (b ? "MET" : "NOT MET");
    console.log("");
    console.log(
      `Goal drain >= graphile-worker: ${ok((spool.rate ?? 0) >= (base.rate ?? Infinity))} ` +
        `(spool default ${fmtRate(spool.rate)} jobs/s vs ${fmtRate(base.rate)}; ${ratio(spool.rate, base.rate)})`,
    );
    console.log(
      `Goal latency <= graphile-worker: ${ok((spool.p50 ?? Infinity) <= (base.p50 ?? 0) && (spool.p99 ?? Infinity) <= (base.p99 ?? 0))} ` +
        `(p50 ${fmt(spool.p50, 2)} vs ${fmt(base.p50, 2)} ms, p99 ${fmt(spool.p99, 2)} vs ${fmt(base.p99, 2)} ms)`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  const config = loadConfig({ ...process.env, SPOOL_DATA_DIR: process.env.SPOOL_BENCH_DATA_DIR ?? path.resolve(".spool/bench"), SPOOL_LOG_LEVEL: "warn" });
  const { url, embedded } = await resolveDatabaseUrl(config, log);
  try {
    const pgVersion = await withClient(url, async (c) => (await c.query("show server_version")).rows[0].server_version as string);
    const server = embedded ? "Spool's embedded Postgres" : "DATABASE_URL";
    if (args.killChurn) {
      const result = await benchKillChurn(url, { ...CHURN_DEFAULTS, jobs: args.jobsGiven ? args.jobs : CHURN_DEFAULTS.jobs });
      console.log(`PostgreSQL ${pgVersion} (${server}), ${CPUS} CPUs`);
      reportKillChurn("spool", result);
      await withClient(url, (c) => c.query(`drop database if exists bench_churn with (force)`));
      return;
    }
    const rows: Row[] = [];
    const step = async (name: string, fn: () => Promise<Row>) => {
      process.stderr.write(`bench: ${name}...\n`);
      const t = performance.now();
      const row = await fn();
      rows.push(row);
      process.stderr.write(`bench: ${name} done in ${fmt((performance.now() - t) / 1000, 1)} s (${fmt(rate(row.drain), 0)} jobs/s)\n`);
    };
    if (args.systems.includes("spool")) {
      await step("spool (default)", () => benchSpool("spool (default)", config.concurrency, url));
      await step("spool (engine sync commit)", () => benchSpool("spool (engine sync commit)", config.concurrency, url, true));
      if (CPUS !== 1) await step("spool (concurrency 1)", () => benchSpool("spool (concurrency 1)", 1, url));
      if (CPUS !== 10) await step("spool (concurrency 10)", () => benchSpool("spool (concurrency 10)", 10, url));
    }
    if (args.systems.includes("graphile")) {
      await step("graphile-worker (default)", () => benchGraphile("graphile-worker (default)", undefined, url));
      await step("graphile-worker (concurrency 10)", () => benchGraphile("graphile-worker (concurrency 10)", 10, url));
    }
    if (args.systems.includes("pgboss")) await step("pg-boss (default)", () => benchPgBoss("pg-boss (default)", url));
    report(rows, { pgVersion, server });
    await withClient(url, async (c) => {
      for (const name of ["bench_spool", "bench_graphile", "bench_pgboss"]) await c.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`);
    });
  } finally {
    await embedded?.stop();
  }
}

runBench(main);
