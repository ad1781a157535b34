// Applies prisma/migrations/<name>/migration.sql in order and records each in
// `_prisma_migrations` exactly as `prisma migrate deploy` does (same table, sha256
// checksum of the file), so a user with Prisma's engines can still run `prisma migrate`.
// Works offline; Prisma's own migrate needs a downloaded schema engine.
//
// One advisory lock serialises concurrent starters (an api and a worker booting at once).
// Each migration runs in a transaction: a failed one leaves no half-applied schema.
import { createHash, randomUUID } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";

export const MIGRATIONS_DIR = fileURLToPath(new URL("../../prisma/migrations", import.meta.url));
const LOCK_KEY = 7_263_451_009; // arbitrary, constant: "spool migrations"

const CREATE_TABLE = `
create table if not exists "_prisma_migrations" (
  "id" varchar(36) primary key not null,
  "checksum" varchar(64) not null,
  "finished_at" timestamptz,
  "migration_name" varchar(255) not null,
  "logs" text,
  "rolled_back_at" timestamptz,
  "started_at" timestamptz not null default now(),
  "applied_steps_count" integer not null default 0
)`;

export type Migration = { name: string; sql: string; checksum: string };

export async function readMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(path.join(dir, name, "migration.sql"), "utf8");
      return { name, sql, checksum: createHash("sha256").update(sql).digest("hex") };
    }),
  );
}

export class MigrationError extends Error {
  override name = "MigrationError";
}

/** Applies pending migrations; returns the names applied. */
export async function migrate(connectionString: string, dir = MIGRATIONS_DIR): Promise<string[]> {
  const migrations = await readMigrations(dir);
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query("select pg_advisory_lock($1)", [LOCK_KEY]);
    await client.query(CREATE_TABLE);
    const { rows } = await client.query(
      `select migration_name, checksum, finished_at from "_prisma_migrations" where rolled_back_at is null`,
    );
    const recorded = new Map(rows.map((r) => [r.migration_name as string, r]));
    const applied: string[] = [];
    for (const m of migrations) {
      const row = recorded.get(m.name);
      if (row?.finished_at) {
        if (row.checksum !== m.checksum) {
          throw new MigrationError(`Migration ${m.name} was edited after it was applied. Restore the file, or add a new migration for the change.`);
        }
        continue;
      }
      if (row) {
        throw new MigrationError(`Migration ${m.name} failed earlier and is recorded as unfinished. Fix the database, then mark it rolled back (prisma migrate resolve --rolled-back ${m.name}).`);
      }
      const id = randomUUID();
      try {
        await client.query("begin");
        await client.query(m.sql);
        await client.query(
          `insert into "_prisma_migrations" (id, checksum, migration_name, finished_at, applied_steps_count) values ($1, $2, $3, now(), 1)`,
          [id, m.checksum, m.name],
        );
        await client.query("commit");
      } catch (err) {
        await client.query("rollback").catch(() => undefined);
        throw new MigrationError(`Migration ${m.name} failed: ${(err as Error).message}`);
      }
      applied.push(m.name);
    }
    return applied;
  } finally {
    await client.query("select pg_advisory_unlock($1)", [LOCK_KEY]).catch(() => undefined);
    await client.end().catch(() => undefined);
  }
}
