// A PostgreSQL cluster of a test's own, for tests that crash or stop the database under
// Spool (the shared test server must stay up for every other file). Real binaries, a temp
// folder, a free port; Spool's schema migrated into database `spool`.
import fs from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { startEmbeddedPostgres, type EmbeddedPostgres } from "../src/db/embedded-postgres/embedded-postgres.ts";
import { isAlive } from "../src/db/embedded-postgres/postmaster.ts";
import { migrate } from "../src/db/migrate.ts";
import { waitFor } from "./helpers.ts";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export type OwnPostgres = Awaited<ReturnType<typeof startOwnPostgres>>;

/** `settings` are applied with ALTER SYSTEM (kept across restarts) before Spool's schema is created. */
export async function startOwnPostgres(settings: Record<string, string> = {}) {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "spool-own-pg-"));
  await fs.chmod(dataDir, 0o755); // as root, postgres runs as the `postgres` user and must reach it
  const port = await freePort();
  let cluster: EmbeddedPostgres | null = await startEmbeddedPostgres({ dataDir, port });
  const admin = new pg.Client({ connectionString: cluster.urlFor("postgres") });
  await admin.connect();
  for (const [name, value] of Object.entries(settings)) await admin.query(`alter system set ${name} = ${pg.escapeLiteral(value)}`);
  await admin.query(`select pg_reload_conf()`);
  await admin.query(`create database spool`);
  await admin.end();
  const url = cluster.urlFor("spool");
  await migrate(url);

  const postmasterPid = async () => Number((await fs.readFile(path.join(dataDir, "pg/postmaster.pid"), "utf8")).split("\n")[0]);
  return {
    url,
    /** SIGKILLs the postmaster and every backend at once (they share its process group), as the OOM killer or a power cut would. */
    async crash(): Promise<void> {
      const pid = await postmasterPid();
      process.kill(-pid, "SIGKILL");
      await waitFor(async () => !isAlive(pid), "postgres to die", 10_000);
      cluster = null;
    },
    /** Starts it again on the same port; after a crash, recovery replays the WAL that reached the disk. */
    async restart(): Promise<void> {
      cluster = await startEmbeddedPostgres({ dataDir, port });
    },
    async remove(): Promise<void> {
      await cluster?.stop();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}
