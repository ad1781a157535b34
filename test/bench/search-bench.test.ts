// The search benchmark's own parts: the corpus is what it says (exact size, deterministic, a
// smaller one a prefix of a larger, Zipf-shaped, segments shaped like Spool's), and its peers
// answer right on a small corpus (Postgres without GIN agrees with a count over Spool's index;
// SQLite FTS5 with a count made in JS from the corpus text), so their timings time real answers.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureOrganization } from "../../src/services/organizations.ts";
import { createTestDatabase, type TestDb } from "../helpers.ts";
import { corpus, parseSize, segmentTexts, vocabulary, zipfRank, rng, type CorpusItem, type CorpusOptions } from "./search-corpus.ts";
import { buildPlainTable, loadSpool } from "./search-load.ts";
import { plainPostgres } from "./search-pg-plain.ts";
import { FILTER, sampleQueries, type BenchQuery } from "./search-queries.ts";
import { loadSqlite, sqliteEngine, type SqliteIndex } from "./search-sqlite.ts";

const v = vocabulary(11);
const opts = (segments: number): CorpusOptions => ({ segments, seed: 12, organizations: 3, queriedShare: 0.8 });
const words = (t: string) => t.toLowerCase().split(/[^a-z]+/).filter(Boolean);

describe("search corpus", () => {
  it("has exactly the segments asked for, the same every time, a smaller one a prefix of a larger", () => {
    for (const n of [1, 7, 1234, 20_000]) expect([...corpus(v, opts(n))].reduce((a, i) => a + i.segmentCount, 0)).toBe(n);
    const a = [...corpus(v, opts(20_000))];
    const b = [...corpus(v, opts(20_000))];
    expect(b).toEqual(a);
    const small = [...corpus(v, opts(5_000))];
    // All but the last item (cut short to fit) are the larger corpus's first items.
    expect(small.slice(0, -1)).toEqual(a.slice(0, small.length - 1));
    expect(new Set(a.map((i) => i.id)).size).toBe(a.length);
  });

  it("draws words by Zipf's law over 50k words: rank 1 about 10^1.05 times as frequent as rank 10", () => {
    const r = rng(3);
    const counts = new Map<number, number>();
    for (let i = 0; i < 400_000; i++) {
      const k = zipfRank(v, r);
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    const ratio = counts.get(0)! / counts.get(9)!;
    expect(ratio).toBeGreaterThan(9);
    expect(ratio).toBeLessThan(14);
    expect(new Set(v.words).size).toBe(50_000);
    expect(v.words.every((w) => /^[a-z]+$/.test(w))).toBe(true);
  });

  it("shapes segments like Spool's: cues of 5–15 words inside the video, on-screen text 1–6 words, pages 150–500", () => {
    const items = [...corpus(v, opts(50_000))];
    const videos = items.filter((i) => i.type === "VIDEO");
    expect(videos.length).toBeGreaterThan(0);
    expect(items.some((i) => i.type === "DOCUMENT")).toBe(true);
    for (const i of videos) {
      for (const c of i.captions) {
        expect(c.text.split(" ").length).toBeGreaterThanOrEqual(5);
        expect(c.text.split(" ").length).toBeLessThanOrEqual(15);
        expect(c.startMs + c.durationMs).toBeLessThanOrEqual(Math.round(i.durationSec! * 1000));
        expect(c.durationMs).toBeGreaterThan(0);
      }
      for (const s of i.onScreen) expect(s.text.split(" ").length).toBeLessThanOrEqual(6);
    }
    for (const p of items.flatMap((i) => i.pages)) {
      expect(p.split(" ").length).toBeGreaterThanOrEqual(150);
      expect(p.split(" ").length).toBeLessThanOrEqual(500);
    }
    const langs = new Set(items.map((i) => i.language));
    expect(langs).toEqual(new Set(["eng", "fra", null]));
    expect(items.filter((i) => i.org === 0).length / items.length).toBeGreaterThan(0.6);
    expect(new Set(items.map((i) => i.org)).size).toBe(3);
  });

  it("parses sizes", () => {
    expect([parseSize("10k"), parseSize("100K"), parseSize("1m"), parseSize("2500")]).toEqual([10_000, 100_000, 1_000_000, 2500]);
    expect(() => parseSize("lots")).toThrow(/bad size/);
  });
});

describe("search benchmark peers", () => {
  let db: TestDb;
  let work: string;
  let lite: SqliteIndex;
  let items: CorpusItem[];
  let orgIds: string[];
  const o = opts(3000);

  beforeAll(async () => {
    db = await createTestDatabase();
    work = await mkdtemp(path.join(os.tmpdir(), "spool-search-bench-test-"));
    orgIds = [];
    for (let i = 0; i < o.organizations; i++) orgIds.push((await ensureOrganization(db.prisma, `bench-peer-${i}`)).id);
    items = [...corpus(v, o)];
    const stats = await loadSpool(db.pool, orgIds, items, 200, () => {});
    expect(stats.segments).toBe(3000);
    expect(stats.sample.segments).toBeGreaterThan(0);
    await buildPlainTable(db.pool);
    lite = loadSqlite(path.join(work, "t.sqlite"), items, () => {});
  });
  afterAll(async () => {
    lite?.db.close();
    await rm(work, { recursive: true, force: true });
    await db?.drop();
  });

  it("loads what the corpus holds: items, segments per kind, the GIN index back", async () => {
    const { rows } = await db.pool.query(`select kind, count(*)::int n from search_segments group by kind`);
    const byKind = Object.fromEntries(rows.map((r) => [r.kind, r.n]));
    expect(byKind.CAPTION).toBe(items.reduce((a, i) => a + i.captions.length, 0));
    expect(byKind.PAGE).toBe(items.reduce((a, i) => a + i.pages.length, 0));
    expect(byKind.ON_SCREEN_TEXT).toBe(items.reduce((a, i) => a + i.onScreen.length, 0));
    expect(byKind.TITLE).toBe(items.length);
    expect((await db.pool.query(`select count(*)::int n from search_items`)).rows[0].n).toBe(items.length);
    expect((await db.pool.query(`select count(*)::int n from pg_indexes where indexname = 'search_segments_tsv_idx'`)).rows[0].n).toBe(1);
    expect(lite.segments).toBe(3000);
  });

  it("Postgres without GIN counts the same items as a query over Spool's index", async () => {
    const plain = await plainPostgres(db.pool, orgIds[0]!);
    const queries = sampleQueries(v, o, 4, 5);
    for (const q of queries) {
      const direct = await db.pool.query(
        `select count(distinct s.item_id)::int n from search_segments s join search_items i using (item_id)
         where s.organization_id = $1 and s.tsv @@ websearch_to_tsquery(s.config, $2)
           and ($3::boolean is false or (i.item_type = 'VIDEO' and i.duration_sec >= $4 and i.duration_sec < $5 and i.quality = 'HD'))`,
        [orgIds[0], q.text, q.filter !== null, FILTER.minDurationSec, FILTER.maxDurationSec]);
      const got = await plain.run(q);
      expect(got.total, `${q.kind}: ${q.text}`).toBe(direct.rows[0].n);
      expect(got.hits).toBe(Math.min(20, got.total));
      if (q.highlights) expect(got.snippets).toBe(got.hits);
    }
  });

  it("SQLite FTS5 finds the items whose text holds the word (porter leaves words ending in a or o alone)", async () => {
    const engine = sqliteEngine(lite, 0);
    // Words of the tail ending in a or o (not ou): porter only strips a plural s from them.
    const candidates = v.words.slice(300, 3000).filter((w) => /[ao]$/.test(w) && !/ou$/.test(w)).slice(0, 12);
    let nonZero = 0;
    for (const w of candidates) {
      const expected = items.filter((i) => i.org === 0 && segmentTexts(i).some((t) => words(t).some((x) => x === w || x === `${w}s`))).length;
      const q: BenchQuery = { kind: "one word", text: w, words: [w], phrase: false, filter: null, facets: true, highlights: true };
      const got = await engine.run(q);
      expect(got.total, w).toBe(expected);
      expect(got.snippets).toBe(got.hits);
      if (expected) nonZero++;
    }
    expect(nonZero).toBeGreaterThan(3);
  });
});
