// `spool serve` as a user runs it: no DATABASE_URL, so it starts the embedded Postgres
// under SPOOL_DATA_DIR, migrates, serves /health and /graphql (with the admin key it
// generated into $SPOOL_DATA_DIR/admin-key, GraphiQL for a browser), and stops everything
// on SIGTERM. Also
// the restart after a kill -9 (the orphaned postmaster is adopted) and an unusable data
// directory (a clear message, exit 1).
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isProcessAlive, waitFor } from "../helpers.ts";

const BIN = fileURLToPath(new URL("../../src/bin.js", import.meta.url));
let dir: string;
let pgPort: number;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function spool(args: string[], env: Record<string, string>) {
  const { DATABASE_URL: _ignored, ...rest } = process.env;
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...rest, PORT: "0", SPOOL_PG_PORT: String(pgPort), ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const url = () => waitFor(async () => out.match(/"url":"(http:\/\/[^"]+)"/)?.[1], `spool to listen (output: ${out})`, 60_000);
  return { child, exited, url, output: () => out };
}

async function postmasterPid(dataDir: string): Promise<number | null> {
  const file = path.join(dataDir, "pg", "postmaster.pid");
  if (!existsSync(file)) return null;
  return Number((await readFile(file, "utf8")).split("\n")[0]);
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "spool-serve-"));
  await chmod(dir, 0o755);
  pgPort = await freePort();
});
afterAll(async () => {
  const pid = await postmasterPid(path.join(dir, "data"));
  if (pid && isProcessAlive(pid)) process.kill(pid, "SIGINT");
  await rm(dir, { recursive: true, force: true });
});

describe("spool serve on the embedded Postgres", () => {
  it("starts from nothing, reports healthy, answers GraphQL with the generated admin key, and stops Postgres with it on SIGTERM", async () => {
    const dataDir = path.join(dir, "data");
    const s = spool(["serve"], { SPOOL_DATA_DIR: dataDir });
    const url = await s.url();
    const res = await fetch(`${url}/health`);
    expect(res.status).toBe(200);
    const health = await res.json();
    expect(health).toMatchObject({ status: "healthy", database: "up", listener: "up", storage: "up" });
    // Which ffmpeg runs the media jobs, and its version (PATH or the npm-shipped build).
    expect(health.ffmpeg).toMatchObject({ source: expect.stringMatching(/^(env|path|npm)$/), version: expect.stringMatching(/^ffmpeg version /) });
    expect((await fetch(`${url}/nope`)).status).toBe(404);

    const adminKey = (await readFile(path.join(dataDir, "admin-key"), "utf8")).trim();
    const query = (headers: Record<string, string>) =>
      fetch(`${url}/graphql`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ query: "{ viewer { organization { slug } } }" }) })
        .then((r) => r.json() as Promise<{ data?: { viewer: { organization: { slug: string } } } | null; errors?: Array<{ extensions?: { code?: string } }> }>);
    expect(await query({ authorization: `Bearer ${adminKey}` })).toEqual({ data: { viewer: { organization: { slug: "default" } } } });
    const anonymous = await query({});
    expect(anonymous.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    expect(anonymous.data ?? null).toBeNull();
    const page = await fetch(`${url}/graphql`, { headers: { accept: "text/html" } });
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    expect(await page.text()).toMatch(/graphiql/i);
    const pid = await postmasterPid(dataDir);
    expect(pid && isProcessAlive(pid)).toBeTruthy();

    s.child.kill("SIGTERM");
    expect(await s.exited).toBe(0);
    await waitFor(async () => !isProcessAlive(pid!), "postgres to stop");
  });

  it("after a kill -9 adopts the orphaned Postgres on the next start, and `spool migrate` reports up to date", async () => {
    const dataDir = path.join(dir, "data");
    const first = spool(["serve"], { SPOOL_DATA_DIR: dataDir });
    await first.url();
    const pid = await postmasterPid(dataDir);
    first.child.kill("SIGKILL");
    await first.exited;
    expect(isProcessAlive(pid!)).toBe(true); // the orphan the issue warns about

    const second = spool(["serve"], { SPOOL_DATA_DIR: dataDir });
    const url = await second.url();
    expect((await fetch(`${url}/health`)).status).toBe(200);
    expect(second.output()).toContain('"adopted":true');
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
    await waitFor(async () => !isProcessAlive(pid!), "the adopted postgres to stop");

    const migrate = spool(["migrate"], { SPOOL_DATA_DIR: dataDir });
    expect(await migrate.exited).toBe(0);
    expect(migrate.output()).toContain("database is up to date");
  });

  it.runIf(process.getuid?.() === 0)("refuses a data directory the postgres user cannot reach, saying what to do", async () => {
    const locked = path.join(dir, "locked");
    await mkdir(locked, { mode: 0o700 });
    await chmod(locked, 0o700);
    const s = spool(["serve"], { SPOOL_DATA_DIR: path.join(locked, "data") });
    expect(await s.exited).toBe(1);
    expect(s.output()).toContain(`chmod o+x ${locked}`);
    expect(s.output()).not.toMatch(/undefined/);
  });

  it("explains an unreachable DATABASE_URL instead of a bare socket error", async () => {
    const s = spool(["serve"], { SPOOL_DATA_DIR: path.join(dir, "data"), DATABASE_URL: "postgresql://spool:pw@127.0.0.1:1/spool" });
    expect(await s.exited).toBe(1);
    expect(s.output()).toContain("Cannot use the database spool at 127.0.0.1:1");
    expect(s.output()).toContain("Check DATABASE_URL");
    expect(s.output()).not.toContain("pw@");
  });

  it("refuses an invalid configuration with the variable named", async () => {
    const s = spool(["serve"], { SPOOL_DATA_DIR: path.join(dir, "data"), SPOOL_CONCURRENCY: "lots" });
    expect(await s.exited).toBe(1);
    expect(s.output()).toMatch(/SPOOL_CONCURRENCY/);
  });
});
