// Caption tracks of a Video: attached SubRip/WebVTT files and subtitle streams of the source
// (video.index, processors/video-index/subtitles.ts). Whatever a track came from, Spool keeps
// it one way: a normalized WebVTT file, an Asset of the Video (role CAPTIONS, what players and
// the HLS package read), a caption_tracks row, and its cues as CAPTION segments of the search
// index (mode AUDIO). The file is stored before the rows; the asset, the track and the
// segments are written in one transaction, and the file is deleted if it fails (the house
// rule of services/assets.ts ingest).
import { Readable } from "node:stream";
import type pg from "pg";
import { SpoolError } from "../errors.ts";
import { inTransaction, type Queryable } from "../engine/queryable.ts";
import { parseCaptions, type Cue, type ParsedCaptions } from "../tools/captions/parse.ts";
import { writeWebVtt } from "../tools/captions/webvtt.ts";
import { sniff, SNIFF_BYTES } from "../tools/sniff.ts";
import { deleteFiles, getAsset, ingest, insertAsset, limitFor, type AssetServices, type StoredBlob } from "./assets.ts";
import { publishIndexed, removeSegments, replaceSegments } from "./search-index.ts";

export const CAPTION_KINDS = ["SUBTITLES", "CAPTIONS", "DESCRIPTIONS", "CHAPTERS", "METADATA"] as const;
export type CaptionKind = (typeof CAPTION_KINDS)[number];

export type CaptionTrackRow = {
  id: string; organization_id: string; video_id: string; asset_id: string; source_asset_id: string | null;
  stream_index: number | null; language: string; label: string; kind: CaptionKind; cue_count: number;
  job_id: string | null; created_at: Date;
};

/** What an attach or an extraction read, besides the track: cues it could not keep. */
export type TrackReport = { track: CaptionTrackRow; segmentCount: number; droppedCues: number; emptyCues: number; warnings: string[] };

const MAX_LABEL_CHARS = 200;
const MAX_LANGUAGE_CHARS = 35;

/**
 * A BCP-47 tag in its canonical form ("en-us" → "en-US", "fre" → "fr"); INVALID_INPUT for
 * what is not one. The primary language must be a 2-3 letter code (or "und").
 */
export function captionLanguage(tag: string): string {
  const raw = tag.trim();
  let canonical: string | undefined;
  try {
    canonical = raw.length <= MAX_LANGUAGE_CHARS ? Intl.getCanonicalLocales(raw)[0] : undefined;
  } catch {
    canonical = undefined;
  }
  if (!canonical || !/^[a-z]{2,3}(?:-|$)/.test(canonical)) {
    throw new SpoolError("INVALID_INPUT", `language must be a BCP-47 tag such as en, pt-BR or zh-Hant; got ${JSON.stringify(raw.slice(0, 40))}.`);
  }
  return canonical;
}

/** A container's language tag ("eng", "fre", "pt-BR") as BCP-47; "und" when absent or unreadable. */
export function streamLanguage(tag: string | null): string {
  if (!tag) return "und";
  try {
    return captionLanguage(tag);
  } catch {
    return "und";
  }
}

/** The label players show when none is given: the language's English name ("French", "Brazilian Portuguese"). */
export function labelFor(language: string): string {
  if (language === "und") return "Unknown language";
  try {
    return new Intl.DisplayNames(["en"], { type: "language", fallback: "code" }).of(language) ?? language;
  } catch {
    return language;
  }
}

/** A label on one line, bounded; null when blank. */
export function cleanLabel(label: string | null | undefined): string | null {
  const clean = (label ?? "").replace(/[\u0000-\u001f\u007f]+/g, " ").replace(/\s+/g, " ").trim().slice(0, MAX_LABEL_CHARS);
  return clean || null;
}

export function parseKind(kind: string | null | undefined): CaptionKind {
  const k = (kind ?? "SUBTITLES").toUpperCase();
  if (!(CAPTION_KINDS as readonly string[]).includes(k)) throw new SpoolError("INVALID_INPUT", `kind must be one of ${CAPTION_KINDS.join(", ")}.`);
  return k as CaptionKind;
}

