// search over GraphQL: the connection (items as a Video | Document union, signed thumbnail
// URLs, matches, facets, cursors), the scope, bad queries answered INVALID_INPUT or empty
// (never INTERNAL), other organizations invisible, and a fixed number of SQL statements
// whatever the page size.
import { Readable } from "node:stream";
import { decodeGlobalID } from "@pothos/plugin-relay";
import pg from "pg";
import { PrismaPg } from "@prisma/adapter-pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PrismaClient } from "../../src/generated/prisma/client.ts";
import { createTestApi, type Api } from "../graphql/api-helpers.ts";
import { countEachStatement } from "../graphql/count-statements.ts";
import { createOrg, createTestDatabase, type TestDb } from "../helpers.ts";
import { corpusWriter } from "./query-corpus.ts";

let db: TestDb;
let api: Api;
let counted: pg.Pool;
let prisma: PrismaClient;
let statements = 0;
let key: string;
let org: string;
const ids: Record<string, string> = {};

beforeAll(async () => {
  db = await createTestDatabase();
  // Every statement of the resolvers and of Prisma is counted.
  counted = new pg.Pool({ connectionString: db.url, max: 4 });
  countEachStatement(counted, () => statements++);
  prisma = new PrismaClient({ adapter: new PrismaPg(counted) });
  api = await createTestApi({ ...db, pool: counted, prisma });
  org = (await createOrg(db)).id;
  key = await api.keyFor(org, ["assets:read"]);
  const w = corpusWriter(db);
  ids.harbour = await w.video(org, {
    title: "Harbour at dawn", tags: ["boats"], durationSec: 95.5, size: [1280, 720], thumbnail: true,
    captions: { language: "en", cues: [[12.5, 2, "The gulls are <i>screaming</i> & diving"]] },
  });
  ids.lease = await w.document(org, {
    title: "Lease", tags: ["legal"], language: "eng", preview: true,
    pages: [{ lines: ["Gulls nest on the roof", "the tenant must not feed the gulls"] }],
  });
  // 60 more items for the page-size comparison, half of them with thumbnails.
  for (let i = 0; i < 60; i++) await w.video(org, { title: `Pelican ${i}`, tags: ["birds"], thumbnail: i % 2 === 0, durationSec: i * 20 });
});
afterAll(async () => {
  await api?.close();
  await prisma?.$disconnect();
  await counted?.end();
  await db?.drop();
});

const idFromGlobal = (id: string) => decodeGlobalID(id).id;

const SEARCH = `query($q: String!, $modes: [SearchMode!], $filter: SearchFilter, $first: Int, $after: String) {
  search(query: $q, modes: $modes, filter: $filter, first: $first, after: $after) {
    totalCount
    facets { types { value count } durations { value count } tags { value count } languages { value count } qualities { value count } }
    pageInfo { hasNextPage endCursor }
    edges { cursor node {
      score title durationSeconds pageCount matchCount thumbnailUrl thumbnail { id kind role }
      item { __typename ... on Video { id title status tags } ... on Document { id title status } }
      matches { kind mode startSeconds durationSeconds page pageWidth pageHeight box { x y width height } confidence snippet }
    } }
  }
}`;

