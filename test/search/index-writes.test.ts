// The index is kept in step by the writes that change what it reads: item rows (triggers),
// document pages (spool_search_index_pages), caption and on-screen segments (replaceSegments).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inTransaction } from "../../src/engine/queryable.ts";
import type { Job } from "../../src/engine/types.ts";
import { savePages } from "../../src/processors/documents/pages.ts";
import { payloadSchema } from "../../src/services/webhook-events.ts";
import { indexPages, replaceSegments } from "../../src/services/search-index.ts";
import { createOrg, createTestDatabase, type TestDb } from "../helpers.ts";

let db: TestDb;
let org: { id: string };
beforeAll(async () => {
  db = await createTestDatabase();
  org = await createOrg(db);
});
afterAll(async () => db?.drop());

async function segments(itemId: string) {
  const { rows } = await db.pool.query(`select kind, source, text, config::text as config, language from search_segments where item_id = $1 order by kind, id`, [itemId]);
  return rows;
}
async function item(itemId: string) {
  const { rows } = await db.pool.query(`select * from search_items where item_id = $1`, [itemId]);
  return rows[0] ?? null;
}
async function newVideo(title: string, extra: { tags?: string[]; description?: string; metadata?: object } = {}) {
  const { rows } = await db.pool.query<{ id: string }>(
    `insert into videos (organization_id, title, description, tags, metadata) values ($1, $2, $3, $4, $5) returning id`,
    [org.id, title, extra.description ?? null, extra.tags ?? [], extra.metadata ?? {}]);
  return rows[0]!.id;
}

describe("item rows and TEXT segments", () => {
  it("a new Video is an item with its title, tags, description and metadata strings; an update rewrites them", async () => {
    const id = await newVideo("Harbour at dawn", { tags: ["boats", "sea"], description: "Fishing boats leave", metadata: { camera: { model: "Sony FX3" }, n: 3, ok: true } });
    expect(await item(id)).toMatchObject({ item_type: "VIDEO", title: "Harbour at dawn", tags: ["boats", "sea"], names: "Harbour at dawn boats sea", quality: null, languages: [] });
    expect((await segments(id)).map((s) => [s.kind, s.text, s.config])).toEqual([
      ["DESCRIPTION", "Fishing boats leave", "simple"], ["METADATA", "3 Sony FX3", "simple"], ["TAGS", "boats sea", "simple"], ["TITLE", "Harbour at dawn", "simple"],
    ]);
    await db.pool.query(`update videos set title = 'Harbour at dusk', description = null, media = $2 where id = $1`,
      [id, { durationSec: 612.5, video: { width: 1920, height: 1080 } }]);
    expect(await item(id)).toMatchObject({ title: "Harbour at dusk", duration_sec: 612.5, quality: "HD" });
    expect((await segments(id)).map((s) => s.kind)).toEqual(["METADATA", "TAGS", "TITLE"]);
  });

  it("quality comes from the short side: a vertical 1080x1920 is HD, 3840x2160 is 4K, 640x360 SD", async () => {
    for (const [w, h, q] of [[1080, 1920, "HD"], [3840, 2160, "4K"], [640, 360, "SD"]] as const) {
      const id = await newVideo(`q ${w}`);
      await db.pool.query(`update videos set media = $2 where id = $1`, [id, { durationSec: 1, video: { width: w, height: h } }]);
      expect((await item(id)).quality).toBe(q);
    }
  });

  it("a Document's pages are PAGE segments in its language; deleting it removes everything", async () => {
    const { rows } = await db.pool.query<{ id: string }>(`insert into documents (organization_id, title) values ($1, 'Lease') returning id`, [org.id]);
    const id = rows[0]!.id;
    await inTransaction(db.pool, async (tx) => {
      await tx.query(`insert into document_pages (document_id, organization_id, page, width, height, text, source, word_count)
        values ($1, $2, 1, 612, 792, 'The tenant is running late', 'TEXT_LAYER', 5), ($1, $2, 2, 612, 792, '   ', 'NONE', 0)`, [id, org.id]);
      await tx.query(`update documents set language = 'eng', page_count = 2 where id = $1`, [id]);
      expect(await indexPages(tx, org.id, id)).toBe(1);
    });
    const segs = await segments(id);
    expect(segs.map((s) => [s.kind, s.config, s.language])).toEqual([["PAGE", "english", "eng"], ["TITLE", "english", "eng"]]);
    const hit = await db.pool.query(`select count(*)::int as n from search_segments where item_id = $1 and tsv @@ websearch_to_tsquery('english', 'runs')`, [id]);
    expect(hit.rows[0].n).toBe(1);
    expect(await item(id)).toMatchObject({ item_type: "DOCUMENT", page_count: 2, languages: ["eng"] });
    await db.pool.query(`delete from documents where id = $1`, [id]);
    expect(await item(id)).toBeNull();
    expect(await segments(id)).toEqual([]);
  });

  it("replaceSegments replaces one source's segments and leaves the others; configs seen are recorded", async () => {
    const id = await newVideo("Lecture");
    const owner = { organizationId: org.id, videoId: id };
    await inTransaction(db.pool, (tx) => replaceSegments(tx, owner, "captions:a", [
      { mode: "AUDIO", kind: "CAPTIONS" as never, text: "x" },
    ]).catch((e) => e)).then((e) => expect(String(e)).toMatch(/search_segments_kind_check/));
    await inTransaction(db.pool, (tx) => replaceSegments(tx, owner, "captions:a", [
      { mode: "AUDIO", kind: "CAPTION", text: "Bonjour à tous", startMs: 1000, durationMs: 2000, language: "fr-CA" },
      { mode: "AUDIO", kind: "CAPTION", text: "  ", startMs: 3000, durationMs: 500 },
    ]));
    await inTransaction(db.pool, (tx) => replaceSegments(tx, owner, "visual", [{ mode: "VISUAL", kind: "ON_SCREEN_TEXT", text: "EXIT", startMs: 0, durationMs: 4000, box: { x: 1, y: 2, width: 3, height: 4 }, confidence: 91 }]));
    await inTransaction(db.pool, (tx) => replaceSegments(tx, owner, "captions:a", [{ mode: "AUDIO", kind: "CAPTION", text: "Merci", startMs: 5000, durationMs: 1000, language: "fr" }]));
    expect((await segments(id)).filter((s) => s.source !== "item").map((s) => [s.kind, s.text, s.config, s.language])).toEqual([
      ["CAPTION", "Merci", "french", "fra"], ["ON_SCREEN_TEXT", "EXIT", "simple", null],
    ]);
    const { rows } = await db.pool.query(`select config::text from search_configs where organization_id = $1 order by 1`, [org.id]);
    expect(rows.map((r) => r.config)).toEqual(expect.arrayContaining(["french", "simple", "english"]));
  });

  it("another organization's item cannot be written into", async () => {
    const id = await newVideo("Mine");
    const other = await createOrg(db);
    await inTransaction(db.pool, (tx) => replaceSegments(tx, { organizationId: other.id, videoId: id }, "visual", [{ mode: "VISUAL", kind: "ON_SCREEN_TEXT", text: "intruder" }]));
    const { rows } = await db.pool.query(`select count(*)::int as n from search_segments where text = 'intruder'`);
    expect(rows[0].n).toBe(0);
  });
});

