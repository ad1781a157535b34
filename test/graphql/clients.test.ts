// The clients integrators bring, unmodified: Apollo Client and urql run a query over HTTP
// and a subscription over graphql-ws against a real Spool server on a loopback port.
import { ApolloClient, HttpLink, InMemoryCache, gql, split } from "@apollo/client";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { getMainDefinition } from "@apollo/client/utilities";
import { Client as UrqlClient, fetchExchange, subscriptionExchange } from "@urql/core";
import { createClient as createWsClient } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { submitJob } from "../../src/services/jobs.ts";
import { createTestDatabase, type TestDb } from "../helpers.ts";
import { createTestApi, type Api } from "./api-helpers.ts";

let db: TestDb;
let api: Api;
let urls: { http: string; ws: string };
let tenant: { key: string; org: { id: string } };

beforeAll(async () => {
  db = await createTestDatabase();
  api = await createTestApi(db);
  urls = await api.listen();
  tenant = await api.tenant();
});
afterAll(async () => {
  await api.close();
  await db.drop();
});

const JOBS = `query Jobs { jobs(first: 5) { totalCount edges { node { id type status } } } }`;

describe("Apollo Client", () => {
  it("runs a query over HTTP", async () => {
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
    } finally {
      client.stop();
      await ws.dispose();
    }
  });
});

describe("urql", () => {
  it("runs a query over HTTP", async () => {
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
    } finally {
      await ws.dispose();
    }
  });
});
