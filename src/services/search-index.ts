// Writing the search index: the one place segments are written from application code. Each
// writer runs in the caller's transaction — the one that stores the job outputs the text
// comes from — so an item is searchable exactly when its job's outputs are committed, and a
// re-run replaces its segments instead of adding to them (they are keyed by `source`).
//
// What is not here: the item rows and their TEXT segments (title, tags, description,
// metadata, filename), which triggers keep (search migration), and document pages, which
// `spool_search_index_pages` copies from document_pages in SQL.
import type { Queryable } from "../engine/queryable.ts";

export type SearchMode = "TEXT" | "AUDIO" | "VISUAL";
export type SegmentKind = "TITLE" | "TAGS" | "DESCRIPTION" | "METADATA" | "FILENAME" | "PAGE" | "CAPTION" | "ON_SCREEN_TEXT";
/** PDF points (documents) or frame pixels (on-screen text), origin top-left. */
export type Box = { x: number; y: number; width: number; height: number };

export type SegmentInput = {
  mode: SearchMode;
  kind: SegmentKind;
  text: string;
  page?: number | null;
  startMs?: number | null;
  durationMs?: number | null;
  box?: Box | null;
  /** 0..100 */
  confidence?: number | null;
  /** Any code spool_language_code takes (ISO 639-1/639-3, BCP-47); null: `simple`. */
  language?: string | null;
};

export type SearchOwner = { organizationId: string } & ({ videoId: string } | { documentId: string });

/** Rows per insert: a long video's captions are thousands of cues. */
const SEGMENTS_PER_INSERT = 1000;
/** Longer text is cut: Postgres refuses a tsvector over 1 MB, and no cue or frame says this much. */
const MAX_SEGMENT_CHARS = 100_000;

function itemIdOf(owner: SearchOwner): string {
  return "videoId" in owner ? owner.videoId : owner.documentId;
}

/**
 * Replaces the segments `source` wrote for an item ("captions:<track id>", "visual") with
 * `segments`. Blank segments are skipped. Returns how many were written.
 */
export async function replaceSegments(tx: Queryable, owner: SearchOwner, source: string, segments: SegmentInput[]): Promise<number> {
  const itemId = itemIdOf(owner);
  // The item's search row exists from its insert on (triggers); the insert below joins it, so
  // segments for an item of another organization are never written.
  await tx.query(`delete from search_segments where item_id = $1 and organization_id = $2 and source = $3`, [itemId, owner.organizationId, source]);
  const rows = segments
    .filter((s) => s.text.trim() !== "")
    .map((s) => ({
      mode: s.mode, kind: s.kind, text: s.text.slice(0, MAX_SEGMENT_CHARS), page: s.page ?? null,
      start_ms: s.startMs == null ? null : Math.round(s.startMs), duration_ms: s.durationMs == null ? null : Math.round(s.durationMs),
      box: s.box ?? null, confidence: s.confidence ?? null, language: s.language ?? null,
    }));
  for (let i = 0; i < rows.length; i += SEGMENTS_PER_INSERT) {
    await tx.query(
      `insert into search_segments (organization_id, item_id, mode, kind, source, page, start_ms, duration_ms, box, confidence, language, config, text)
       select $1, $2, r.mode, r.kind, $3, r.page, r.start_ms, r.duration_ms, r.box, r.confidence,
              spool_language_code(r.language), spool_search_config(r.language), r.text
       from jsonb_to_recordset($4::jsonb) as r(mode text, kind text, text text, page int, start_ms int, duration_ms int, box jsonb, confidence real, language text)
       join search_items i on i.item_id = $2 and i.organization_id = $1`,
      [owner.organizationId, itemId, source, JSON.stringify(rows.slice(i, i + SEGMENTS_PER_INSERT))],
    );
  }
  return rows.length;
}

/** Removes what `source` wrote (a deleted caption track). */
export async function removeSegments(tx: Queryable, owner: SearchOwner, source: string): Promise<void> {
  await tx.query(`delete from search_segments where item_id = $1 and organization_id = $2 and source = $3`, [itemIdOf(owner), owner.organizationId, source]);
}

/** A Document's PAGE segments from the document_pages its transaction just stored. */
export async function indexPages(tx: Queryable, organizationId: string, documentId: string): Promise<number> {
  const { rows } = await tx.query<{ n: number }>(
    `select spool_search_index_pages(id) as n from documents where id = $1 and organization_id = $2`, [documentId, organizationId]);
  return rows[0]?.n ?? 0;
}

/**
 * The `video.indexed` / `document.indexed` webhook event, in the same transaction as the
 * segments: sent only if they commit.
 */
export async function publishIndexed(
  tx: Queryable, owner: SearchOwner, what: { modes: SearchMode[]; source: string; segmentCount: number; jobId?: string | null },
): Promise<void> {
  const video = "videoId" in owner;
  await tx.query(
    `select spool_webhook_publish($1, $2, jsonb_build_object($3::text, spool_global_id($4, $5::uuid), 'modes', $6::jsonb, 'source', $7::text,
       'segmentCount', $8::int, 'jobId', case when $9::uuid is null then null else spool_global_id('Job', $9::uuid) end))`,
    [owner.organizationId, video ? "video.indexed" : "document.indexed", video ? "videoId" : "documentId", video ? "Video" : "Document",
      itemIdOf(owner), JSON.stringify(what.modes), what.source, what.segmentCount, what.jobId ?? null],
  );
}
