// Document limits, over HTTP and graphql-ws: each refusal has its stable code, the queries
// the README and a dashboard send pass the cost limit, abusive nesting does not.
import { readFileSync } from "node:fs";
import { Kind, parse, print } from "graphql";
import { createClient, type Client } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { DOCUMENT_LIMITS } from "../../src/server.ts";
import { createTestDatabase, type TestDb } from "../helpers.ts";
import { createTestApi, type Api } from "./api-helpers.ts";

type Result = { data?: unknown; errors?: Array<{ message: string; extensions?: { code?: string } }> };
type Transport = (query: string, variables?: Record<string, unknown>) => Promise<Result>;

let db: TestDb;
let api: Api;
let ws: Client;
let send: Record<"HTTP" | "WS", Transport>;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await createTestApi(db);
  const urls = await api.listen();
  const { key } = await api.tenant();
  ws = createClient({ url: urls.ws, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${key}` }, retryAttempts: 0 });
  send = {
    HTTP: async (query, variables = {}) => {
      const res = await fetch(urls.http, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${key}` }, body: JSON.stringify({ query, variables }) });
      return (await res.json()) as Result;
    },
    // The first answer is enough (a subscription's first event or its error), then stop.
    WS: (query, variables = {}) =>
      new Promise((resolve, reject) => {
        const stop = ws.subscribe({ query, variables }, {
          next: (r) => {
            stop();
            resolve(r as Result);
          },
          error: (e) => (Array.isArray(e) ? resolve({ errors: e }) : reject(e)),
          complete: () => resolve({}),
        });
      }),
  };
});
afterAll(async () => {
  await ws.dispose();
  await api.close();
  await db.drop();
});

const codes = (r: Result) => (r.errors ?? []).map((e) => e.extensions?.code);

const nested = (levels: number) => `{ jobs(first: 1) { edges { node { ${"parent { ".repeat(levels)}id${" }".repeat(levels)} } } } }`;

const REFUSED: Array<[limit: string, query: string, code: string]> = [
  ["depth", nested(DOCUMENT_LIMITS.maxDepth), "DEPTH_LIMIT_EXCEEDED"],
  ["aliases", `{ ${Array.from({ length: DOCUMENT_LIMITS.maxAliases + 1 }, (_, i) => `a${i}: viewer { scopes }`).join(" ")} }`, "ALIAS_LIMIT_EXCEEDED"],
  ["directives", `{ viewer { scopes ${"@include(if: true) ".repeat(DOCUMENT_LIMITS.maxDirectives + 1)} } }`, "DIRECTIVE_LIMIT_EXCEEDED"],
  ["tokens", `{ viewer { ${"scopes ".repeat(DOCUMENT_LIMITS.maxTokens)} } }`, "TOKEN_LIMIT_EXCEEDED"],
  ["cost", `{ jobs(first: 100) { edges { node { children(first: 100) { edges { node { events(first: 100) { edges { node { id message } } } } } } } } } }`, "COST_LIMIT_EXCEEDED"],
];

/** What a dashboard asks: endpoints with their latest deliveries and attempts, a page of jobs. */
const DASHBOARD = [
  `{ webhooks(first: 20) { totalCount pageInfo { hasNextPage endCursor } edges { node { id url active eventTypes failingSince
      deliveries(first: 20) { totalCount pageInfo { hasNextPage endCursor } edges { node { id status eventType createdAt nextAttemptAt
        attempts { attempt statusCode latencyMs error createdAt } } } } } } } }`,
  `{ jobs(first: 100) { totalCount pageInfo { hasNextPage endCursor } edges { node { id type status progress stage createdAt error { code message } } } } }`,
  `{ videos(first: 50) { totalCount edges { node { id title status tags source { filename size url(expiresIn: 600) } renditions { label url } thumbnails { url } } } } }`,
];

/** Every operation in the README: graphql blocks, the curl bodies and the JS clients' strings. */
function readmeOperations(): string[] {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const ops: string[] = [];
  for (const [, lang, body] of readme.matchAll(/```(\w+)\n([\s\S]*?)```/g)) {
    if (lang === "graphql") {
      for (const def of parse(body!).definitions) if (def.kind === Kind.OPERATION_DEFINITION) ops.push(print(def));
    } else if (lang === "sh" || lang === "js") {
      for (const [, s] of body!.matchAll(/"query":"((?:[^"\\]|\\.)*)"/g)) ops.push(JSON.parse(`"${s}"`));
      for (const [, s] of body!.matchAll(/(?:\bquery: |\.subscription\()"((?:[^"\\]|\\.)*)"/g)) ops.push(JSON.parse(`"${s}"`));
    }
  }
  return ops;
}

describe.each(["HTTP", "WS"] as const)("over %s", (transport) => {
  it.each(REFUSED)("refuses a document over the %s limit with its code", async (_limit, query, code) => {
    expect(codes(await send[transport](query))).toEqual([code]);
  });

  it("refuses abusive nesting whose page sizes come from variables", async () => {
    const query = `query($n: Int) { jobs(first: $n) { edges { node { children(first: $n) { edges { node { events(first: $n) { edges { node { id } } } } } } } } } }`;
    expect(codes(await send[transport](query, { n: 100 }))).toEqual(["COST_LIMIT_EXCEEDED"]);
    expect(codes(await send[transport](query, { n: 5 }))).toEqual([]);
  });

  it("gives yoga's codes to other invalid documents", async () => {
    expect(codes(await send[transport](`{ jobz { totalCount } }`))).toEqual(["GRAPHQL_VALIDATION_FAILED"]);
    expect(codes(await send[transport](`{ jobs(first: 1) { totalCount }`))).toEqual(["GRAPHQL_PARSE_FAILED"]);
  });

  it("passes a dashboard's queries", async () => {
    for (const query of DASHBOARD) expect(await send[transport](query)).toMatchObject({ data: expect.anything() });
  });

  it("passes every operation in the README through the limits and validation", async () => {
    const ops = readmeOperations();
    expect(ops.length).toBeGreaterThan(10);
    for (const query of ops) {
      const refused = codes(await send[transport](query)).filter((c) => /_LIMIT_EXCEEDED$|^GRAPHQL_/.test(c ?? ""));
      expect({ query, refused }).toEqual({ query, refused: [] });
    }
  });
});
