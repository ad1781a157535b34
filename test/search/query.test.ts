// search(): the query language (stemming per language, phrases, OR, exclusion, prefix,
// typos), ranking, filters, facets and counts on a small known corpus, page boxes, cursors,
// isolation between organizations, and bad input.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { search, type SearchArgs } from "../../src/services/search.ts";
import { SpoolError } from "../../src/errors.ts";
import { createOrg, createTestDatabase, type TestDb } from "../helpers.ts";
import { corpusWriter } from "./query-corpus.ts";

let db: TestDb;
let org: string;
let other: string;
const ids: Record<string, string> = {};

beforeAll(async () => {
  db = await createTestDatabase();
  org = (await createOrg(db)).id;
  other = (await createOrg(db)).id;
  const w = corpusWriter(db);
  ids.harbour = await w.video(org, {
    title: "Harbour at dawn", tags: ["boats", "sea"], description: "Fishing boats leave the quay", durationSec: 120, size: [1920, 1080],
    contentType: "video/mp4", thumbnail: true, createdAt: new Date("2026-01-10T00:00:00Z"),
    captions: { language: "en-GB", cues: [[1.5, 2, "Good morning everyone"], [4.25, 3.5, "The runners are running late today"]] },
  });
  ids.lecture = await w.video(org, {
    title: "Mountain lecture", tags: ["lecture", "sea"], durationSec: 600, size: [640, 360], contentType: "video/webm", createdAt: new Date("2026-02-10T00:00:00Z"),
    captions: { language: "fr", cues: [[10, 4, "Les enfants mangeaient des pommes"]] },
  });
  ids.city = await w.video(org, {
    title: "City timelapse", tags: ["city"], durationSec: 1200, size: [3840, 2160], createdAt: new Date("2026-03-10T00:00:00Z"),
    screen: [{ startSec: 4, durationSec: 2.5, text: "EXIT 12 Northbound", box: { x: 100, y: 50, width: 300, height: 40 }, confidence: 91.5 }],
  });
  ids.lease = await w.document(org, {
    title: "Lease agreement", tags: ["legal"], language: "eng", preview: true, createdAt: new Date("2026-04-10T00:00:00Z"),
    pages: [
      { lines: ["The tenant is running late", "with the rent again"] },
      { lines: ["Section 4. Payment", "The monthly rent is due on the first day", "of each month, and the rent is due in full."] },
    ],
  });
  ids.bail = await w.document(org, {
    title: "Contrat de bail", tags: ["legal", "french"], language: "fra", createdAt: new Date("2026-05-10T00:00:00Z"),
    pages: [{ lines: ["Le locataire paie le loyer chaque mois"] }],
  });
  ids.foreign = await w.video(other, { title: "Harbour at night", tags: ["boats", "sea"], durationSec: 50, captions: { language: "en", cues: [[0, 1, "running late"]] } });
});
afterAll(async () => db?.drop());

const find = (args: Partial<SearchArgs> & { query: string }, orgId = org) => search(db.pool, orgId, args);
const idsOf = async (args: Partial<SearchArgs> & { query: string }) => (await find(args)).hits.map((h) => h.itemId);
const name = (id: string) => Object.entries(ids).find(([, v]) => v === id)?.[0];
const namesOf = async (args: Partial<SearchArgs> & { query: string }) => (await idsOf(args)).map(name).sort();

