// The two pools: the API's is fully durable; the engine's does not wait for WAL flush
// unless SPOOL_ENGINE_SYNC_COMMIT=on asks it to.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/database.ts";
import { loadConfig } from "../../src/config.ts";
import { createTestDatabase, type TestDb } from "../helpers.ts";

let db: TestDb;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

const setting = async (pool: import("pg").Pool) => (await pool.query("show synchronous_commit")).rows[0].synchronous_commit;

describe("openDatabase", () => {
  it("keeps API writes durable and lets engine writes skip the WAL flush by default", async () => {
    expect(await setting(db.pool)).toBe("on");
    expect(await setting(db.enginePool)).toBe("off");
  });

  it("makes engine commits synchronous with SPOOL_ENGINE_SYNC_COMMIT=on", async () => {
    const config = loadConfig({ SPOOL_ENGINE_SYNC_COMMIT: "on" });
    expect(config.engineSyncCommit).toBe(true);
    expect(loadConfig({}).engineSyncCommit).toBe(false);
    const strict = openDatabase(db.url, { engineSyncCommit: config.engineSyncCommit });
    try {
      expect(await setting(strict.enginePool)).toBe("on");
    } finally {
      await strict.close();
    }
    expect(() => loadConfig({ SPOOL_ENGINE_SYNC_COMMIT: "maybe" })).toThrow(/SPOOL_ENGINE_SYNC_COMMIT/);
  });
});
