// Test items for the search tests, written through the real writers: videos/documents rows
// (the triggers make their search rows and TEXT segments), assets, caption_tracks,
// document_pages + indexPages, and replaceSegments for captions and on-screen text.
import { randomBytes } from "node:crypto";
import { inTransaction } from "../../src/engine/queryable.ts";
import { indexPages, replaceSegments, type SegmentInput } from "../../src/services/search-index.ts";
import type { TestDb } from "../helpers.ts";

export type Word = [string, number, number, number, number];

/** Lays `text` out as a PDF page would: lines of words left to right, 12 pt high, 6 pt per character. */
export function layout(lines: string[]): { text: string; words: Word[] } {
  const words: Word[] = [];
  lines.forEach((line, li) => {
    let x = 72;
    for (const w of line.split(/\s+/).filter(Boolean)) {
      words.push([w, x, 100 + li * 16, w.length * 6, 12]);
      x += w.length * 6 + 4;
    }
  });
  return { text: lines.join("\n"), words };
}

export function corpusWriter(db: TestDb) {
  async function asset(organizationId: string, owner: { videoId?: string; documentId?: string }, role: string, contentType: string, kind: string, filename: string | null = null) {
    const { rows } = await db.pool.query<{ id: string }>(
      `insert into assets (organization_id, key, filename, size, content_type, kind, sha256, origin, video_id, document_id, role)
       values ($1, $2, $3, 10, $4, $5::asset_kind, repeat('0', 64), 'UPLOAD', $6, $7, $8) returning id`,
      [organizationId, `test/${randomBytes(8).toString("hex")}`, filename, contentType, kind, owner.videoId ?? null, owner.documentId ?? null, role]);
    return rows[0]!.id;
  }

  async function video(organizationId: string, v: {
    title: string; tags?: string[]; description?: string; durationSec?: number; size?: [number, number];
    captions?: { language: string; cues: Array<[startSec: number, durationSec: number, text: string]> };
    screen?: Array<{ startSec: number; durationSec: number; text: string; box: { x: number; y: number; width: number; height: number }; confidence: number }>;
    contentType?: string; thumbnail?: boolean; createdAt?: Date;
  }) {
    const { rows } = await db.pool.query<{ id: string }>(
      `insert into videos (organization_id, title, description, tags, media, created_at) values ($1, $2, $3, $4, $5, coalesce($6, now())) returning id`,
      [organizationId, v.title, v.description ?? null, v.tags ?? [],
        v.durationSec == null ? null : { durationSec: v.durationSec, ...(v.size ? { video: { width: v.size[0], height: v.size[1] } } : {}) }, v.createdAt ?? null]);
    const id = rows[0]!.id;
    const owner = { organizationId, videoId: id };
    if (v.contentType) await asset(organizationId, { videoId: id }, "SOURCE", v.contentType, "VIDEO", `${v.title}.mp4`);
    if (v.thumbnail) await asset(organizationId, { videoId: id }, "THUMBNAIL", "image/jpeg", "IMAGE");
    if (v.captions) {
      const captions = v.captions;
      const assetId = await asset(organizationId, { videoId: id }, "CAPTIONS", "text/vtt", "CAPTIONS");
      const { rows: t } = await db.pool.query<{ id: string }>(
        `insert into caption_tracks (organization_id, video_id, asset_id, language, label, kind, cue_count) values ($1, $2, $3, $4, 'Track', 'SUBTITLES', $5) returning id`,
        [organizationId, id, assetId, captions.language, captions.cues.length]);
      await inTransaction(db.pool, (tx) => replaceSegments(tx, owner, `captions:${t[0]!.id}`, captions.cues.map(([s, d, text]): SegmentInput => ({
        mode: "AUDIO", kind: "CAPTION", text, startMs: s * 1000, durationMs: d * 1000, language: captions.language,
      }))));
    }
    if (v.screen) {
      await inTransaction(db.pool, (tx) => replaceSegments(tx, owner, "visual", v.screen!.map((s): SegmentInput => ({
        mode: "VISUAL", kind: "ON_SCREEN_TEXT", text: s.text, startMs: s.startSec * 1000, durationMs: s.durationSec * 1000, box: s.box, confidence: s.confidence,
      }))));
    }
    return id;
  }

  async function document(organizationId: string, d: {
    title: string; tags?: string[]; language?: string | null; pages?: Array<{ lines: string[] } | { text: string; words: unknown }>;
    preview?: boolean; createdAt?: Date;
  }) {
    const { rows } = await db.pool.query<{ id: string }>(
      `insert into documents (organization_id, title, tags, created_at) values ($1, $2, $3, coalesce($4, now())) returning id`,
      [organizationId, d.title, d.tags ?? [], d.createdAt ?? null]);
    const id = rows[0]!.id;
    if (d.preview) await asset(organizationId, { documentId: id }, "PREVIEW", "image/png", "IMAGE");
    if (d.pages) {
      await inTransaction(db.pool, async (tx) => {
        for (const [i, p] of d.pages!.entries()) {
          const { text, words } = "lines" in p ? layout(p.lines) : p;
          await tx.query(`insert into document_pages (document_id, organization_id, page, width, height, text, source, word_count, words)
            values ($1, $2, $3, 612, 792, $4, 'TEXT_LAYER', 0, $5::jsonb)`, [id, organizationId, i + 1, text, JSON.stringify(words)]);
        }
        await tx.query(`update documents set language = $2, page_count = $3 where id = $1`, [id, d.language ?? null, d.pages!.length]);
        await indexPages(tx, organizationId, id);
      });
    }
    return id;
  }

  return { video, document, asset };
}
