// The offline migration runner: applies the checked-in SQL in order, records it the way
// Prisma does, is idempotent and safe to run concurrently, refuses edited migrations and
// leaves nothing behind when a migration fails. And the Prisma client agrees with the SQL.
import { mkdtemp, mkdir, writeFile, cp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createHash } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { MIGRATIONS_DIR, migrate, readMigrations } from "../../src/db/migrate.ts";
import { createTestDatabase, withDatabase, type TestDb } from "../helpers.ts";

let blankUrl: string;
let blankName: string;
let admin: pg.Client;

beforeAll(async () => {
  admin = new pg.Client({ connectionString: inject("pgServerUrl") });
  await admin.connect();
  blankName = `spool_blank_${Date.now()}`;
  await admin.query(`create database ${blankName}`);
  blankUrl = withDatabase(inject("pgServerUrl"), blankName);
});
afterAll(async () => {
  await admin.query(`drop database if exists ${blankName} with (force)`);
  await admin.end();
});

async function query(url: string, sql: string) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql)).rows;
  } finally {
    await c.end();
  }
}

describe("migrate", () => {
  it("applies every migration once, recorded in _prisma_migrations with Prisma's checksum", async () => {
    const all = await readMigrations();
    const applied = await Promise.all([migrate(blankUrl), migrate(blankUrl), migrate(blankUrl)]);
    expect(applied.flat().sort()).toEqual(all.map((m) => m.name).sort());
    expect(await migrate(blankUrl)).toEqual([]);
    const rows = await query(blankUrl, `select migration_name, checksum, finished_at, applied_steps_count from _prisma_migrations order by migration_name`);
    expect(rows.map((r) => r.migration_name)).toEqual(all.map((m) => m.name));
    for (const [i, r] of rows.entries()) {
      expect(r.checksum).toBe(createHash("sha256").update(all[i]!.sql).digest("hex"));
      expect(r.finished_at).toBeInstanceOf(Date);
      expect(r.applied_steps_count).toBe(1);
    }
  });

  it("refuses a migration edited after it was applied", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "spool-mig-"));
    await cp(MIGRATIONS_DIR, dir, { recursive: true });
    const first = (await readMigrations(dir))[0]!;
    await writeFile(path.join(dir, first.name, "migration.sql"), first.sql + "\n-- edited\n");
    await expect(migrate(blankUrl, dir)).rejects.toThrow(/was edited after it was applied/);
  });

  it("rolls back a failing migration completely and records nothing", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "spool-mig-"));
    await cp(MIGRATIONS_DIR, dir, { recursive: true });
    await mkdir(path.join(dir, "29990101000000_broken"));
    await writeFile(path.join(dir, "29990101000000_broken", "migration.sql"), `create table half_done (id int);\nselect no_such_function();\n`);
    await expect(migrate(blankUrl, dir)).rejects.toThrow(/29990101000000_broken failed/);
    expect(await query(blankUrl, `select to_regclass('half_done') as t`)).toEqual([{ t: null }]);
    expect(await query(blankUrl, `select count(*)::int as n from _prisma_migrations where migration_name = '29990101000000_broken'`)).toEqual([{ n: 0 }]);
  });
});

describe("the Prisma schema and the migration SQL agree", () => {
  let db: TestDb;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  it("creates, reads and relates every model through the generated client", async () => {
    const org = await db.prisma.organization.create({ data: { name: "Acme", slug: "acme" } });
    const key = await db.prisma.apiKey.create({ data: { id: "k1", organizationId: org.id, name: "ci", secretHash: "x", scopes: ["jobs:read"] } });
    const parent = await db.prisma.job.create({ data: { organizationId: org.id, type: "batch" } });
    const job = await db.prisma.job.create({
      data: { organizationId: org.id, type: "system.cleanup", priority: "URGENT", input: { a: 1 }, metadata: { m: true }, parentId: parent.id, idempotencyKey: "k" },
    });
    await db.prisma.jobEvent.create({ data: { organizationId: org.id, jobId: job.id, kind: "PROGRESS", data: { progress: 0.5 } } });
    const loaded = await db.prisma.organization.findUniqueOrThrow({
      where: { id: org.id },
      include: { apiKeys: true, jobs: { include: { events: true, children: true, parent: true } } },
    });
    expect(loaded.apiKeys[0]).toMatchObject({ id: key.id, scopes: ["jobs:read"], revokedAt: null });
    const child = loaded.jobs.find((j) => j.id === job.id)!;
    expect(child).toMatchObject({ status: "QUEUED", priority: "URGENT", attempts: 0, maxAttempts: 3, progress: 0, input: { a: 1 } });
    expect(child.parent?.id).toBe(parent.id);
    expect(child.events[0]).toMatchObject({ kind: "PROGRESS", data: { progress: 0.5 } });
    expect(typeof child.events[0]!.id).toBe("bigint");
  });
});
