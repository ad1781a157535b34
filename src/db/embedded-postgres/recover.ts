// Recovering a cluster left running (a crash, kill -9, or another Spool process sharing the data
// dir): find its postmaster through postmaster.pid (removing a stale one whose pid now belongs to
// another process), wait until it accepts connections, and take ownership when its owner died.
import fs from "node:fs/promises";
import path from "node:path";
import { EmbeddedPostgresError } from "./errors.ts";
import { canConnect, isAlive, isPostmasterFor, readPid } from "./postmaster.ts";
import { LOG_FILE, OWNER_FILE, sleep, START_TIMEOUT_MS } from "./shared.ts";

export async function waitForRunning(pgDir: string, urlFor: (port: number) => (db: string) => string): Promise<{ pid: number; port: number } | undefined> {
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
export async function claimOwnershipIfOrphaned(pgDir: string): Promise<boolean> {
  const owner = await readPid(path.join(pgDir, OWNER_FILE));
  if (owner !== undefined && isAlive(owner)) return false;
  await writeOwner(pgDir, process.pid);
  return true;
}

export async function writeOwner(pgDir: string, pid: number): Promise<void> {
  const file = path.join(pgDir, OWNER_FILE);
  const tmp = `${file}.${pid}.tmp`;
  await fs.writeFile(tmp, `${pid}\n`, { mode: 0o644 });
  await fs.rename(tmp, file);
}
