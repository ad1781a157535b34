// The clients integrators bring, unmodified: Apollo Client and urql run a query over HTTP
// and a subscription over graphql-ws against a real Spool server on a loopback port.
import { ApolloClient, HttpLink, InMemoryCache, gql, split } from "@apollo/client";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { getMainDefinition } from "@apollo/client/utilities";
import { Client as UrqlClient, fetchExchange, subscriptionExchange } from "@urql/core";
import { createClient as createWsClient } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { Engine } from "../../src/engine/engine.ts";
import { PgListener } from "../../src/pubsub/pg-listener.ts";
import { submitJob } from "../../src/services/jobs.ts";
import { createTestDatabase, log, type TestDb } from "../helpers.ts";
import { createTestApi, type Api } from "./api-helpers.ts";

let db: TestDb;
let api: Api;
let urls: { http: string; ws: string };
let tenant: { key: string; org: { id: string } };
let listener: PgListener;

beforeAll(async () => {
  db = await createTestDatabase();
  listener = new PgListener(db.url, log);
  await listener.start();
  api = await createTestApi(db, { listener });
  urls = await api.listen();
  tenant = await api.tenant();
});
afterAll(async () => {
  await api.close();
  await listener.stop();
  await db.drop();
});

const WATCH = `subscription Watch($id: ID!) { job(id: $id) { id status progress } }`;

/** Queues a job and, once a subscriber is attached, runs it to the end. */
async function jobToWatch() {
  const { job } = await submitJob(db.pool, api.registry, tenant.org.id, { type: "system.cleanup", input: { maxAgeSeconds: 60 } });
  const run = async () => {
    await new Promise((r) => setTimeout(r, 150));
    await new Engine({ pool: db.enginePool, registry: api.registry, log, concurrency: 4 }).drain();
  };
  return { id: job.id, run };
}

/** Collects a subscription's statuses until it completes. */
function collect(subscribe: (next: (status: string) => void, done: () => void, fail: (e: unknown) => void) => void): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const seen: string[] = [];
    const timer = setTimeout(() => reject(new Error(`subscription did not complete; saw ${seen.join(",")}`)), 20_000);
    subscribe((s) => seen.push(s), () => { clearTimeout(timer); resolve(seen); }, (e) => { clearTimeout(timer); reject(e); });
  });
}

const JOBS = `query Jobs { jobs(first: 5) { totalCount edges { node { id type status } } } }`;

describe("Apollo Client", () => {
  it("runs a query over HTTP and a subscription over graphql-ws", async () => {
    const { job } = await submitJob(db.pool, api.registry, tenant.org.id, { type: "system.cleanup", input: { maxAgeSeconds: 60 } });
    const ws = createWsClient({ url: urls.ws, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${tenant.key}` }, lazy: true });
    const client = new ApolloClient({
      cache: new InMemoryCache(),
      link: split(
        ({ query }) => {
          const def = getMainDefinition(query);
          return def.kind === "OperationDefinition" && def.operation === "subscription";
        },
        new GraphQLWsLink(ws),
        new HttpLink({ uri: urls.http, headers: { authorization: `Bearer ${tenant.key}` } }),
      ),
    });
    try {
      const { data } = await client.query<{ jobs: { totalCount: number; edges: Array<{ node: { id: string; type: string } }> } }>({ query: gql(JOBS) });
      expect(data!.jobs.totalCount).toBeGreaterThanOrEqual(1);
      expect(data!.jobs.edges.map((e) => Buffer.from(e.node.id, "base64").toString().slice(4))).toContain(job.id);

      const watched = await jobToWatch();
      const statuses = collect((next, done, fail) => {
        client.subscribe<{ job: { status: string } }>({ query: gql(WATCH), variables: { id: watched.id } }).subscribe({
          next: (r) => r.data && next(r.data.job.status),
          error: fail,
          complete: done,
        });
      });
      await watched.run();
      const seen = await statuses;
      expect(seen[0]).toBe("QUEUED");
      expect(seen.at(-1)).toBe("SUCCEEDED");
    } finally {
      client.stop();
      await ws.dispose();
    }
  });
});

describe("urql", () => {
  it("runs a query over HTTP and a subscription over graphql-ws", async () => {
    const ws = createWsClient({ url: urls.ws, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${tenant.key}` }, lazy: true });
    const client = new UrqlClient({
      url: urls.http,
      fetchOptions: { headers: { authorization: `Bearer ${tenant.key}` } },
      exchanges: [
        fetchExchange,
        subscriptionExchange({
          forwardSubscription: (request) => ({
            subscribe: (sink) => ({ unsubscribe: ws.subscribe({ ...request, query: request.query ?? "" }, sink) }),
          }),
        }),
      ],
    });
    try {
      const result = await client.query(JOBS, {}).toPromise();
      expect(result.error).toBeUndefined();
      expect(result.data.jobs.totalCount).toBeGreaterThanOrEqual(1);

      const watched = await jobToWatch();
      const statuses = collect((next, done, fail) => {
        const { unsubscribe } = client.subscription(WATCH, { id: watched.id }).subscribe((r) => {
          if (r.error) return fail(r.error);
          if (r.data) next(r.data.job.status);
          if (r.data?.job.status === "SUCCEEDED") {
            unsubscribe();
            done();
          }
        });
      });
      await watched.run();
      const seen = await statuses;
      expect(seen[0]).toBe("QUEUED");
      expect(seen.at(-1)).toBe("SUCCEEDED");
    } finally {
      await ws.dispose();
    }
  });
});