describe("a read's pages become searchable in the transaction that stores them", () => {
  async function runningJob(documentId: string) {
    const { rows } = await db.pool.query(
      `insert into jobs (organization_id, type, status, attempts, input) values ($1, 'document.extractText', 'RUNNING', 1, $2) returning *`,
      [org.id, { documentId }]);
    const r = rows[0];
    return { ...r, organizationId: r.organization_id } as never as Job;
  }
  const read = (text: string) => ({
    pageCount: 1, properties: null, ocrPages: 0, language: "eng", wordCount: 3, confidence: null, elapsedMs: 1,
    pages: [{ page: 1, width: 612, height: 792, text, words: [], source: "TEXT_LAYER" as const, confidence: null, wordCount: 3 }],
  });

  it("savePages writes PAGE segments and a document.indexed event; a stale attempt changes neither", async () => {
    await db.pool.query(`insert into webhook_endpoints (organization_id, url, secret) values ($1, 'https://example.com/hook', 'x')`, [org.id]);
    const doc = (await db.pool.query(`insert into documents (organization_id, title) values ($1, 'Charter') returning id`, [org.id])).rows[0].id;
    const job = await runningJob(doc);
    const deps = { pool: db.pool } as never;
    await savePages(deps, job, 1, doc, read("Ships sail at noon"));
    const pages = async () => (await db.pool.query(`select text from search_segments where item_id = $1 and kind = 'PAGE'`, [doc])).rows.map((r) => r.text);
    expect(await pages()).toEqual(["Ships sail at noon"]);
    const { rows } = await db.pool.query(`select body from webhook_messages where organization_id = $1 and event_type = 'document.indexed'`, [org.id]);
    expect(rows).toHaveLength(1);
    const body = payloadSchema("document.indexed").parse(JSON.parse(rows[0].body));
    expect(body.data).toMatchObject({ modes: ["TEXT"], source: "pages", segmentCount: 1 });

    await expect(savePages(deps, job, 2, doc, read("Ships sink at dawn"))).rejects.toMatchObject({ code: "LEASE_LOST" });
    expect(await pages()).toEqual(["Ships sail at noon"]);
    await savePages(deps, job, 1, doc, read("Ships sink at dawn"));
    expect(await pages()).toEqual(["Ships sink at dawn"]);
  });
});
