// search.reindex rebuilds an organization's index from what is stored: damaged or missing
// item rows and segments come back, caption segments follow their track's language, orphans
// go, and another organization's index is not touched.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRegistry } from "../../src/app.ts";
import { Engine } from "../../src/engine/engine.ts";
import { inTransaction } from "../../src/engine/queryable.ts";
import type { ProcessorRegistry } from "../../src/engine/registry.ts";
import { getJob, submitJob } from "../../src/services/jobs.ts";
import { indexPages, replaceSegments } from "../../src/services/search-index.ts";
import { createOrg, createTestDatabase, log, type TestDb } from "../helpers.ts";

let db: TestDb;
let registry: ProcessorRegistry;
let org: string;
let other: string;
beforeAll(async () => {
  db = await createTestDatabase();
  registry = createRegistry({ pool: db.pool });
  org = (await createOrg(db)).id;
  other = (await createOrg(db)).id;
});
afterAll(async () => db?.drop());

async function snapshot(organizationId: string) {
  const { rows } = await db.pool.query(
    `select item_id, kind, source, page, start_ms, language, config::text as config, text, tsv::text as tsv
     from search_segments where organization_id = $1 order by item_id, kind, source, page nulls first, start_ms nulls first, text`, [organizationId]);
  return rows;
}

async function seed(organizationId: string) {
  const video = (await db.pool.query(`insert into videos (organization_id, title, tags) values ($1, 'Ferry timetable', '{travel}') returning id`, [organizationId])).rows[0].id;
  const doc = (await db.pool.query(`insert into documents (organization_id, title, language) values ($1, 'Minutes', 'eng') returning id`, [organizationId])).rows[0].id;
  const asset = (await db.pool.query(
    `insert into assets (organization_id, key, size, content_type, kind, sha256, origin, video_id, role, label)
     values ($1, 'k-' || gen_random_uuid(), 10, 'text/vtt', 'CAPTIONS', 'x', 'JOB_OUTPUT', $2, 'CAPTIONS', 'fr') returning id`, [organizationId, video])).rows[0].id;
  const track = (await db.pool.query(
    `insert into caption_tracks (organization_id, video_id, asset_id, language, label, kind, cue_count) values ($1, $2, $3, 'fr', 'Français', 'SUBTITLES', 1) returning id`,
    [organizationId, video, asset])).rows[0].id;
  await inTransaction(db.pool, async (tx) => {
    await tx.query(`insert into document_pages (document_id, organization_id, page, width, height, text, source, word_count) values ($1, $2, 1, 612, 792, 'The board approved the budgets', 'TEXT_LAYER', 5)`, [doc, organizationId]);
    await indexPages(tx, organizationId, doc);
    await replaceSegments(tx, { organizationId, videoId: video }, `captions:${track}`, [{ mode: "AUDIO", kind: "CAPTION", text: "Les bateaux partent", startMs: 1000, durationMs: 1500, language: "fr" }]);
    await replaceSegments(tx, { organizationId, videoId: video }, "visual", [{ mode: "VISUAL", kind: "ON_SCREEN_TEXT", text: "DEPARTURES", startMs: 0, durationMs: 3000 }]);
  });
  return { video, doc, track };
}

async function reindex(organizationId: string) {
  const { job } = await submitJob(db.pool, registry, organizationId, { type: "search.reindex", input: { batchSize: 1 } });
  await new Engine({ pool: db.pool, registry, log, concurrency: 1 }).runOnce();
  return getJob(db.pool, organizationId, job.id);
}

describe("search.reindex", () => {
  it("puts back what was damaged, exactly as the writers made it, and leaves other organizations alone", async () => {
    const { video, doc, track } = await seed(org);
    await seed(other);
    const before = await snapshot(org);
    const otherBefore = await snapshot(other);
    expect(before.length).toBe(6);

    // Damage: a page segment and the title segment gone, the caption re-stemmed wrongly, an orphan caption segment.
    await db.pool.query(`delete from search_segments where item_id = $1 and kind = 'PAGE'`, [doc]);
    await db.pool.query(`delete from search_segments where item_id = $1 and kind = 'TITLE'`, [video]);
    await db.pool.query(`update search_segments set config = 'simple', language = null where source = $1`, [`captions:${track}`]);
    await inTransaction(db.pool, (tx) => replaceSegments(tx, { organizationId: org, videoId: video }, "captions:00000000-0000-0000-0000-000000000000", [{ mode: "AUDIO", kind: "CAPTION", text: "ghost", startMs: 0, durationMs: 1 }]));
    expect(await snapshot(org)).not.toEqual(before);

    const done = await reindex(org);
    expect(done).toMatchObject({ status: "SUCCEEDED", progress: 1, result: { items: 2, segments: 6 } });
    expect(await snapshot(org)).toEqual(before);
    expect(await snapshot(other)).toEqual(otherBefore);
  });

  it("follows a caption track's changed language", async () => {
    const { track } = await seed(org);
    await db.pool.query(`update caption_tracks set language = 'en' where id = $1`, [track]);
    await reindex(org);
    const { rows } = await db.pool.query(`select language, config::text as config from search_segments where source = $1`, [`captions:${track}`]);
    expect(rows).toEqual([{ language: "eng", config: "english" }]);
  });

  it("takes no input but its batch size", async () => {
    await expect(submitJob(db.pool, registry, org, { type: "search.reindex", input: { everything: true } })).rejects.toMatchObject({ code: "INVALID_INPUT" });
  });
});
