// Shared test plumbing: a fresh database per test file, loggers, polling.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import { openDatabase, type Database } from "../src/db/database.ts";
import { createLogger } from "../src/log.ts";
import { ensureOrganization } from "../src/services/organizations.ts";

export const log = createLogger(process.env.TEST_LOG_LEVEL ?? "silent");

export function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

export type TestDb = Database & { name: string; drop(): Promise<void> };

/** A database cloned from the migrated template, private to the caller. */
export async function createTestDatabase(): Promise<TestDb> {
  const server = inject("pgServerUrl");
  const name = `spool_test_${randomBytes(5).toString("hex")}`;
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  try {
    for (let i = 0; ; i++) {
      try {
        await admin.query(`create database ${name} template ${inject("templateDb")}`);
        break;
      } catch (err) {
        // Two files cloning the template at the same instant: try again shortly.
        if ((err as { code?: string }).code !== "55006" || i > 20) throw err;
        await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
      }
    }
  } finally {
    await admin.end();
  }
  const db = openDatabase(withDatabase(server, name), { max: 30 });
  return {
    ...db,
    name,
    async drop() {
      await db.close();
      const c = new pg.Client({ connectionString: server });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

export async function createOrg(db: Database, slug = `org-${randomBytes(3).toString("hex")}`) {
  return ensureOrganization(db.prisma, slug);
}

/** Polls `fn` until it returns a truthy value (or throws after `timeoutMs`). */
export async function waitFor<T>(fn: () => Promise<T | null | undefined | false>, what: string, timeoutMs = 20_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
