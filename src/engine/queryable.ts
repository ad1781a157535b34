// The one thing engine SQL needs from a connection: `query(text, values)`. A pg Pool, a
// pg PoolClient inside a transaction and (through `fromPrismaTx`) a Prisma interactive
// transaction all provide it, so `enqueue(tx, …)` joins whatever transaction the caller's
// domain write is in.
import type pg from "pg";

/** A statement with a name is prepared once per connection (pg); Prisma runs its text. */
export type Statement = string | { name: string; text: string };

export type Queryable = {
  query<R extends pg.QueryResultRow = any>(statement: Statement, values?: unknown[]): Promise<{ rows: R[]; rowCount: number | null }>;
};

type PrismaRawTx = { $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): Promise<T> };

/** Adapts a Prisma transaction client so engine statements run inside it. */
export function fromPrismaTx(tx: PrismaRawTx): Queryable {
  return {
    async query(statement, values = []) {
      const text = typeof statement === "string" ? statement : statement.text;
      const rows = await tx.$queryRawUnsafe<any[]>(text, ...values);
      return { rows, rowCount: rows.length };
    },
  };
}

/** Runs `fn` in a transaction on a client checked out of `pool`. */
export async function inTransaction<T>(pool: pg.Pool, fn: (tx: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query("begin");
    const out = await fn(client);
    await client.query("commit");
    return out;
  } catch (err) {
    await client.query("rollback").catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
