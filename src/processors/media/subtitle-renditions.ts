// The Video's caption tracks as the SUBTITLES renditions of its HLS package (media.streaming).
//
// Which tracks: SUBTITLES and CAPTIONS, the kinds a player shows. DESCRIPTIONS (text meant to
// be read out by a screen reader), CHAPTERS and METADATA are not for display and HLS has no
// subtitle rendition for them, so they stay WebVTT assets only. A CAPTIONS track (sound
// described for the deaf and hard of hearing) carries Apple's SDH characteristics.
//
// Each track becomes hls/subs/<n>/index.m3u8 with WebVTT segments aligned with the video's
// (seg_0000.vtt…, the same boundaries as every rung), each headed by an X-TIMESTAMP-MAP whose
// MPEGTS is the measured presentation time of the first video frame of the first TS segment:
// ffmpeg's mpegts muxer starts near 1.4 s, but the exact value depends on the muxer's delay
// and the encoder's B-frame reordering, so it is read back with ffprobe, not assumed.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import type pg from "pg";
import type { Job, JobContext } from "../../engine/types.ts";
import { limitFor } from "../../services/assets.ts";
import { FfmpegError } from "../../tools/ffmpeg/failures.ts";
import { parseMediaPlaylist, writeMediaPlaylist, type HlsSubtitleRendition } from "../../tools/hls.ts";
import type { MediaDeps } from "./source.ts";
import { MPEGTS_HZ, parseWebVtt, segmentWebVtt, type SegmentSpan, type VttFile } from "./webvtt-segments.ts";

/** The caption kinds packaged as HLS subtitle renditions. */
export const PACKAGED_KINDS = ["SUBTITLES", "CAPTIONS"] as const;
/** RFC 8216's SDH characteristics, which Apple's players use to offer a track as captions. */
const SDH = ["public.accessibility.transcribes-spoken-dialog", "public.accessibility.describes-music-and-sound"];
/** ffmpeg's mpegts muxer default (2 × max_delay of 0.7 s): used only when the segment cannot be read back. */
const MPEGTS_DEFAULT_START = Math.round(1.4 * MPEGTS_HZ);

type TrackRow = { id: string; language: string; label: string; kind: string; asset_id: string; key: string };

/** What the job result says of each packaged track. */
export type SubtitleRendition = {
  trackId: string;
  assetId: string;
  label: string;
  language: string;
  kind: string;
  cues: number;
  /** The track's media playlist, relative to the HLS master (with HLS). */
  hls?: string;
  /** The track's WebVTT file, relative to the DASH manifest (with DASH). */
  dash?: string;
};

/** A track read and parsed once for both formats. */
export type SubtitleSource = { track: TrackRow; file: VttFile };

/** The Video's displayable caption tracks, oldest first (the order the master lists them). */
export async function loadSubtitleTracks(pool: pg.Pool, job: Job, videoId: string): Promise<TrackRow[]> {
  const { rows } = await pool.query<TrackRow>(
    `select t.id, t.language, t.label, t.kind, t.asset_id, a.key
       from caption_tracks t join assets a on a.id = t.asset_id and a.organization_id = t.organization_id
      where t.video_id = $1 and t.organization_id = $2 and t.kind = any($3::text[])
      order by t.created_at, t.id`,
    [videoId, job.organizationId, [...PACKAGED_KINDS]],
  );
  return rows;
}

/** The file's text, or null when it is larger than `limit` (read no further). */
async function readText(stream: Readable, limit: number): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      stream.destroy();
      return null;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** The track's cues, or why it cannot be packaged. */
function parseTrack(text: string | null, limit: number): VttFile | string {
  if (text === null) return `its file is larger than ${limit} bytes`;
  try {
    return parseWebVtt(text);
  } catch (err) {
    return (err as Error).message;
  }
}

