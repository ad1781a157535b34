// SPOOL_INTROSPECTION=off on both transports: introspection refused and no "Did you mean …"
// in any error — misspelt fields, arguments, types, enum values and input fields, in the
// document or in variables — over HTTP and over graphql-ws. With introspection on, the
// suggestions are there (they help while developing).
import { createClient, type Client } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createTestDatabase, type TestDb } from "../helpers.ts";
import { createTestApi, type Api } from "./api-helpers.ts";

type Result = { data?: unknown; errors?: Array<{ message: string; extensions?: { code?: string } }> };
type Transport = (query: string, variables?: Record<string, unknown>) => Promise<Result>;

let db: TestDb;
const servers: Array<{ api: Api; ws: Client }> = [];
const transports: Record<"off" | "on", Record<"HTTP" | "WS", Transport>> = {} as never;

async function start(introspection: boolean) {
  const api = await createTestApi(db, { introspection });
  const urls = await api.listen();
  const { key } = await api.tenant();
  const ws = createClient({ url: urls.ws, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${key}` }, retryAttempts: 0 });
  servers.push({ api, ws });
  const overHttp: Transport = async (query, variables = {}) => {
    const res = await fetch(urls.http, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${key}` }, body: JSON.stringify({ query, variables }) });
    return (await res.json()) as Result;
  };
  const overWs: Transport = (query, variables = {}) =>
    new Promise((resolve, reject) => {
      let result: Result = {};
      ws.subscribe({ query, variables }, {
        next: (r) => (result = r as Result),
        error: (e) => (Array.isArray(e) ? resolve({ errors: e }) : reject(e)),
        complete: () => resolve(result),
      });
    });
  return { HTTP: overHttp, WS: overWs };
}

beforeAll(async () => {
  db = await createTestDatabase();
  transports.off = await start(false);
  transports.on = await start(true);
});
afterAll(async () => {
  for (const { api, ws } of servers) {
    await ws.dispose();
    await api.close();
  }
  await db.drop();
});

/** Misspellings graphql-js answers with a suggestion, each with the name it would suggest. */
const MISSPELT: Array<[what: string, query: string, variables: Record<string, unknown>, suggested: string]> = [
  ["a field", `{ jobz(first: 1) { totalCount } }`, {}, "jobs"],
  ["an argument", `{ jobs(frist: 1) { totalCount } }`, {}, "first"],
  ["a type", `query($f: JobFiltr) { jobs(first: 1, filter: $f) { totalCount } }`, {}, "JobFilter"],
  ["an enum value in the document", `{ jobs(first: 1, filter: { status: [SUCEEDED] }) { totalCount } }`, {}, "SUCCEEDED"],
  ["an input field in the document", `{ jobs(first: 1, filter: { stauts: [QUEUED] }) { totalCount } }`, {}, "status"],
  ["an enum value in variables", `query($s: [JobStatus!]) { jobs(first: 1, filter: { status: $s }) { totalCount } }`, { s: ["SUCEEDED"] }, "SUCCEEDED"],
  ["an input field in variables", `query($f: JobFilter) { jobs(first: 1, filter: $f) { totalCount } }`, { f: { stauts: ["QUEUED"] } }, "status"],
  ["an input field in a subscription's variables", `subscription($f: JobEventFilter) { jobEvents(filter: $f) { id } }`, { f: { kindz: ["STATUS"] } }, "kinds"],
];

describe.each(["HTTP", "WS"] as const)("over %s", (transport) => {
  it("with introspection off, refuses __schema and __type", async () => {
    for (const query of [`{ __schema { types { name } } }`, `{ __type(name: "Job") { fields { name } } }`]) {
      const r = await transports.off[transport](query);
      expect(r.data ?? null).toBeNull();
      expect(r.errors?.[0]?.message).toMatch(/introspection has been disabled/);
    }
    // __typename is not introspection: clients (Apollo) add it to every selection.
    expect(((await transports.off[transport](`{ __typename }`)) as { data: unknown }).data).toEqual({ __typename: "Query" });
  });

  it("with introspection on, answers __schema", async () => {
    const r = (await transports.on[transport](`{ __type(name: "Job") { name } }`)) as { data: unknown };
    expect(r.data).toEqual({ __type: { name: "Job" } });
  });

  it.each(MISSPELT)("with introspection off, suggests nothing for %s", async (_what, query, variables, suggested) => {
    const r = await transports.off[transport](query, variables);
    expect(r.errors?.length).toBeGreaterThan(0);
    for (const e of r.errors!) {
      expect(e.message).not.toMatch(/did you mean/i);
      expect(e.message).not.toContain(`"${suggested}"`);
    }
  });

  it.each(MISSPELT)("with introspection on, suggests the right name for %s", async (_what, query, variables, suggested) => {
    const r = await transports.on[transport](query, variables);
    expect(r.errors?.map((e) => e.message).join("\n")).toMatch(new RegExp(`Did you mean .*"${suggested}"`));
  });
});
