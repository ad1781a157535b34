// The cluster's life: initdb once, start the postmaster (detached, logging to a file) and wait
// until it accepts connections, stop it (fast shutdown, then SIGKILL), and check the port first.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, openSync } from "node:fs";
import fs from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import type { Binaries } from "./binaries.ts";
import { EmbeddedPostgresError, FIX_ELSEWHERE, lastLines } from "./errors.ts";
import { canConnect, isPostmasterFor, readPid, signal, waitForExit } from "./postmaster.ts";
import { childEnv, DB_USER, errCode, execFileAsync, LOG_FILE, OWNER_FILE, sleep, START_TIMEOUT_MS, STOP_TIMEOUT_MS, type Log, type RunAs } from "./shared.ts";

export async function initCluster(bins: Binaries, dataDir: string, pgDir: string, password: string, runAs: RunAs | undefined, log?: Log): Promise<void> {
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

export async function startPostmaster(bins: Binaries, pgDir: string, port: number, url: string, runAs: RunAs | undefined, log?: Log): Promise<number> {
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

export async function stopPostmaster(pid: number, pgDir: string, log?: Log, timeoutMs = STOP_TIMEOUT_MS): Promise<void> {
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

export async function assertPortFree(port: number): Promise<void> {
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
