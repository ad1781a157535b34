// The jobs connection with nested fields costs a fixed number of SQL statements whatever
// the page size: Pothos' Prisma plugin loads each nesting level in one query, not per row.
import pg from "pg";
import { PrismaPg } from "@prisma/adapter-pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PrismaClient } from "../../src/generated/prisma/client.ts";
import { createRegistry } from "../../src/app.ts";
import { createGraphQLServer } from "../../src/server.ts";
import { createApiKey } from "../../src/services/api-keys.ts";
import { submitBatch } from "../../src/services/jobs.ts";
import { countEachStatement } from "./count-statements.ts";
import { createOrg, createTestDatabase, log, type TestDb } from "../helpers.ts";

let db: TestDb;
let counted: pg.Pool;
let prisma: PrismaClient;
let statements = 0;
let server: ReturnType<typeof createGraphQLServer>;
let key: string;

beforeAll(async () => {
  db = await createTestDatabase();
  // A pool whose every statement is counted, under Prisma and the resolvers alike.
  counted = new pg.Pool({ connectionString: db.url, max: 4 });
  countEachStatement(counted, () => statements++);
  prisma = new PrismaClient({ adapter: new PrismaPg(counted) });
  const registry = createRegistry({ pool: db.pool });
  server = createGraphQLServer({ pool: counted, prisma, registry, log, introspection: true, graphiql: false, health: async () => ({ database: "up" }) });
  const org = await createOrg(db);
  key = (await createApiKey(db.prisma, { organizationId: org.id, name: "count", scopes: ["jobs:read"] })).key;
  // 60 batches of 3 children: 240 jobs, each with events.
  for (let i = 0; i < 60; i++) {
    await submitBatch(db.pool, registry, org.id, { jobs: [1, 2, 3].map((n) => ({ type: "system.cleanup", input: { maxAgeSeconds: n } })) });
  }
});
afterAll(async () => {
  await server.close();
  await prisma.$disconnect();
  await counted.end();
  await db.drop();
});

async function statementsFor(first: number) {
  const query = `query($first: Int!) {
    jobs(first: $first, filter: { type: ["batch"] }) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node {
        id status progress
        parent { id }
        children(first: 5) { totalCount edges { node { id type status parent { id status } events(first: 3) { edges { node { kind status } } } } } }
        events(first: 5) { totalCount edges { node { id kind status createdAt } } }
      } }
    }
  }`;
  const before = statements;
  const res = await server.yoga.fetch("http://spool.test/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables: { first } }),
  });
  const body = (await res.json()) as { data?: { jobs: { edges: Array<{ node: { children: { edges: unknown[] } } }> } }; errors?: unknown };
  expect(body.errors).toBeUndefined();
  expect(body.data!.jobs.edges).toHaveLength(first);
  expect(body.data!.jobs.edges[0]!.node.children.edges).toHaveLength(3);
  return statements - before;
}

describe("jobs(first: N) with nested fields", () => {
  it("issues the same number of SQL statements for 5 rows as for 50", async () => {
    await statementsFor(1); // warm-up: connections, the key's last-used stamp
    const small = await statementsFor(5);
    const large = await statementsFor(50);
    expect(large).toBe(small);
    expect(small).toBeLessThan(15);
  });
});
