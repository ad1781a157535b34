// The database going away in the middle of an operation (after the key was checked) is
// UNAVAILABLE — try again — not a masked INTERNAL_SERVER_ERROR. Real errors from a real
// Postgres and a real Prisma client, through the server's own maskError.
import { GraphQLError } from "graphql";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/database.ts";
import { maskError } from "../../src/graphql/mask-error.ts";
import { createTestDatabase, log, type TestDb } from "../helpers.ts";

let db: TestDb;
beforeAll(async () => { db = await createTestDatabase(); });
afterAll(async () => { await db?.drop(); });

const mask = maskError(log);
/** As graphql-js hands a resolver's error to yoga's masking. */
const masked = (err: unknown) => mask(new GraphQLError("boom", { originalError: err as Error }), "Unexpected error.") as GraphQLError;

async function caught(fn: () => Promise<unknown>): Promise<unknown> {
  try { await fn(); } catch (err) { return err; }
  throw new Error("expected a failure");
}

describe("maskError and an unreachable database", () => {
  it("answers UNAVAILABLE when Prisma cannot reach the server", async () => {
    const gone = openDatabase("postgres://spool:x@127.0.0.1:1/spool", { onError: () => undefined });
    try {
      const err = await caught(() => gone.prisma.organization.findMany());
      expect(masked(err).extensions.code).toBe("UNAVAILABLE");
      expect(masked(err).message).toMatch(/try again/i);
    } finally {
      await gone.close();
    }
  });

  it("answers UNAVAILABLE when the backend is terminated mid-query", async () => {
    const victim = new pg.Client({ connectionString: db.url });
    await victim.connect();
    victim.on("error", () => undefined);
    const pid = (await victim.query("select pg_backend_pid() as pid")).rows[0].pid;
    const running = caught(() => victim.query("select pg_sleep(30)"));
    await new Promise((r) => setTimeout(r, 100));
    await db.pool.query("select pg_terminate_backend($1)", [pid]);
    const err = await running;
    expect((err as { code?: string }).code).toBe("57P01");
    expect(masked(err).extensions.code).toBe("UNAVAILABLE");
    await victim.end().catch(() => undefined);
  });

  it("still masks a query that is simply wrong as INTERNAL_SERVER_ERROR", async () => {
    const err = await caught(() => db.pool.query("select * from no_such_table"));
    expect(masked(err).extensions.code).toBe("INTERNAL_SERVER_ERROR");
  });
});
