// `npm run bench:engine -- --kill-churn`: how long a crashed worker's jobs wait. Three worker
// processes (test/bench/churn-worker.ts: the real Engine with its default lease, heartbeat and
// sweep) drain 1,000 jobs of 0.1–0.9 s while one of them, chosen at random, is SIGKILLed every
// 2–4 s and restarted at once (as a supervisor would). For every job that was RUNNING on a
// killed worker, the time from the kill to its next attempt being RUNNING on another worker
// (its STATUS RUNNING event), split into kill → reclaimed (the lease running out, then a sweep)
// and reclaimed → running (its wait in the queue). Random choices are seeded, so two runs
// (say, before and after a change) kill on the same schedule. Stops once every job succeeded,
// or after `deadlineMs`.
import { spawn, type ChildProcess } from "node:child_process";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { openDatabase } from "../../src/db/database.ts";
import { migrate } from "../../src/db/migrate.ts";
import { ProcessorRegistry } from "../../src/engine/registry.ts";
import { submitJob } from "../../src/services/jobs.ts";
import { ensureOrganization } from "../../src/services/organizations.ts";
import { recreateDatabase } from "./bench-db.ts";
import { rng } from "./rng.ts";

const WORKER = fileURLToPath(new URL("./churn-worker.ts", import.meta.url));
const JOB_TYPE = "bench.sleep";
const GOAL_MS = 30_000;

export type ChurnOptions = {
  jobs: number;
  workers: number;
  concurrency: number;
  killEveryMs: [number, number];
  jobMs: [number, number];
  deadlineMs: number;
  seed: number;
};

export const CHURN_DEFAULTS: ChurnOptions = {
  jobs: 1_000, workers: 3, concurrency: 4, killEveryMs: [2_000, 4_000], jobMs: [100, 900], deadlineMs: 10 * 60_000, seed: 1,
};

type Orphan = { jobId: string; attempt: number; killedAt: number };
type Sample = { toReclaimed: number | null; toRunning: number | null };

const between = (random: () => number, [lo, hi]: [number, number]) => Math.round(lo + random() * (hi - lo));

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** A worker slot: its process is restarted as soon as it is killed. */
class Slot {
  child!: ChildProcess;
  ready = false;
  private exited!: Promise<void>;

  constructor(private readonly env: NodeJS.ProcessEnv) {
    this.spawn();
  }

  spawn(): void {
    this.ready = false;
    const child = spawn(process.execPath, ["--import", "tsx", WORKER], { env: this.env, stdio: ["ignore", "pipe", "inherit"] });
    child.stdout!.on("data", (d) => String(d).includes("ready") && child === this.child && (this.ready = true));
    this.exited = new Promise((resolve) => child.once("exit", () => resolve()));
    this.child = child;
  }

  async kill(): Promise<number> {
    const pid = this.child.pid!;
    this.child.kill("SIGKILL");
    await this.exited;
    return pid;
  }
}