/** Stores the normalized WebVTT of `parsed` (no row yet), then runs `commit` with it; the file is deleted if commit fails. */
export function withWebVttBlob<T>(assets: AssetServices, organizationId: string, parsed: ParsedCaptions, commit: (blob: StoredBlob) => Promise<T>): Promise<T> {
  const body = Readable.from([Buffer.from(writeWebVtt(parsed.cues, parsed.blocks), "utf8")]);
  return ingest(assets, { organizationId, body, use: "any" }, async (blob) => {
    if (blob.kind !== "CAPTIONS") throw new Error(`the normalized WebVTT was sniffed as ${blob.contentType}`);
    return commit(blob);
  });
}

export type NewTrack = {
  organizationId: string;
  videoId: string;
  language: string;
  label: string;
  kind: CaptionKind;
  filename: string;
  /** Attached: the file it was made from. */
  sourceAssetId?: string | null;
  /** Extracted: the source's stream and the job. */
  streamIndex?: number | null;
  jobId?: string | null;
};

/**
 * In the caller's transaction: the WebVTT asset, the caption_tracks row and the CAPTION
 * segments of its cues (METADATA tracks carry data, not words: no segments).
 */
export async function insertTrack(tx: Queryable, blob: StoredBlob, t: NewTrack, cues: readonly Cue[]): Promise<{ track: CaptionTrackRow; segmentCount: number }> {
  await insertAsset(tx, blob, {
    organizationId: t.organizationId, origin: t.jobId ? "JOB_OUTPUT" : "UPLOAD", jobId: t.jobId ?? null, videoId: t.videoId,
    role: "CAPTIONS", label: t.language, filename: t.filename,
  });
  const { rows } = await tx.query<CaptionTrackRow>(
    `insert into caption_tracks (organization_id, video_id, asset_id, source_asset_id, stream_index, language, label, kind, cue_count, job_id)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) returning *`,
    [t.organizationId, t.videoId, blob.assetId, t.sourceAssetId ?? null, t.streamIndex ?? null, t.language, t.label, t.kind, cues.length, t.jobId ?? null],
  );
  const track = rows[0]!;
  const segmentCount = t.kind === "METADATA" ? 0 : await replaceSegments(tx, { organizationId: t.organizationId, videoId: t.videoId }, `captions:${track.id}`, cues.map((c) => ({
    mode: "AUDIO" as const, kind: "CAPTION" as const, text: c.text, startMs: c.startMs, durationMs: c.endMs - c.startMs, language: t.language,
  })));
  return { track, segmentCount };
}

/** Locks the Video against deletion while its tracks are written; NOT_FOUND when it is not the organization's. */
async function lockVideo(q: Queryable, organizationId: string, videoId: string): Promise<void> {
  const { rowCount } = await q.query(`select 1 from videos where id = $1 and organization_id = $2 for share`, [videoId, organizationId]);
  if (!rowCount) throw new SpoolError("NOT_FOUND", `No Video ${videoId} in your organization.`);
}

