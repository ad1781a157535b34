// One real Postgres for the whole run: DATABASE_URL's server when set, else an embedded
// cluster in a fresh temp folder. A template database is migrated once; each test file
// clones it (test/helpers.ts), so files never see each other's rows.
import { mkdtemp, chmod, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { startEmbeddedPostgres, type EmbeddedPostgres } from "../../src/db/embedded-postgres/embedded-postgres.ts";
import { migrate } from "../../src/db/migrate.ts";

export const TEMPLATE_DB = "spool_test_template";

declare module "vitest" {
  export interface ProvidedContext {
    pgServerUrl: string;
    templateDb: string;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

let embedded: EmbeddedPostgres | null = null;
let dataDir: string | null = null;

export async function setup(project: TestProject) {
  let serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) {
    dataDir = await mkdtemp(path.join(os.tmpdir(), "spool-test-"));
    await chmod(dataDir, 0o755); // as root, postgres runs as the `postgres` user and must reach it
    embedded = await startEmbeddedPostgres({ dataDir, port: await freePort() });
    serverUrl = embedded.url;
  }
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`drop database if exists ${TEMPLATE_DB} with (force)`);
  await admin.query(`create database ${TEMPLATE_DB}`);
  await admin.end();
  await migrate(withDatabase(serverUrl, TEMPLATE_DB));
  project.provide("pgServerUrl", serverUrl);
  project.provide("templateDb", TEMPLATE_DB);
}

export async function teardown() {
  await embedded?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
}
