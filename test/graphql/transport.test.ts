// What the transports share: /health states, and the same limits, auth and error codes on
// WebSocket operations as on HTTP.
import type { AddressInfo } from "node:net";
import { createClient } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import WebSocket from "ws";
import { createGraphQLServer } from "../../src/server.ts";
import { revokeApiKey } from "../../src/services/api-keys.ts";
import { createTestDatabase, log, type TestDb } from "../helpers.ts";
import { createTestApi, type Api } from "./api-helpers.ts";

let db: TestDb;
let api: Api;
let urls: { http: string; ws: string };
let key: string;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await createTestApi(db);
  urls = await api.listen();
  key = (await api.tenant()).key;
});
afterAll(async () => {
  await api.close();
  await db.drop();
});

describe("/health", () => {
  it.each([
    [{ database: "up", listener: "up" }, 200, "healthy"],
    [{ database: "up", listener: "down" }, 200, "degraded"],
    [{ database: "down", listener: "up" }, 503, "unhealthy"],
  ] as const)("%j answers %i %s", async (parts, status, word) => {
    const s = createGraphQLServer({ pool: db.pool, prisma: db.prisma, registry: api.registry, log, introspection: true, graphiql: false, health: async () => ({ ...parts }) });
    await new Promise<void>((r) => s.server.listen(0, "127.0.0.1", r));
    try {
      const res = await fetch(`http://127.0.0.1:${(s.server.address() as AddressInfo).port}/health`);
      expect(res.status).toBe(status);
      expect(await res.json()).toMatchObject({ status: word, ...parts });
    } finally {
      await s.close();
    }
  });
});

describe("graphql-ws operations", () => {
  function client(connectionParams: Record<string, unknown>) {
    return createClient({ url: urls.ws, webSocketImpl: WebSocket, connectionParams, retryAttempts: 0, lazy: true });
  }
  function run(c: ReturnType<typeof client>, query: string) {
    return new Promise<{ data?: any; errors?: any[] }>((resolve, reject) => {
      let result: { data?: any; errors?: any[] } = {};
      c.subscribe({ query }, { next: (r) => (result = r as never), error: (e) => (Array.isArray(e) ? resolve({ errors: e }) : reject(e)), complete: () => resolve(result) });
    });
  }

  it("run queries with the caller's organization, over apiKey or authorization params", async () => {
    for (const params of [{ authorization: `Bearer ${key}` }, { apiKey: key }]) {
      const c = client(params);
      try {
        const r = await run(c, `{ viewer { scopes } }`);
        expect(r.data.viewer.scopes).toContain("JOBS_READ");
      } finally {
        await c.dispose();
      }
    }
  });

  it("meet the same document limits and stable error codes as HTTP", async () => {
    const c = client({ authorization: `Bearer ${key}` });
    try {
      const deep = await run(c, `{ jobs(first: 1) { edges { node { parent { parent { parent { parent { parent { parent { parent { parent { parent { parent { id } } } } } } } } } } } } } }`);
      expect(JSON.stringify(deep.errors)).toMatch(/depth/i);
      const notFound = await run(c, `{ job(id: "00000000-0000-4000-8000-000000000000") { id } }`);
      expect(notFound.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    } finally {
      await c.dispose();
    }
  });

  it("refuse a connection without a valid key (4403), saying in the close reason what to send", async () => {
    for (const params of [{}, { authorization: "Bearer spool_0000000000000000_" + "x".repeat(43) }]) {
      const c = client(params);
      const closed = await new Promise<{ code: number; reason: string }>((resolve) => {
        c.on("closed", (event) => resolve(event as { code: number; reason: string }));
        c.subscribe({ query: `{ viewer { scopes } }` }, { next: () => undefined, error: () => undefined, complete: () => undefined });
      });
      expect(closed.code).toBe(4403);
      expect(closed.reason).toContain("connection_init");
      expect(closed.reason).toContain(`"authorization": "Bearer <key>"`);
      await c.dispose();
    }
  });

  it("answer UNAUTHENTICATED on an open socket whose key was revoked, and keep the socket", async () => {
    const t = await api.tenant();
    // Not lazy: one socket for every operation, as an app's long-lived client has.
    const c = createClient({ url: urls.ws, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${t.key}` }, retryAttempts: 0, lazy: false });
    const closes: number[] = [];
    c.on("closed", (event) => closes.push((event as { code: number }).code));
    // graphql-ws logs a handler's crash with console.error before it closes the socket with 4500.
    const consoleError = vi.spyOn(console, "error");
    try {
      expect((await run(c, `{ viewer { scopes } }`)).data.viewer.scopes).toContain("JOBS_READ");
      const keyId = t.key.split("_")[1]!;
      await revokeApiKey(db.prisma, t.org.id, keyId);
      for (let i = 0; i < 2; i++) {
        const r = await run(c, `{ viewer { scopes } }`);
        expect(r.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
        expect(r.errors?.[0]?.message).toMatch(/revoked/);
      }
      expect(closes).toEqual([]);
      expect(consoleError).not.toHaveBeenCalled();
    } finally {
      consoleError.mockRestore();
      await c.dispose();
    }
  });
});