export async function benchKillChurn(adminUrl: string, o: ChurnOptions = CHURN_DEFAULTS) {
  const url = await recreateDatabase(adminUrl, "bench_churn");
  await migrate(url);
  const db = openDatabase(url);
  const random = rng(o.seed);
  const slots: Slot[] = [];
  try {
    const org = await ensureOrganization(db.prisma, "bench");
    const registry = new ProcessorRegistry().register({ type: JOB_TYPE, description: "sleeps", input: z.object({ ms: z.number().int() }), run: async () => null });
    // 25 attempts: no job may fail for good, every kill is a sample.
    for (let i = 0; i < o.jobs; i++) {
      await submitJob(db.pool, registry, org.id, { type: JOB_TYPE, input: { ms: between(random, o.jobMs) }, maxAttempts: 25 });
    }
    const env = { ...process.env, DATABASE_URL: url, SPOOL_CONCURRENCY: String(o.concurrency), BENCH_JOB_TYPE: JOB_TYPE };
    for (let i = 0; i < o.workers; i++) slots.push(new Slot(env));

    const started = performance.now();
    const orphans: Orphan[] = [];
    let kills = 0;
    const succeeded = async () => Number((await db.pool.query(`select count(*) from jobs where status = 'SUCCEEDED'`)).rows[0].count);
    while ((await succeeded()) < o.jobs && performance.now() - started < o.deadlineMs) {
      await sleep(between(random, o.killEveryMs));
      const ready = slots.filter((s) => s.ready);
      const victim = (ready.length ? ready : slots)[Math.floor(random() * (ready.length || slots.length))]!;
      const pid = await victim.kill();
      const killedAt = Date.now();
      kills++;
      // The dead worker's rows stay RUNNING until their lease runs out: read them now.
      const { rows } = await db.pool.query(`select id, attempts from jobs where status = 'RUNNING' and locked_by like $1`, [`%:${pid}:%`]);
      for (const r of rows) orphans.push({ jobId: r.id, attempt: r.attempts, killedAt });
      victim.spawn();
    }
    const drainedS = (performance.now() - started) / 1000;
    const done = await succeeded();
    await Promise.all(slots.splice(0).map((s) => s.kill()));

    const samples: Sample[] = [];
    for (const orphan of orphans) {
      const { rows } = await db.pool.query(
        `select
           min(created_at) filter (where data->>'status' = 'QUEUED' and (data->>'attempt')::int = $2) as reclaimed,
           min(created_at) filter (where data->>'status' = 'RUNNING' and (data->>'attempt')::int > $2) as running
         from job_events where job_id = $1 and kind = 'STATUS'`,
        [orphan.jobId, orphan.attempt],
      );
      const at = (d: Date | null) => (d ? d.getTime() - orphan.killedAt : null);
      samples.push({ toReclaimed: at(rows[0].reclaimed), toRunning: at(rows[0].running) });
    }
    return { options: o, kills, orphans: orphans.length, done, drainedS, samples };
  } finally {
    await Promise.all(slots.map((s) => s.kill()));
    await db.close();
  }
}

export type ChurnResult = Awaited<ReturnType<typeof benchKillChurn>>;

export function reportKillChurn(label: string, r: ChurnResult): void {
  const stats = (xs: Array<number | null>) => {
    const sorted = xs.filter((x): x is number => x !== null).sort((a, b) => a - b);
    const s = (p: number) => {
      const v = percentile(sorted, p);
      return v === null ? "—" : (v / 1000).toFixed(1);
    };
    return { median: s(50), p95: s(95), max: s(100), n: sorted.length, maxMs: sorted.at(-1) ?? null };
  };
  const running = stats(r.samples.map((s) => s.toRunning));
  const reclaimed = stats(r.samples.map((s) => s.toReclaimed));
  const queued = stats(r.samples.map((s) => (s.toRunning !== null && s.toReclaimed !== null ? s.toRunning - s.toReclaimed : null)));
  const o = r.options;
  console.log("");
  console.log(`kill churn: ${o.workers} workers × concurrency ${o.concurrency}, ${o.jobs} jobs of ${o.jobMs[0]}–${o.jobMs[1]} ms, one worker SIGKILLed every ${o.killEveryMs[0] / 1000}–${o.killEveryMs[1] / 1000} s (seed ${o.seed})`);
  console.log(`  ${r.kills} kills, ${r.orphans} jobs running on a killed worker; ${r.done}/${o.jobs} jobs succeeded in ${r.drainedS.toFixed(0)} s`);
  console.log("");
  console.log("| code | kill → RUNNING elsewhere median / p95 / max (s) | kill → reclaimed median / max (s) | reclaimed → RUNNING median / max (s) | not re-run |");
  console.log("|---|---:|---:|---:|---:|");
  console.log(`| ${label} | ${running.median} / ${running.p95} / ${running.max} | ${reclaimed.median} / ${reclaimed.max} | ${queued.median} / ${queued.max} | ${r.orphans - running.n} |`);
  console.log("");
  const met = running.maxMs !== null && running.maxMs <= GOAL_MS && running.n === r.orphans;
  console.log(`Goal kill → RUNNING elsewhere <= ${GOAL_MS / 1000} s (max): ${met ? "MET" : "NOT MET"}`);
}