describe("query language", () => {
  it("stems by each segment's language: 'runs' finds English 'running' (caption and page), 'pomme' a French cue", async () => {
    expect(await namesOf({ query: "runs" })).toEqual(["harbour", "lease"]);
    const r = await find({ query: "pomme" });
    expect(r.hits.map((h) => name(h.itemId))).toEqual(["lecture"]);
    expect(r.hits[0]!.matches[0]).toMatchObject({ kind: "CAPTION", mode: "AUDIO", startSec: 10, durationSec: 4, snippet: "Les enfants mangeaient des <mark>pommes</mark>" });
  });

  it("a caption match has its timestamp and duration, an on-screen match its box and confidence", async () => {
    const r = await find({ query: "runners" });
    expect(r.hits[0]!.matches).toEqual([expect.objectContaining({ kind: "CAPTION", mode: "AUDIO", startSec: 4.25, durationSec: 3.5, page: null, box: null })]);
    const s = await find({ query: "northbound" });
    expect(s.hits[0]!.matches[0]).toMatchObject({ kind: "ON_SCREEN_TEXT", mode: "VISUAL", startSec: 4, durationSec: 2.5, confidence: 91.5, box: { x: 100, y: 50, width: 300, height: 40 } });
  });

  it("phrases match words in order; OR; -exclusion", async () => {
    expect(await namesOf({ query: '"running late"' })).toEqual(["harbour", "lease"]);
    expect(await namesOf({ query: '"late running"' })).toEqual([]);
    expect(await namesOf({ query: "pommes OR locataire" })).toEqual(["bail", "lecture"]);
    expect(await namesOf({ query: "running -tenant" })).toEqual(["harbour"]);
    // Exclusion is per item: page 1 of the lease has "rent" without the phrase, page 2 has the phrase.
    expect(await namesOf({ query: 'rent -"due in full"' })).toEqual([]);
    expect(await namesOf({ query: 'rent -"full in due"' })).toEqual(["lease"]);
    expect(await namesOf({ query: "boats -sea" })).toEqual([]); // the description has boats, the tags sea
  });

  it("the last plain word matches as a prefix; a quoted, negated or stopword last word does not", async () => {
    expect(await namesOf({ query: "harb" })).toEqual(["harbour"]);
    expect(await namesOf({ query: "lease agre" })).toEqual(["lease"]);
    expect(await namesOf({ query: "mount" })).toEqual(["lecture"]);
    expect(await namesOf({ query: '"mount"' })).toEqual([]);
    // An excluded word is a whole word: "Mountain" is not "mount".
    expect(await namesOf({ query: "lecture -mount" })).toEqual(["lecture"]);
    expect(await namesOf({ query: "lecture -mountain" })).toEqual([]);
    // "the" is an English stopword: the word before it is not widened to a prefix.
    expect(await namesOf({ query: "harb the" })).toEqual([]);
  });

  it("typos in a title or tag find the item by trigrams, with a TITLE or TAGS match ranked below real matches", async () => {
    const r = await find({ query: "harbuor" });
    expect(r.hits.map((h) => name(h.itemId))).toEqual(["harbour"]);
    expect(r.hits[0]!.matches).toEqual([expect.objectContaining({ kind: "TITLE", mode: "TEXT", snippet: "Harbour at dawn" })]);
    expect((await find({ query: "lectrue" })).hits.map((h) => [name(h.itemId), h.matches[0]!.kind])).toEqual([["lecture", "TITLE"]]);
    expect((await find({ query: "timelapes" })).hits.map((h) => name(h.itemId))).toEqual(["city"]);
    const both = await find({ query: "harbour OR harbuor" });
    expect(both.hits[0]!.matches[0]!.kind).toBe("TITLE");
    const typo = (await find({ query: "harbuor" })).hits[0]!.score;
    expect(both.hits[0]!.score).toBeGreaterThan(typo);
    // Only with mode TEXT: titles are TEXT.
    expect(await namesOf({ query: "harbuor", modes: ["AUDIO"] })).toEqual([]);
  });

  it("ranks a title match above a description match above a caption match, ties by id", async () => {
    const w = corpusWriter(db);
    const o = (await createOrg(db)).id;
    const cap = await w.video(o, { title: "One", captions: { language: "en", cues: [[0, 1, "kestrel"]] } });
    const desc = await w.video(o, { title: "Two", description: "a kestrel" });
    const title = await w.video(o, { title: "Kestrel" });
    const r = await search(db.pool, o, { query: "kestrel" });
    expect(r.hits.map((h) => h.itemId)).toEqual([title, desc, cap]);
    expect(r.hits[0]!.score).toBeGreaterThan(r.hits[1]!.score);
    expect(r.hits[1]!.score).toBeGreaterThan(r.hits[2]!.score);
  });
});

