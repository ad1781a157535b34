// The first minutes with `spool` (issue 12, item 20): a busy HTTP port is refused before
// anything else happens — one clear line, exit 1, no stack trace, no embedded Postgres
// initialised and no admin key generated or printed — and `spool` with no command prints
// its usage instead of starting a server. A port taken between that check and the real
// listen (createApp in-process) still fails the start before an admin key is made.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdtemp, readFile, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/app.ts";
import { loadConfig } from "../../src/config.ts";
import { createTestDatabase, log } from "../helpers.ts";

const BIN = fileURLToPath(new URL("../../src/bin.js", import.meta.url));
const README = fileURLToPath(new URL("../../README.md", import.meta.url));
const STACK = /\n\s+at /;
const KEY = /spool_[a-z0-9]{16}_/;

let dir: string;
let pgPort: number;

/** `spool …` to its end, with no DATABASE_URL or SPOOL_ADMIN_KEY of ours. */
function spool(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { DATABASE_URL: _d, SPOOL_ADMIN_KEY: _k, ...rest } = process.env;
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...rest, SPOOL_PG_PORT: String(pgPort), ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}

/** A listener holding a loopback port, as another program (or a second Spool) would. */
function occupyPort(): Promise<net.Server> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => resolve(srv));
  });
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "spool-first-"));
  await chmod(dir, 0o755);
  // A port of its own for the embedded Postgres a failing check would start.
  const srv = await occupyPort();
  pgPort = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("spool serve on a busy port", () => {
  it("says so in one line and exits 1 before starting Postgres or generating an admin key", async () => {
    const busy = await occupyPort();
    const port = (busy.address() as net.AddressInfo).port;
    const dataDir = path.join(dir, "busy");
    try {
      const run = await spool(["serve"], { PORT: String(port), HOST: "127.0.0.1", SPOOL_DATA_DIR: dataDir });
      expect(run.code).toBe(1);
      expect(run.stderr).toBe(`spool: Port ${port} on 127.0.0.1 is in use; set PORT to a free port (or stop what listens there).\n`);
      expect(run.stderr).not.toMatch(STACK);
      expect(run.stdout).not.toMatch(KEY);
      expect(existsSync(path.join(dataDir, "admin-key"))).toBe(false);
      // Checked before anything else: not even the embedded cluster was initialised.
      expect(existsSync(path.join(dataDir, "pg"))).toBe(false);
    } finally {
      await new Promise((r) => busy.close(r));
    }
  });

  it("says which HOST cannot be listened on", async () => {
    // 192.0.2.1 (TEST-NET-1) is on no interface of this machine.
    const run = await spool(["serve"], { PORT: "0", HOST: "192.0.2.1", SPOOL_DATA_DIR: path.join(dir, "host") });
    expect(run.code).toBe(1);
    expect(run.stderr).toBe("spool: Cannot listen on 192.0.2.1: no network interface of this machine has that address; set HOST (127.0.0.1 for this machine only, 0.0.0.0 for every interface).\n");
    expect(existsSync(path.join(dir, "host", "pg"))).toBe(false);
  });
});

describe("App.start on a port taken after the check", () => {
  it("fails with PORT_IN_USE before generating an admin key, and stops cleanly", async () => {
    const db = await createTestDatabase();
    const busy = await occupyPort();
    const port = (busy.address() as net.AddressInfo).port;
    const dataDir = path.join(dir, "race");
    try {
      const config = loadConfig({ DATABASE_URL: db.url, PORT: String(port), HOST: "127.0.0.1", SPOOL_DATA_DIR: dataDir, SPOOL_CONCURRENCY: "1" });
      const app = await createApp(config, log);
      await expect(app.start()).rejects.toMatchObject({ code: "PORT_IN_USE", message: expect.stringContaining(`Port ${port} on 127.0.0.1 is in use`) });
      await app.stop({ graceMs: 0 });
      expect(existsSync(path.join(dataDir, "admin-key"))).toBe(false);
      expect(await db.prisma.apiKey.count()).toBe(0);
    } finally {
      await new Promise((r) => busy.close(r));
      await db.drop();
    }
  });
});

describe("spool with no command", () => {
  it("prints its usage, naming every command, and exits 0 without starting anything", async () => {
    const dataDir = path.join(dir, "usage");
    const run = await spool([], { SPOOL_DATA_DIR: dataDir });
    expect(run).toMatchObject({ code: 0, stderr: "" });
    expect(run.stdout).toMatch(/^usage: spool <command>\n/);
    for (const command of ["serve", "worker", "migrate", "keys", "orgs"]) expect(run.stdout).toMatch(new RegExp(`^  ${command} `, "m"));
    expect(existsSync(dataDir)).toBe(false);

    // The README's command table names the same commands as the usage, no more, no fewer.
    const readme = await readFile(README, "utf8");
    const section = readme.slice(readme.indexOf("## The `spool` command"), readme.indexOf("## Configuration"));
    const documented = [...section.matchAll(/^\| `([a-z]+)` \|/gm)].map((m) => m[1]);
    const usage = [...run.stdout.matchAll(/^ {2}([a-z]+) {2,}/gm)].map((m) => m[1]);
    expect(documented).toEqual(usage);
  });

  it("answers an unknown command with the usage on stderr and exit 2", async () => {
    const run = await spool(["serv"], { SPOOL_DATA_DIR: path.join(dir, "typo") });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^spool: unknown command "serv"\n\nusage: spool <command>\n/);
    expect(run.stdout).toBe("");
  });
});