describe("search over GraphQL", () => {
  it("finds a caption cue and a page, with the items, thumbnails, matches and facets", async () => {
    const { data, errors } = await api.gql(SEARCH, { q: "gulls" }, key);
    expect(errors).toBeUndefined();
    const s = data.search;
    expect(s.totalCount).toBe(2);
    expect(s.facets.types).toEqual([{ value: "DOCUMENT", count: 1 }, { value: "VIDEO", count: 1 }]);
    expect(s.facets.languages).toEqual([{ value: "eng", count: 2 }]);
    expect(s.facets.qualities).toEqual([{ value: "HD", count: 1 }]);
    const byType = Object.fromEntries(s.edges.map((e: any) => [e.node.item.__typename, e.node]));
    expect(byType.Video).toMatchObject({ title: "Harbour at dawn", durationSeconds: 95.5, pageCount: null, matchCount: 1, item: { title: "Harbour at dawn", status: "FAILED", tags: ["boats"] } });
    expect(byType.Video.matches).toEqual([{
      kind: "CAPTION", mode: "AUDIO", startSeconds: 12.5, durationSeconds: 2, page: null, pageWidth: null, pageHeight: null, box: null, confidence: null,
      // The cue's markup is text here, escaped: never HTML from the index.
      snippet: "The <mark>gulls</mark> are &lt;i&gt;screaming&lt;/i&gt; &amp; diving",
    }]);
    expect(byType.Video.thumbnail).toMatchObject({ kind: "IMAGE", role: "THUMBNAIL" });
    // The signed URL serves the thumbnail's bytes, inline.
    const { rows } = await db.pool.query(`select key from assets where id = $1`, [idFromGlobal(byType.Video.thumbnail.id)]);
    await api.storage.put(rows[0].key, Readable.from([Buffer.from("JPEG bytes")]), { contentType: "image/jpeg" });
    expect(byType.Video.thumbnailUrl).toMatch(/^http:\/\/spool\.test\/files\/[0-9a-f-]{36}\/\d+-i-/);
    const origin = new URL((await api.listen()).http).origin;
    const res = await fetch(byType.Video.thumbnailUrl.replace("http://spool.test", origin));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("JPEG bytes");
    expect(byType.Document).toMatchObject({ pageCount: 1, thumbnail: { role: "PREVIEW" }, item: { __typename: "Document", title: "Lease" } });
    expect(byType.Document.matches[0]).toMatchObject({ kind: "PAGE", page: 1, pageWidth: 612, pageHeight: 792, box: { x: 72, y: 100, width: 30, height: 12 } });
  });

  it("pages with cursors to the end, filters by facet values", async () => {
    const seen: string[] = [];
    let after: string | null = null;
    for (;;) {
      const { data, errors }: { data?: any; errors?: unknown } = await api.gql(SEARCH, { q: "pelican", first: 25, after }, key);
      expect(errors).toBeUndefined();
      expect(data.search.totalCount).toBe(60);
      seen.push(...data.search.edges.map((e: any) => e.node.item.id));
      if (!data.search.pageInfo.hasNextPage) break;
      after = data.search.pageInfo.endCursor;
    }
    expect(seen).toHaveLength(60);
    expect(new Set(seen).size).toBe(60);
    const { data } = await api.gql(SEARCH, { q: "pelican", filter: { minDurationSeconds: 300, maxDurationSeconds: 900 }, first: 1 }, key);
    // durations i*20 for i in 15..44 are 300 ≤ d < 900.
    expect(data.search.totalCount).toBe(30);
    expect(data.search.facets.durations).toEqual([{ value: "300-900", count: 30 }]);
  });

  it("needs the assets:read scope; another organization sees none of it", async () => {
    const noScope = await api.keyFor(org, ["jobs:read"]);
    const denied = await api.gql(SEARCH, { q: "gulls" }, noScope);
    expect(denied.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    const unauth = await api.gql(SEARCH, { q: "gulls" }, null);
    expect(unauth.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    const other = await api.tenant();
    const theirs = await api.gql(SEARCH, { q: "gulls OR pelican OR harbour OR lease" }, other.key);
    expect(theirs.errors).toBeUndefined();
    expect(theirs.data.search).toMatchObject({ totalCount: 0, edges: [], facets: { types: [], tags: [] } });
  });

  it("bad queries answer INVALID_INPUT or an empty result, never an internal error", async () => {
    const cases: Array<[string, Record<string, unknown>, "INVALID_INPUT" | "EMPTY"]> = [
      ["", {}, "INVALID_INPUT"],
      ["   ", {}, "INVALID_INPUT"],
      ["x".repeat(10_000), {}, "INVALID_INPUT"],
      ["gulls\u0000", {}, "INVALID_INPUT"],
      ["gulls", { first: 101 }, "INVALID_INPUT"],
      ["gulls", { after: "garbage" }, "INVALID_INPUT"],
      ["gulls", { filter: { languages: ["??"] } }, "INVALID_INPUT"],
      ["gulls", { filter: { qualities: ["8K"] } }, "INVALID_INPUT"],
      ["the and of", {}, "EMPTY"],
      ['"unclosed', {}, "EMPTY"],
      ["OR OR -", {}, "EMPTY"],
      [":*&|!()", {}, "EMPTY"],
      ["🐦‍🔥 🎬", {}, "EMPTY"],
      ["'''", {}, "EMPTY"],
    ];
    for (const [q, vars, want] of cases) {
      const { data, errors } = await api.gql(SEARCH, { q, ...vars }, key);
      if (want === "INVALID_INPUT") {
        expect(errors?.map((e) => e.extensions?.code), q.slice(0, 20)).toEqual(["INVALID_INPUT"]);
        expect(JSON.stringify(errors)).not.toMatch(/select|tsquery|syntax error|postgres/i);
      } else {
        expect(errors, q).toBeUndefined();
        expect(data.search.totalCount, q).toBe(0);
      }
    }
    const tooLong = await api.gql(SEARCH, { q: "x".repeat(501) }, key);
    expect(tooLong.errors?.[0]?.message).toMatch(/500 characters/);
    const badMode = await api.gql(SEARCH, { q: "gulls", modes: ["SMELL"] }, key);
    expect(badMode.errors?.length).toBe(1);
  });

  it("a fixed number of SQL statements whatever the page size", async () => {
    const query = `query($first: Int!) { search(query: "pelican", first: $first) {
      totalCount facets { tags { value count } }
      edges { node { score thumbnailUrl thumbnail { id url } matches { snippet }
        item { ... on Video { id title status source { id } } ... on Document { id title status } } } } } }`;
    const count = async (first: number) => {
      const before = statements;
      const { data, errors } = await api.gql(query, { first }, key);
      expect(errors).toBeUndefined();
      expect(data.search.edges).toHaveLength(first);
      return statements - before;
    };
    await count(1); // warm-up: connections, the key's last-used stamp
    const small = await count(5);
    const large = await count(50);
    expect(large).toBe(small);
    expect(small).toBeLessThan(15);
  });
  it("the README's example runs as written", async () => {
    // Copied from the README's Search section (/tmp/brief/readme-search.md at the time of writing).
    const query = `query {
  search(query: "\\"running late\\" OR harbour -night", modes: [TEXT, AUDIO], filter: { types: [VIDEO, DOCUMENT], languages: ["en"] }, first: 10) {
    totalCount
    facets {
      types { value count }
      durations { value count }
      tags { value count }
      languages { value count }
      qualities { value count }
    }
    pageInfo { hasNextPage endCursor }
    edges {
      node {
        score title durationSeconds pageCount matchCount thumbnailUrl
        item { __typename ... on Video { id title } ... on Document { id title } }
        matches { kind mode startSeconds durationSeconds page pageWidth pageHeight box { x y width height } confidence snippet }
      }
    }
  }
}
`;
    const { data, errors } = await api.gql(query, {}, key);
    expect(errors).toBeUndefined();
    expect(data.search.edges.map((e: any) => e.node.title)).toEqual(["Harbour at dawn"]);
  });
});