describe("modes, filters and facets", () => {
  it("modes keep only their segments", async () => {
    expect(await namesOf({ query: "running", modes: ["AUDIO"] })).toEqual(["harbour"]);
    expect(await namesOf({ query: "running", modes: ["TEXT"] })).toEqual(["lease"]);
    expect(await namesOf({ query: "exit", modes: ["VISUAL"] })).toEqual(["city"]);
    expect(await namesOf({ query: "exit", modes: ["TEXT", "AUDIO"] })).toEqual([]);
  });

  it("facets count items, over every hit, after the filter", async () => {
    // "sea OR legal OR city": harbour (sea), lecture (sea), city, lease (legal), bail (legal).
    const r = await find({ query: "sea OR legal OR city", first: 1 });
    expect(r.totalCount).toBe(5);
    expect(r.hits).toHaveLength(1);
    expect(r.facets.types).toEqual([{ value: "VIDEO", count: 3 }, { value: "DOCUMENT", count: 2 }]);
    expect(r.facets.durations).toEqual([{ value: "0-300", count: 1 }, { value: "300-900", count: 1 }, { value: "900+", count: 1 }]);
    expect(r.facets.tags).toEqual([
      { value: "legal", count: 2 }, { value: "sea", count: 2 }, { value: "boats", count: 1 }, { value: "city", count: 1 }, { value: "french", count: 1 }, { value: "lecture", count: 1 },
    ]);
    expect(r.facets.languages).toEqual([{ value: "eng", count: 2 }, { value: "fra", count: 2 }]);
    expect(r.facets.qualities).toEqual([{ value: "4K", count: 1 }, { value: "HD", count: 1 }, { value: "SD", count: 1 }]);
    const f = await find({ query: "sea OR legal OR city", filter: { types: ["DOCUMENT"] } });
    expect(f.totalCount).toBe(2);
    expect(f.facets.types).toEqual([{ value: "DOCUMENT", count: 2 }]);
    expect(f.facets.durations).toEqual([]);
    expect(f.facets.tags).toEqual([{ value: "legal", count: 2 }, { value: "french", count: 1 }]);
  });

  it("each filter", async () => {
    const q = "sea OR legal OR city";
    const names = (filter: SearchArgs["filter"]) => namesOf({ query: q, filter });
    expect(await names({ types: ["VIDEO"] })).toEqual(["city", "harbour", "lecture"]);
    expect(await names({ minDurationSeconds: 300 })).toEqual(["city", "lecture"]);
    expect(await names({ minDurationSeconds: 300, maxDurationSeconds: 900 })).toEqual(["lecture"]);
    expect(await names({ maxDurationSeconds: 120 })).toEqual([]);
    expect(await names({ createdAfter: new Date("2026-02-01T00:00:00Z"), createdBefore: new Date("2026-04-11T00:00:00Z") })).toEqual(["city", "lease", "lecture"]);
    expect(await names({ tags: ["legal", "french"] })).toEqual(["bail"]);
    expect(await names({ tags: ["legal", "boats"] })).toEqual([]);
    expect(await names({ qualities: ["4K", "SD"] })).toEqual(["city", "lecture"]);
    expect(await names({ contentTypes: ["video/mp4"] })).toEqual(["harbour"]);
    expect(await names({ languages: ["fra"] })).toEqual(["bail", "lecture"]);
    expect(await names({ languages: ["en-US"] })).toEqual(["harbour", "lease"]);
    expect(await names({ languages: ["fr"], types: ["DOCUMENT"] })).toEqual(["bail"]);
  });
});

