// Loads the search benchmark's corpus into Spool's own tables in a migrated database.
//
// Items go in as rows of videos and documents (their triggers write search_items and the TEXT
// segments, as in production), each Video with a caption track (asset + caption_tracks row:
// the languages filter reads it). The other segments — caption cues, on-screen text, pages —
// are inserted in bulk straight into search_segments, in batches through unnest(), with the
// GIN index dropped meanwhile and built once at the end (the way to load a million rows in
// minutes). The product's own write path, replaceSegments, is then timed on a sample: the
// same cues of some Videos written again, one transaction per Video, with the GIN index live.
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import type pg from "pg";
import { replaceSegments, type SegmentInput } from "../../src/services/search-index.ts";
import type { CorpusItem, Cue, Language } from "./search-corpus.ts";

type Seg = { org: string; item: string; mode: string; kind: string; source: string; page: number | null; start: number | null; duration: number | null; box: string | null; confidence: number | null; language: string | null; text: string };

const SEGMENTS_PER_BATCH = 4000;
const ITEMS_PER_BATCH = 250;

const trackLanguage = (l: Language) => (l === "eng" ? "en" : l === "fra" ? "fr" : "und");

export type LoadStats = { items: number; segments: number; itemsMs: number; bulkMs: number; ginMs: number; sample: { segments: number; items: number; ms: number } };
export type ProductSample = { organizationId: string; videoId: string; trackId: string; language: string; cues: Cue[] };

async function insertItems(c: pg.PoolClient, orgIds: string[], items: CorpusItem[], trackIds: Map<string, string>): Promise<void> {
  const videos = items.filter((i) => i.type === "VIDEO");
  const docs = items.filter((i) => i.type === "DOCUMENT");
  if (videos.length) {
    await c.query(
      `insert into videos (id, organization_id, title, description, tags, media, created_at)
       select r.id, r.org, r.title, r.description, r.tags, r.media, r.created_at
       from jsonb_to_recordset($1::jsonb) as r(id uuid, org uuid, title text, description text, tags text[], media jsonb, created_at timestamptz)`,
      [JSON.stringify(videos.map((v) => ({
        id: v.id, org: orgIds[v.org], title: v.title, description: v.description, tags: v.tags, created_at: v.createdAt,
        media: { durationSec: v.durationSec, video: { width: v.width, height: v.height, codec: "h264" } },
      })))],
    );
    // One caption track per Video with cues: its asset, then the track (whose trigger sets the item's languages).
    const withCues = videos.filter((v) => v.captions.length);
    const tracks = withCues.map((v) => ({ id: randomUUID(), asset: randomUUID(), video: v.id, org: orgIds[v.org], language: trackLanguage(v.language), cues: v.captions.length }));
    for (const [i, t] of tracks.entries()) trackIds.set(withCues[i]!.id, t.id);
    if (tracks.length) {
      await c.query(
        `insert into assets (id, organization_id, key, filename, size, content_type, kind, sha256, origin, video_id, role)
         select r.asset, r.org, 'bench/' || r.asset || '.vtt', 'captions.vtt', 1000, 'text/vtt', 'CAPTIONS', repeat('0', 64), 'JOB_OUTPUT', r.video, 'CAPTIONS'
         from jsonb_to_recordset($1::jsonb) as r(asset uuid, org uuid, video uuid)`,
        [JSON.stringify(tracks)],
      );
      await c.query(
        `insert into caption_tracks (id, organization_id, video_id, asset_id, language, label, kind, cue_count)
         select r.id, r.org, r.video, r.asset, r.language, upper(r.language), 'SUBTITLES', r.cues
         from jsonb_to_recordset($1::jsonb) as r(id uuid, asset uuid, org uuid, video uuid, language text, cues int)`,
        [JSON.stringify(tracks)],
      );
    }
  }
  if (docs.length) {
    await c.query(
      `insert into documents (id, organization_id, title, description, tags, language, page_count, created_at)
       select r.id, r.org, r.title, r.description, r.tags, r.language, r.page_count, r.created_at
       from jsonb_to_recordset($1::jsonb) as r(id uuid, org uuid, title text, description text, tags text[], language text, page_count int, created_at timestamptz)`,
      [JSON.stringify(docs.map((d) => ({ id: d.id, org: orgIds[d.org], title: d.title, description: d.description, tags: d.tags, language: d.language, page_count: d.pages.length, created_at: d.createdAt })))],
    );
  }
}

function segmentsOf(item: CorpusItem, org: string, trackId: string | undefined): Seg[] {
  const lang = item.type === "VIDEO" ? trackLanguage(item.language) : item.language;
  const out: Seg[] = [];
  for (const c of item.captions)
    out.push({ org, item: item.id, mode: "AUDIO", kind: "CAPTION", source: `captions:${trackId}`, page: null, start: c.startMs, duration: c.durationMs, box: null, confidence: null, language: lang, text: c.text });
  for (const s of item.onScreen)
    out.push({ org, item: item.id, mode: "VISUAL", kind: "ON_SCREEN_TEXT", source: "visual", page: null, start: s.startMs, duration: s.durationMs, box: JSON.stringify(s.box), confidence: s.confidence, language: lang, text: s.text });
  item.pages.forEach((text, i) =>
    out.push({ org, item: item.id, mode: "TEXT", kind: "PAGE", source: "pages", page: i + 1, start: null, duration: null, box: null, confidence: null, language: lang, text }));
  return out;
}

