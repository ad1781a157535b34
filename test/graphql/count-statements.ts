// Counts every statement sent through a pool, whoever sends it (the resolvers' pg queries and
// Prisma's, when Prisma runs on the same pool through its pg adapter).
import type pg from "pg";

export function countEachStatement(pool: pg.Pool, onStatement: () => void): void {
  pool.on("connect", (client) => {
    const query = client.query.bind(client) as (...a: unknown[]) => unknown;
    (client as unknown as { query: (...a: unknown[]) => unknown }).query = (...a: unknown[]) => {
      onStatement();
      return query(...a);
    };
  });
}
