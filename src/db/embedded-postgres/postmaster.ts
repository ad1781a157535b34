// The postmaster process: is it alive, is it this cluster's, does it accept connections, and
// signalling it. Shared by starting/stopping (cluster.ts) and adopting a running one (recover.ts).
import { readFileSync } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import { EmbeddedPostgresError } from "./errors.ts";
import { errCode, sleep } from "./shared.ts";

/** The pid written in a pid file (ours or postgres' own), or undefined when missing or garbled. */
export async function readPid(file: string): Promise<number | undefined> {
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

export async function isPostmasterFor(pid: number, pgDir: string): Promise<boolean> {
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

export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (e) {
    if (errCode(e) !== "ESRCH") throw e;
  }
}

export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

export async function canConnect(url: string, pgDir: string): Promise<boolean> {
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
