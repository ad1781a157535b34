// The process's database handles. `pool` serves the API, the services, Prisma (through
// its pg driver adapter) and the processors, whose one door to the database it is (their
// deps.pool, bound in app.ts; a job's context has no other). `enginePool` serves the job
// engine's own statements, and by default its commits do not wait for the WAL flush
// (synchronous_commit = off): what the engine writes on the way (claim, heartbeat,
// progress, stages, logs) is redone if a Postgres crash loses the last fraction of a
// second, because jobs run at least once and their effects are idempotent. Two kinds of
// commit are durable all the same: enqueue — what a client is told was accepted — on
// `pool`, and a job's terminal transition, which waits for the flush statement by
// statement (engine/sql.ts flushIfTerminal), so no client is told of an end a crash then
// undoes. SPOOL_ENGINE_SYNC_COMMIT=on makes every engine commit wait.
import pg from "pg";
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "../generated/prisma/client.ts";

export type Database = {
  url: string;
  pool: pg.Pool;
  enginePool: pg.Pool;
  prisma: PrismaClient;
  close(): Promise<void>;
};

export type DatabaseOptions = {
  max?: number;
  engineMax?: number;
  engineSyncCommit?: boolean;
  onError?: (err: Error) => void;
};

export function openDatabase(url: string, opts: DatabaseOptions = {}): Database {
  const pool = new pg.Pool({ connectionString: url, max: opts.max ?? 20, keepAlive: true });
  const enginePool = new pg.Pool({
    connectionString: url,
    max: opts.engineMax ?? 10,
    keepAlive: true,
    options: opts.engineSyncCommit ? undefined : "-c synchronous_commit=off",
  });
  // An idle connection dropped by the server must not crash the process.
  pool.on("error", (err) => opts.onError?.(err));
  enginePool.on("error", (err) => opts.onError?.(err));
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  return {
    url,
    pool,
    enginePool,
    prisma,
    async close() {
      await prisma.$disconnect().catch(() => undefined);
      await Promise.all([pool.end().catch(() => undefined), enginePool.end().catch(() => undefined)]);
    },
  };
}

/** Creates `database` on the server at `adminUrl` if it does not exist yet. */
export async function ensureDatabase(adminUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query("select 1 from pg_database where datname = $1", [database]);
    if (!rowCount) {
      await client.query(`create database ${pg.escapeIdentifier(database)}`).catch((err) => {
        if (err.code !== "42P04") throw err; // created meanwhile by another process
      });
    }
  } finally {
    await client.end();
  }
}