describe("document pages", () => {
  it("a phrase on a page: its page, the page size and the box of the phrase's words", async () => {
    const r = await find({ query: '"rent is due in full"' });
    expect(r.hits.map((h) => name(h.itemId))).toEqual(["lease"]);
    const m = r.hits[0]!.matches[0]!;
    expect(m).toMatchObject({ kind: "PAGE", mode: "TEXT", page: 2, pageWidth: 612, pageHeight: 792 });
    // Line 3 of page 2: "of each month, and the rent is due in full." — rent at x = 200, full. ends at 312.
    expect(m.box).toEqual({ x: 200, y: 132, width: 112, height: 12 });
    // Stopwords inside the phrase are not marked (they are not in the index).
    expect(m.snippet).toContain("the <mark>rent</mark> is <mark>due</mark> in <mark>full</mark>.");
  });

  it("a word's box is its first occurrence on the page; a prefix matches too", async () => {
    const r = await find({ query: "paym" });
    const m = r.hits[0]!.matches.find((x) => x.kind === "PAGE")!;
    // "Section 4. Payment": Section (72, 42 wide), 4. (118, 12), Payment (134, 42).
    expect(m).toMatchObject({ page: 2, box: { x: 134, y: 100, width: 42, height: 12 } });
    const rent = await find({ query: "rent", modes: ["TEXT"] });
    const pages = rent.hits[0]!.matches.filter((x) => x.kind === "PAGE");
    expect(pages.map((p) => p.page).sort()).toEqual([1, 2]);
    // Page 1, line 2 "with the rent again": with (72, 24), the (100, 18), rent (122, 24).
    expect(pages.find((p) => p.page === 1)!.box).toEqual({ x: 122, y: 116, width: 24, height: 12 });
    // Page 2: the first "rent" is on line 2, after "The monthly" (72, 18; 94, 42).
    expect(pages.find((p) => p.page === 2)!.box).toEqual({ x: 140, y: 116, width: 24, height: 12 });
  });
});

describe("pagination", () => {
  it("walks every hit once, in order, with stable cursors", async () => {
    const w = corpusWriter(db);
    const o = (await createOrg(db)).id;
    for (let i = 0; i < 23; i++) {
      // Ties on purpose: several items share each score.
      await w.video(o, { title: `Zebra ${i % 4 === 0 ? "zebra" : ""} ${i}`, description: i % 3 === 0 ? "zebra crossing" : null as never });
    }
    const all = await search(db.pool, o, { query: "zebra", first: 100 });
    expect(all.totalCount).toBe(23);
    expect(all.pageInfo.hasNextPage).toBe(false);
    const seen: string[] = [];
    let after: string | null = null;
    for (let n = 0; n < 10; n++) {
      const page: Awaited<ReturnType<typeof search>> = await search(db.pool, o, { query: "zebra", first: 5, after });
      expect(page.totalCount).toBe(23);
      seen.push(...page.hits.map((h) => h.itemId));
      if (!page.pageInfo.hasNextPage) break;
      // The same cursor gives the same next page.
      const again = await search(db.pool, o, { query: "zebra", first: 5, after: page.pageInfo.endCursor });
      after = page.pageInfo.endCursor;
      const next = await search(db.pool, o, { query: "zebra", first: 5, after });
      expect(next.hits.map((h) => h.itemId)).toEqual(again.hits.map((h) => h.itemId));
    }
    expect(seen).toEqual(all.hits.map((h) => h.itemId));
    expect(new Set(seen).size).toBe(23);
    const scores = all.hits.map((h) => h.score);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
  });

  it("a cursor of another query, a forged or a broken cursor is INVALID_INPUT", async () => {
    const page = await find({ query: "sea OR legal OR city", first: 2 });
    const cursor = page.pageInfo.endCursor!;
    for (const after of [cursor.slice(0, -3), "!!!", "bm90IGpzb24", Buffer.from(JSON.stringify(["x", 1, "nope"])).toString("base64url")]) {
      await expect(find({ query: "sea OR legal OR city", after })).rejects.toMatchObject({ code: "INVALID_INPUT" });
    }
    await expect(find({ query: "sea OR city", after: cursor })).rejects.toMatchObject({ code: "INVALID_INPUT" });
    await expect(find({ query: "sea OR legal OR city", after: cursor, filter: { types: ["VIDEO"] } })).rejects.toMatchObject({ code: "INVALID_INPUT" });
  });
});

