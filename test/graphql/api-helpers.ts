// A real GraphQL server over a test database: yoga.fetch for HTTP tests, `listen()` for
// WebSocket clients. Keys are created through the real service. Subscriptions need a
// started PgListener (`opts.listener`); without one they answer UNAVAILABLE.
import type { AddressInfo } from "node:net";
import { createRegistry } from "../../src/processors/index.ts";
import type { ProcessorRegistry } from "../../src/processors/registry.ts";
import { LiveEvents } from "../../src/pubsub/job-events.ts";
import type { PgListener } from "../../src/pubsub/pg-listener.ts";
import { createGraphQLServer } from "../../src/server.ts";
import { createApiKey, type Scope, SCOPES } from "../../src/services/api-keys.ts";
import { createOrg, log, type TestDb } from "../helpers.ts";

export type Api = Awaited<ReturnType<typeof createTestApi>>;

export async function createTestApi(db: TestDb, opts: { registry?: ProcessorRegistry; introspection?: boolean; listener?: PgListener; gapTimeoutMs?: number } = {}) {
  const registry = opts.registry ?? createRegistry();
  const live = opts.listener ? new LiveEvents({ listener: opts.listener, pool: db.pool, prisma: db.prisma, log, gapTimeoutMs: opts.gapTimeoutMs }) : undefined;
  await live?.start();
  const api = createGraphQLServer({
    pool: db.pool, prisma: db.prisma, registry, log, live,
    introspection: opts.introspection ?? true, graphiql: true,
    health: async () => ({ database: "up" }),
  });

  async function keyFor(organizationId: string, scopes: readonly Scope[] = SCOPES.filter((s) => s !== "admin")) {
    return (await createApiKey(db.prisma, { organizationId, name: "test", scopes })).key;
  }

  /** POST /graphql through yoga.fetch; returns the parsed body and the response. */
  async function gql<T = any>(query: string, variables: Record<string, unknown> = {}, key?: string | null, headers: Record<string, string> = {}) {
    const res = await api.yoga.fetch("http://spool.test/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { data?: T; errors?: Array<{ message: string; extensions?: { code?: string } }> };
    return { ...body, res };
  }

  /** A new organization with a key holding every non-admin scope. */
  async function tenant() {
    const org = await createOrg(db);
    return { org, key: await keyFor(org.id) };
  }

  async function listen(): Promise<{ http: string; ws: string }> {
    await new Promise<void>((resolve) => api.server.listen(0, "127.0.0.1", resolve));
    const { port } = api.server.address() as AddressInfo;
    return { http: `http://127.0.0.1:${port}/graphql`, ws: `ws://127.0.0.1:${port}/graphql` };
  }

  async function close() {
    await api.close();
    await live?.stop();
  }

  return { ...api, close, live, registry, gql, keyFor, tenant, listen };
}
