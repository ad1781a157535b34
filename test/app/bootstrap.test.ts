// The admin key at start (DESIGN.md's configuration contract): with SPOOL_ADMIN_KEY, a key
// with exactly that value exists afterwards; without it, the first start generates one,
// prints it once and writes $SPOOL_DATA_DIR/admin-key (0600); later starts print nothing
// and the file's key keeps working. bootstrapAdminKey directly, then the real `spool serve`
// (on DATABASE_URL, and once on the embedded Postgres as a laptop user runs it).
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SpoolError } from "../../src/errors.ts";
import { authenticate, bootstrapAdminKey, generateKeyValue, parseKey, revokeApiKey, SCOPES } from "../../src/services/api-keys.ts";
import { createTestDatabase, isProcessAlive, waitFor, type TestDb } from "../helpers.ts";

const BIN = fileURLToPath(new URL("../../src/bin.js", import.meta.url));
const KEY = /spool_[a-z0-9]{16}_[A-Za-z0-9_-]{43}/g;

let db: TestDb;
let dir: string;
let n = 0;
const freshDir = () => path.join(dir, `data-${++n}`);

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** `spool serve` with exactly `env` on top of ours (no DATABASE_URL unless given). */
function serve(env: Record<string, string>) {
  const { DATABASE_URL: _d, SPOOL_ADMIN_KEY: _k, ...rest } = process.env;
  const child = spawn(process.execPath, [BIN, "serve"], { env: { ...rest, PORT: "0", SPOOL_CONCURRENCY: "1", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let out = "";
  child.stdout!.on("data", (d) => ((stdout += d), (out += d)));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const url = () => waitFor(async () => out.match(/"url":"(http:\/\/[^"]+)"/)?.[1], `spool to listen (output: ${out})`, 60_000);
  const stop = async () => {
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  };
  return { child, exited, url, stop, stdout: () => stdout, output: () => out };
}

/** A one-shot `spool …` command (keys, orgs) on the same data dir. */
function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { DATABASE_URL: _d, SPOOL_ADMIN_KEY: _k, ...rest } = process.env;
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...rest, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

async function postmasterPid(dataDir: string): Promise<number> {
  return Number((await readFile(path.join(dataDir, "pg", "postmaster.pid"), "utf8")).split("\n")[0]);
}

async function viewerSlug(url: string, key: string): Promise<string | undefined> {
  const res = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify({ query: "{ viewer { organization { slug } scopes } }" }),
  });
  const body = (await res.json()) as { data?: { viewer: { organization: { slug: string } } } };
  return body.data?.viewer.organization.slug;
}

beforeAll(async () => {
  db = await createTestDatabase();
  dir = await mkdtemp(path.join(os.tmpdir(), "spool-bootstrap-"));
  await chmod(dir, 0o755); // as root, the embedded postgres runs as `postgres` and must reach it
});
afterAll(async () => {
  await db?.drop();
  await rm(dir, { recursive: true, force: true });
});

describe("bootstrapAdminKey", () => {
  it("with SPOOL_ADMIN_KEY: that exact key authenticates as an admin of the default organization, writes no file, and survives a revoke", async () => {
    const adminKey = generateKeyValue();
    const dataDir = freshDir();
    expect(await bootstrapAdminKey(db.prisma, { adminKey, dataDir })).toBeNull();
    const principal = await authenticate(db.prisma, adminKey);
    const org = await db.prisma.organization.findUniqueOrThrow({ where: { slug: "default" } });
    expect(principal).toEqual({ keyId: parseKey(adminKey)!.id, organizationId: org.id, scopes: [...SCOPES] });
    expect(existsSync(path.join(dataDir, "admin-key"))).toBe(false);

    // "Exists after start": a revoked SPOOL_ADMIN_KEY works again after the next start.
    await revokeApiKey(db.prisma, org.id, principal!.keyId);
    expect(await authenticate(db.prisma, adminKey)).toBeNull();
    expect(await bootstrapAdminKey(db.prisma, { adminKey, dataDir })).toBeNull();
    expect(await authenticate(db.prisma, adminKey)).not.toBeNull();
    expect(await db.prisma.apiKey.count({ where: { id: principal!.keyId } })).toBe(1);
  });

  it("refuses a malformed SPOOL_ADMIN_KEY, saying how to make one", async () => {
    const err = await bootstrapAdminKey(db.prisma, { adminKey: "hunter2", dataDir: freshDir() }).catch((e) => e);
    expect(err).toBeInstanceOf(SpoolError);
    expect(err).toMatchObject({ code: "INVALID_INPUT" });
    expect(err.message).toContain("spool keys generate");
    expect(err.message).not.toContain("hunter2");
  });

  it("without it: generates a key once into $SPOOL_DATA_DIR/admin-key (0600), then finds it; replaces a revoked one", async () => {
    const dataDir = freshDir();
    const first = await bootstrapAdminKey(db.prisma, { dataDir });
    expect(first).toEqual({ key: expect.stringMatching(KEY), file: path.join(dataDir, "admin-key") });
    expect(await readFile(first!.file, "utf8")).toBe(`${first!.key}\n`);
    expect((await stat(first!.file)).mode & 0o777).toBe(0o600);
    expect((await authenticate(db.prisma, first!.key))?.scopes).toEqual([...SCOPES]);

    const keys = await db.prisma.apiKey.count();
    expect(await bootstrapAdminKey(db.prisma, { dataDir })).toBeNull();
    expect(await db.prisma.apiKey.count()).toBe(keys);
    expect(await readFile(first!.file, "utf8")).toBe(`${first!.key}\n`);

    // A revoked (or foreign, or garbled) key in the file is replaced, and the new one shown.
    const p = await authenticate(db.prisma, first!.key);
    await revokeApiKey(db.prisma, p!.organizationId, p!.keyId);
    const second = await bootstrapAdminKey(db.prisma, { dataDir });
    expect(second?.key).toMatch(KEY);
    expect(second?.key).not.toBe(first!.key);
    expect(await readFile(first!.file, "utf8")).toBe(`${second!.key}\n`);
    expect((await stat(first!.file)).mode & 0o777).toBe(0o600);

    await writeFile(first!.file, "garbage\n");
    const third = await bootstrapAdminKey(db.prisma, { dataDir });
    expect(await authenticate(db.prisma, third!.key)).not.toBeNull();
  });
});

describe("spool serve", () => {
  it("with SPOOL_ADMIN_KEY: that key answers on /graphql, nothing is printed or written", async () => {
    const adminKey = generateKeyValue();
    const dataDir = freshDir();
    const s = serve({ DATABASE_URL: db.url, SPOOL_DATA_DIR: dataDir, SPOOL_ADMIN_KEY: adminKey });
    const url = await s.url();
    expect(await viewerSlug(url, adminKey)).toBe("default");
    expect(s.output()).not.toMatch(KEY);
    expect(existsSync(path.join(dataDir, "admin-key"))).toBe(false);
    await s.stop();
  });

  it("refuses a malformed SPOOL_ADMIN_KEY before starting anything: a clear message, exit 1", async () => {
    const s = serve({ DATABASE_URL: db.url, SPOOL_DATA_DIR: freshDir(), SPOOL_ADMIN_KEY: "spool_admin" });
    expect(await s.exited).toBe(1);
    expect(s.output()).toBe("spool: SPOOL_ADMIN_KEY must look like spool_<16 lowercase letters or digits>_<43 base64url characters>; generate one with `spool keys generate`.\n");
  });

  it("on the embedded Postgres: the first start prints a key once and saves it (0600); the second prints nothing and the key still works; `spool keys` shares the cluster", async () => {
    const dataDir = freshDir();
    const env = { SPOOL_DATA_DIR: dataDir, SPOOL_PG_PORT: String(await freePort()) };
    const file = path.join(dataDir, "admin-key");
    let pgPid: number | undefined;
    try {
      const first = serve(env);
      const url = await first.url();
      const printed = first.output().match(KEY) ?? [];
      expect(printed).toHaveLength(1); // on stdout only, not in any log line
      expect(first.stdout()).toBe(`\nSpool admin API key (shown once, also saved to ${file}):\n  ${printed[0]}\n\n`);
      expect(await readFile(file, "utf8")).toBe(`${printed[0]}\n`);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      expect(await viewerSlug(url, printed[0]!)).toBe("default");
      pgPid = await postmasterPid(dataDir);
      await first.stop();
      await waitFor(async () => !isProcessAlive(pgPid!), "postgres to stop");

      // With nothing running, the CLI starts the cluster for itself and stops it when done.
      const created = await cli(["keys", "create", "--org", "default", "--scopes", "jobs:read"], env);
      expect(created.code, created.stderr).toBe(0);
      const cliKey = created.stdout.trim();
      expect(existsSync(path.join(dataDir, "pg", "postmaster.pid"))).toBe(false);

      const second = serve(env);
      const url2 = await second.url();
      expect(second.output()).not.toMatch(KEY);
      expect(second.stdout()).toBe("");
      expect(await readFile(file, "utf8")).toBe(`${printed[0]}\n`);
      expect(await viewerSlug(url2, printed[0]!)).toBe("default");
      expect(await viewerSlug(url2, cliKey)).toBe("default");
      pgPid = await postmasterPid(dataDir);

      // With serve running, the CLI uses its cluster and leaves it running.
      const listed = await cli(["keys", "list", "--org", "default"], env);
      expect(listed.code, listed.stderr).toBe(0);
      expect(listed.stdout).toContain(parseKey(cliKey)!.id);
      expect(isProcessAlive(pgPid!)).toBe(true);
      expect(await viewerSlug(url2, cliKey)).toBe("default");
      await second.stop();
      await waitFor(async () => !isProcessAlive(pgPid!), "postgres to stop");
    } finally {
      if (pgPid && isProcessAlive(pgPid)) process.kill(pgPid, "SIGINT");
    }
  });
});