async function readCapped(body: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      body.destroy();
      throw new SpoolError("INVALID_INPUT", `The captions file is larger than the limit of ${limit} bytes.`, { limit });
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * The bytes of a captions file. A file detected as something else (a video, an image, a PDF)
 * is refused here; text that is not captions is refused by the parser, which names the line.
 */
async function captionBytes(body: Readable, limit: number, what: string): Promise<Buffer> {
  const bytes = await readCapped(body, limit);
  if (bytes.length === 0) throw new SpoolError("INVALID_INPUT", `${what} is empty (0 bytes).`);
  const found = await sniff(bytes.subarray(0, SNIFF_BYTES));
  if (found.kind !== null && found.kind !== "CAPTIONS") throw notCaptions(what, found.contentType);
  return bytes;
}

function notCaptions(what: string, detected: string | null): SpoolError {
  return new SpoolError("INVALID_INPUT", `${what} is not captions (SubRip or WebVTT); its bytes are ${detected ?? "of no supported type"}.`, { detected });
}

export type AttachInput = {
  videoId: string;
  /** An uploaded CAPTIONS asset of the organization (SubRip or WebVTT)… */
  assetId?: string | null;
  /** …or the file itself (a multipart upload). */
  file?: { stream: Readable; filename: string | null } | null;
  language: string;
  label?: string | null;
  kind?: string | null;
};

/** Attaches a SubRip or WebVTT file to a Video as a caption track. */
export async function attachCaptions(assets: AssetServices, pool: pg.Pool, organizationId: string, input: AttachInput): Promise<TrackReport> {
  if ((input.assetId == null) === (input.file == null)) throw new SpoolError("INVALID_INPUT", "Give exactly one of assetId or file.");
  const language = captionLanguage(input.language);
  const kind = parseKind(input.kind);
  const label = cleanLabel(input.label) ?? labelFor(language);
  await lockVideo(pool, organizationId, input.videoId);
  const limit = limitFor("CAPTIONS", assets.limits);
  let bytes: Buffer;
  let filename: string | null;
  let sourceAssetId: string | null = null;
  if (input.assetId != null) {
    const source = await getAsset(pool, organizationId, input.assetId);
    if (source.kind !== "CAPTIONS") throw notCaptions(`Asset ${source.id}`, source.content_type);
    bytes = await captionBytes(await assets.storage.get(source.key), limit, `Asset ${source.id}`);
    filename = source.filename;
    sourceAssetId = source.id;
  } else {
    bytes = await captionBytes(input.file!.stream, limit, "The file");
    filename = input.file!.filename;
  }
  const parsed = parseCaptions(bytes);
  // talk.en.srt attached as en-US → talk.en-US.vtt, not talk.en.en-US.vtt: a trailing tag of the same language goes.
  const primary = language.split("-")[0]!;
  const base = (filename ?? "captions").replace(/\.(srt|vtt|txt)$/i, "").replace(new RegExp(`\\.${primary}(?:[-_][A-Za-z0-9]{1,8})*$`, "i"), "");
  const stored = await withWebVttBlob(assets, organizationId, parsed, (blob) => inTransaction(pool, async (tx) => {
    await lockVideo(tx, organizationId, input.videoId);
    const out = await insertTrack(tx, blob, { organizationId, videoId: input.videoId, language, label, kind, filename: `${base}.${language}.vtt`, sourceAssetId }, parsed.cues);
    await publishIndexed(tx, { organizationId, videoId: input.videoId }, { modes: ["AUDIO"], source: `captions:${out.track.id}`, segmentCount: out.segmentCount });
    return out;
  }));
  return { ...stored, droppedCues: parsed.dropped, emptyCues: parsed.empty, warnings: parsed.warnings };
}

/** Deletes a caption track, its WebVTT asset and file, and its segments. Returns the deleted row. */
export async function removeCaptionTrack(assets: AssetServices, pool: pg.Pool, organizationId: string, trackId: string): Promise<CaptionTrackRow> {
  const { track, key } = await inTransaction(pool, async (tx) => {
    const { rows } = await tx.query<CaptionTrackRow & { key: string }>(
      `select t.*, a.key from caption_tracks t join assets a on a.id = t.asset_id where t.id = $1 and t.organization_id = $2 for update of t`, [trackId, organizationId]);
    const row = rows[0];
    if (!row) throw new SpoolError("NOT_FOUND", `No CaptionTrack ${trackId} in your organization.`);
    await removeSegments(tx, { organizationId, videoId: row.video_id }, `captions:${row.id}`);
    await tx.query(`delete from caption_tracks where id = $1`, [row.id]);
    await tx.query(`delete from assets where id = $1 and organization_id = $2`, [row.asset_id, organizationId]);
    const { key: k, ...track } = row;
    return { track: track as CaptionTrackRow, key: k };
  });
  await deleteFiles(assets, [key]);
  return track;
}

/** A Video's caption tracks, oldest first. */
export async function listCaptionTracks(q: Queryable, organizationId: string, videoId: string): Promise<CaptionTrackRow[]> {
  const { rows } = await q.query<CaptionTrackRow>(`select * from caption_tracks where video_id = $1 and organization_id = $2 order by created_at, id`, [videoId, organizationId]);
  return rows;
}

/**
 * In the caller's transaction: removes the tracks earlier runs extracted from these streams
 * of the Video (their assets and segments). Returns the files to delete after commit.
 */
export async function removeStreamTracks(tx: Queryable, organizationId: string, videoId: string, streamIndexes: readonly number[]): Promise<string[]> {
  if (!streamIndexes.length) return [];
  const { rows } = await tx.query<{ id: string; asset_id: string }>(
    `delete from caption_tracks where video_id = $1 and organization_id = $2 and stream_index = any($3::int[]) returning id, asset_id`, [videoId, organizationId, [...streamIndexes]]);
  for (const r of rows) await removeSegments(tx, { organizationId, videoId }, `captions:${r.id}`);
  const gone = await tx.query<{ key: string }>(`delete from assets where id = any($1::uuid[]) and organization_id = $2 returning key`, [rows.map((r) => r.asset_id), organizationId]);
  return gone.rows.map((r) => r.key);
}