async function insertSegments(c: pg.PoolClient, segs: Seg[]): Promise<void> {
  const col = <K extends keyof Seg>(k: K) => segs.map((s) => s[k]);
  await c.query(
    `insert into search_segments (organization_id, item_id, mode, kind, source, page, start_ms, duration_ms, box, confidence, language, config, text)
     select org, item, mode, kind, source, page, start_ms, duration_ms, box, confidence, spool_language_code(language), spool_search_config(language), text
     from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::int[], $7::int[], $8::int[], $9::jsonb[], $10::real[], $11::text[], $12::text[])
       as r(org, item, mode, kind, source, page, start_ms, duration_ms, box, confidence, language, text)`,
    [col("org"), col("item"), col("mode"), col("kind"), col("source"), col("page"), col("start"), col("duration"), col("box"), col("confidence"), col("language"), col("text")],
  );
}

/**
 * Loads `items` (a corpus generator) into the database behind `pool`. `sampleSegments`: how
 * many of the queried organization's caption cues the product path writes again afterwards.
 */
export async function loadSpool(pool: pg.Pool, orgIds: string[], items: Iterable<CorpusItem>, sampleSegments: number, progress: (s: string) => void): Promise<LoadStats> {
  const main = await pool.connect();
  const writers = [await pool.connect(), await pool.connect()];
  const stats: LoadStats = { items: 0, segments: 0, itemsMs: 0, bulkMs: 0, ginMs: 0, sample: { segments: 0, items: 0, ms: 0 } };
  const samples: ProductSample[] = [];
  let sampled = 0;
  try {
    const { rows } = await main.query(`select pg_get_indexdef('search_segments_tsv_idx'::regclass) as def`);
    const ginDef: string = rows[0].def;
    await main.query(`drop index search_segments_tsv_idx`);
    const t0 = performance.now();
    const trackIds = new Map<string, string>();
    // Two writers, one per core: the tsvector of each row is computed by the insert.
    const inflight = new Set<Promise<void>>();
    const free = [...writers];
    let pending: Seg[] = [];
    const flush = async () => {
      if (!pending.length) return;
      const batch = pending;
      pending = [];
      while (!free.length) await Promise.race(inflight);
      const w = free.pop()!;
      const p: Promise<void> = insertSegments(w, batch).finally(() => (free.push(w), inflight.delete(p)));
      inflight.add(p);
    };
    let batch: CorpusItem[] = [];
    const flushItems = async () => {
      const ti = performance.now();
      await insertItems(main, orgIds, batch, trackIds);
      stats.itemsMs += performance.now() - ti;
      for (const item of batch) {
        pending.push(...segmentsOf(item, orgIds[item.org]!, trackIds.get(item.id)));
        if (pending.length >= SEGMENTS_PER_BATCH) await flush();
        if (item.org === 0 && item.captions.length && sampled < sampleSegments) {
          samples.push({ organizationId: orgIds[0]!, videoId: item.id, trackId: trackIds.get(item.id)!, language: trackLanguage(item.language), cues: item.captions });
          sampled += item.captions.length;
        }
      }
      batch = [];
    };
    for (const item of items) {
      stats.items++;
      stats.segments += item.segmentCount;
      batch.push(item);
      if (batch.length >= ITEMS_PER_BATCH) {
        await flushItems();
        progress(`  loaded ${stats.items} items, ${stats.segments} segments`);
      }
    }
    await flushItems();
    await flush();
    await Promise.all(inflight);
    stats.bulkMs = performance.now() - t0;

    const tg = performance.now();
    await main.query(`set maintenance_work_mem = '256MB'`);
    await main.query(ginDef);
    stats.ginMs = performance.now() - tg;
    await main.query(`vacuum analyze search_segments`);
    await main.query(`vacuum analyze search_items`);

    // The product's path, on the live index: each sampled Video's cues written again in one transaction.
    const ts = performance.now();
    for (const s of samples) {
      const segments: SegmentInput[] = s.cues.map((c) => ({ mode: "AUDIO", kind: "CAPTION", text: c.text, startMs: c.startMs, durationMs: c.durationMs, language: s.language }));
      await main.query("begin");
      try {
        stats.sample.segments += await replaceSegments(main, { organizationId: s.organizationId, videoId: s.videoId }, `captions:${s.trackId}`, segments);
        await main.query("commit");
      } catch (err) {
        await main.query("rollback");
        throw err;
      }
      stats.sample.items++;
    }
    stats.sample.ms = performance.now() - ts;
    // Dead rows of the rewrite and the GIN pending list, as autovacuum would leave them after a while.
    await main.query(`vacuum analyze search_segments`);
    const counted = Number((await main.query(`select count(*) as n from search_segments`)).rows[0].n);
    if (counted !== stats.segments) throw new Error(`search_segments holds ${counted} rows, the corpus has ${stats.segments}`);
    return stats;
  } finally {
    main.release();
    for (const w of writers) w.release();
  }
}

/** The peer "Postgres without Spool's index": the same rows (stored tsvector copied, not recomputed), no GIN. */
export async function buildPlainTable(pool: pg.Pool): Promise<number> {
  const t = performance.now();
  await pool.query(`drop table if exists bench_plain_segments`);
  await pool.query(
    `create table bench_plain_segments as
     select id, organization_id, item_id, mode, kind, page, start_ms, duration_ms, config, text, tsv from search_segments`);
  // Its primary key only: highlights fetch the page's segments by id.
  await pool.query(`alter table bench_plain_segments add primary key (id)`);
  await pool.query(`vacuum analyze bench_plain_segments`);
  return performance.now() - t;
}