describe("isolation, deletion, bad input", () => {
  it("another organization's items are in no hit, count or facet", async () => {
    const r = await find({ query: "harbour OR boats OR running" });
    expect(r.hits.map((h) => h.itemId)).not.toContain(ids.foreign);
    expect(r.totalCount).toBe(2);
    expect(r.facets.tags.find((t) => t.value === "boats")).toEqual({ value: "boats", count: 1 });
    const theirs = await find({ query: "harbour OR boats OR running OR lease" }, other);
    expect(theirs.hits.map((h) => h.itemId)).toEqual([ids.foreign]);
    expect(theirs.totalCount).toBe(1);
    expect(theirs.facets.types).toEqual([{ value: "VIDEO", count: 1 }]);
    expect(await search(db.pool, "00000000-0000-0000-0000-000000000000", { query: "harbour" })).toMatchObject({ totalCount: 0, hits: [] });
  });

  it("a deleted item disappears", async () => {
    const w = corpusWriter(db);
    const id = await w.document(org, { title: "Ephemeral quokka", language: "eng", pages: [{ lines: ["a quokka smiles"] }] });
    expect(await idsOf({ query: "quokka" })).toEqual([id]);
    await db.pool.query(`delete from documents where id = $1`, [id]);
    expect(await find({ query: "quokka" })).toMatchObject({ totalCount: 0, hits: [] });
  });

  it("empty, too long or NUL-holding queries and bad filters are INVALID_INPUT; stopwords or broken syntax find nothing", async () => {
    const code = async (args: SearchArgs) => find(args).then(() => "ok", (e) => (e instanceof SpoolError ? e.code : `not a SpoolError: ${e}`));
    expect(await code({ query: "" })).toBe("INVALID_INPUT");
    expect(await code({ query: " \t\n " })).toBe("INVALID_INPUT");
    expect(await code({ query: "a".repeat(501) })).toBe("INVALID_INPUT");
    await expect(find({ query: "x".repeat(10_000) })).rejects.toThrow(/500 characters/);
    expect(await code({ query: "harbour\0" })).toBe("INVALID_INPUT");
    expect(await code({ query: "harbour", first: 101 })).toBe("INVALID_INPUT");
    expect(await code({ query: "harbour", first: -1 })).toBe("INVALID_INPUT");
    expect(await code({ query: "harbour", filter: { languages: ["klingon!"] } })).toBe("INVALID_INPUT");
    expect(await code({ query: "harbour", filter: { qualities: ["8K"] } })).toBe("INVALID_INPUT");
    expect(await code({ query: "harbour", filter: { minDurationSeconds: 10, maxDurationSeconds: 5 } })).toBe("INVALID_INPUT");
    expect(await code({ query: "harbour", filter: { minDurationSeconds: Number.NaN } })).toBe("INVALID_INPUT");
    expect(await code({ query: "harbour", modes: ["SMELL" as never] })).toBe("INVALID_INPUT");
    expect(await code({ query: "a".repeat(500) })).toBe("ok");
    for (const query of ["the of and", '"unclosed', "OR OR -", ":*&|!()", "'", "\\", "🚢🚢", "((((", "-", '""', "<->", "a:*", "x & y | !z"]) {
      const r = await find({ query });
      expect(r.totalCount, query).toBe(r.hits.length);
    }
    expect(await find({ query: "the of and" })).toMatchObject({ totalCount: 0, hits: [] });
    expect(await find({ query: ":*&|!()" })).toMatchObject({ totalCount: 0, hits: [] });
    expect(await namesOf({ query: '"running late' })).toEqual(["harbour", "lease"]);
  });
});