/** The first video frame's presentation time in the first TS segment, in 90 kHz ticks. */
async function firstVideoPts(deps: MediaDeps, ctx: JobContext, segment: string): Promise<number> {
  try {
    const keyframes = await deps.ffmpeg.keyframes(segment, { format: "mpegts", signal: ctx.signal, timeoutMs: 30_000 });
    if (keyframes?.length) return Math.round(keyframes[0]! * MPEGTS_HZ);
    ctx.logLine(`ffprobe found no keyframe in ${path.basename(segment)}; subtitles are timed from ffmpeg's default 1.4 s start`, "warn");
  } catch (err) {
    if (ctx.signal.aborted || !(err instanceof FfmpegError)) throw err;
    ctx.logLine(`ffprobe could not read ${path.basename(segment)} (${err.message.split("\n")[0]}); subtitles are timed from ffmpeg's default 1.4 s start`, "warn");
  }
  return MPEGTS_DEFAULT_START;
}

/**
 * The Video's displayable caption tracks, read from storage and parsed. A track whose file is
 * not WebVTT (it should never be: tracks are stored normalized) or is too large is left out
 * with a warning rather than failing the package.
 */
export async function loadSubtitles(deps: MediaDeps, job: Job, ctx: JobContext, videoId: string): Promise<SubtitleSource[]> {
  const limit = limitFor("CAPTIONS", deps.assets.limits);
  const out: SubtitleSource[] = [];
  for (const track of await loadSubtitleTracks(deps.pool, job, videoId)) {
    const file = parseTrack(await readText(await deps.assets.storage.get(track.key), limit), limit);
    if (typeof file === "string") ctx.logLine(`caption track ${track.id} (${track.language}) left out of the package: ${file}`, "warn");
    else out.push({ track, file });
  }
  return out;
}

/** What the job result reports of the tracks, with where each format put them. */
export function subtitleRenditions(sources: readonly SubtitleSource[], formats: ReadonlyArray<"hls" | "dash">): SubtitleRendition[] {
  return sources.map(({ track, file }, n) => ({
    trackId: track.id, assetId: track.asset_id, label: track.label, language: track.language, kind: track.kind, cues: file.cues.length,
    ...(formats.includes("hls") ? { hls: `subs/${n}/index.m3u8` } : {}),
    ...(formats.includes("dash") ? { dash: `subs/${n}.vtt` } : {}),
  }));
}

/**
 * Writes each track into the HLS folder as subs/<n>/ and returns what the master lists.
 * `variant` is a rung's folder: its segments give the boundaries.
 */
export async function writeHlsSubtitles(
  deps: MediaDeps, ctx: JobContext, sources: readonly SubtitleSource[], opts: { hlsDir: string; variant: string },
): Promise<HlsSubtitleRendition[]> {
  if (sources.length === 0) return [];
  const video = parseMediaPlaylist(await readFile(path.join(opts.variant, "index.m3u8"), "utf8"));
  const spans: SegmentSpan[] = [];
  for (const s of video.segments) spans.push({ startSec: spans.length ? spans.at(-1)!.startSec + spans.at(-1)!.durationSec : 0, durationSec: s.durationSec });
  const pts = await firstVideoPts(deps, ctx, path.join(opts.variant, video.segments[0]!.uri));
  ctx.logLine(`subtitles: ${sources.length} track(s), ${spans.length} segment(s) each, X-TIMESTAMP-MAP MPEGTS ${pts} (${(pts / MPEGTS_HZ).toFixed(3)} s)`);
  const master: HlsSubtitleRendition[] = [];
  for (const [n, { track, file }] of sources.entries()) {
    const dir = path.join(opts.hlsDir, "subs", String(n));
    await mkdir(dir, { recursive: true });
    const texts = segmentWebVtt(file, spans, pts);
    const segments = texts.map((_t, i) => ({ uri: `seg_${String(i).padStart(4, "0")}.vtt`, durationSec: spans[i]!.durationSec }));
    for (const [i, text] of texts.entries()) await writeFile(path.join(dir, segments[i]!.uri), text);
    await writeFile(path.join(dir, "index.m3u8"), writeMediaPlaylist(segments));
    master.push({ uri: `subs/${n}/index.m3u8`, name: track.label, language: track.language, characteristics: track.kind === "CAPTIONS" ? SDH : [] });
    ctx.logLine(`subtitles subs/${n}: ${track.language} "${track.label.slice(0, 60)}" (${track.kind}), ${file.cues.length} cue(s)`);
  }
  return master;
}
