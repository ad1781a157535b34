// video.index, mode AUDIO: the subtitle streams already inside the source become caption
// tracks. Each text stream (subrip, ass/ssa, mov_text, webvtt, text) is written out as WebVTT
// by ffmpeg and read by the same parser as attached files (tools/captions), so an embedded
// track and an uploaded one are stored alike (services/captions.ts): a WebVTT asset of the
// Video, a caption_tracks row with its stream_index, and CAPTION segments. All of a run's
// tracks land in one transaction fenced by the attempt; the tracks an earlier run made from
// the same streams go in it too (with their assets and segments), so a re-run replaces.
// Bitmap subtitles (PGS, DVD, DVB) are pictures and would need OCR: skipped, with a log line.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { JobError, SpoolError } from "../../errors.ts";
import { inTransaction } from "../../engine/queryable.ts";
import type { Job, JobContext } from "../../engine/types.ts";
import { deleteFiles, limitFor, storeBlob, type StoredBlob } from "../../services/assets.ts";
import { insertTrack, labelFor, removeStreamTracks, streamLanguage, type CaptionKind } from "../../services/captions.ts";
import { publishIndexed } from "../../services/search-index.ts";
import { parseCaptions, type ParsedCaptions } from "../../tools/captions/parse.ts";
import { writeWebVtt } from "../../tools/captions/webvtt.ts";
import { FfmpegError } from "../../tools/ffmpeg/failures.ts";
import { extractSubtitle, listSubtitleStreams, type SubtitleStream } from "../../tools/ffmpeg/subtitles.ts";
import { fenceAttempt } from "../media/outputs.ts";
import { loadVideo, sourceInput, type MediaDeps, type VideoSource } from "../media/source.ts";

export type SubtitleIndexResult = {
  /** Caption tracks stored (one per text subtitle stream that had cues). */
  tracks: number;
  /** CAPTION segments written for them. */
  segments: number;
  /** Streams not stored, and why (bitmap, unknown codec, no cues, ffmpeg could not write it). */
  skipped: { streamIndex: number; codec: string; reason: string }[];
};

/** One stream's extraction may take this long (it reads the whole file: subtitle packets are interleaved). */
const EXTRACT_TIMEOUT_MS = 30 * 60_000;

type Extracted = { stream: SubtitleStream; parsed: ParsedCaptions; language: string; label: string; kind: CaptionKind };

/**
 * Stores the text subtitle streams of the source at `local` (already fetched by the caller)
 * as caption tracks, using `dir` (the attempt's work folder) for the WebVTT files ffmpeg writes.
 */
export async function indexSubtitleStreams(
  deps: MediaDeps, job: Job<{ videoId: string }>, ctx: JobContext, opts: { local: string; dir: string; source?: VideoSource },
): Promise<SubtitleIndexResult> {
  const src = opts.source ?? await loadVideo(deps.pool, job, job.input.videoId);
  const input = sourceInput(src, opts.local);
  const streams = await listSubtitleStreams(deps.ffmpeg, opts.local, { format: input.format, signal: ctx.signal, timeoutMs: 60_000 });
  const skipped: SubtitleIndexResult["skipped"] = [];
  const skip = (s: SubtitleStream, reason: string) => {
    skipped.push({ streamIndex: s.index, codec: s.codec, reason });
    ctx.logLine(`subtitle stream ${s.index} (${s.codec}): ${reason}`, "warn");
  };
  const limit = limitFor("CAPTIONS", deps.assets.limits);
  const extracted: Extracted[] = [];
  for (const stream of streams) {
    if (stream.bitmap) {
      skip(stream, "a bitmap subtitle (pictures of text; reading it would need OCR): skipped");
      continue;
    }
    if (!stream.text) {
      skip(stream, "not a text subtitle codec Spool extracts: skipped");
      continue;
    }
    const out = path.join(opts.dir, `subtitles-${stream.index}.vtt`);
    try {
      await extractSubtitle(deps.ffmpeg, input, stream.index, out, { signal: ctx.signal, maxOutputBytes: limit, timeoutMs: EXTRACT_TIMEOUT_MS });
    } catch (err) {
      if (!(err instanceof FfmpegError) || ctx.signal.aborted) throw err;
      for (const line of err.stderrTail.slice(-5)) ctx.logLine(`ffmpeg: ${line}`, "warn");
      skip(stream, `ffmpeg could not write it as WebVTT (${err.code}): skipped`);
      continue;
    }
    let parsed: ParsedCaptions;
    try {
      parsed = parseCaptions(await readFile(out));
    } catch (err) {
      if (!(err instanceof SpoolError) || err.code !== "INVALID_INPUT") throw err;
      skip(stream, `${err.message} Skipped.`);
      continue;
    }
    if (parsed.dropped) ctx.logLine(`subtitle stream ${stream.index}: ${parsed.dropped} cue(s) ending before they start were dropped`, "warn");
    const language = streamLanguage(stream.language);
    extracted.push({ stream, parsed, language, label: stream.title ?? labelFor(language), kind: stream.hearingImpaired ? "CAPTIONS" : "SUBTITLES" });
  }
  if (!extracted.length) return { tracks: 0, segments: 0, skipped };

  // Files first, rows after, files deleted if the rows do not commit (services/assets.ts).
  const blobs: StoredBlob[] = [];
  try {
    for (const e of extracted) {
      const body = Readable.from([Buffer.from(writeWebVtt(e.parsed.cues, e.parsed.blocks), "utf8")]);
      blobs.push(await storeBlob(deps.assets, { organizationId: job.organizationId, body, use: "any", signal: ctx.signal }));
    }
    const owner = { organizationId: job.organizationId, videoId: src.videoId };
    const { segments, oldKeys } = await inTransaction(deps.pool, async (tx) => {
      await fenceAttempt(tx, job, ctx.attempt);
      const video = await tx.query(`select 1 from videos where id = $1 and organization_id = $2 for share`, [src.videoId, job.organizationId]);
      if (!video.rowCount) throw new JobError("NOT_FOUND", "The Video was deleted during the indexing.");
      const oldKeys = await removeStreamTracks(tx, job.organizationId, src.videoId, extracted.map((e) => e.stream.index));
      let segments = 0;
      for (const [i, e] of extracted.entries()) {
        const { segmentCount } = await insertTrack(tx, blobs[i]!, {
          organizationId: job.organizationId, videoId: src.videoId, language: e.language, label: e.label, kind: e.kind,
          filename: `stream-${e.stream.index}.${e.language}.vtt`, streamIndex: e.stream.index, jobId: job.id,
        }, e.parsed.cues);
        segments += segmentCount;
      }
      await publishIndexed(tx, owner, { modes: ["AUDIO"], source: "captions", segmentCount: segments, jobId: job.id });
      return { segments, oldKeys };
    });
    await deleteFiles(deps.assets, oldKeys);
    for (const e of extracted) ctx.logLine(`subtitle stream ${e.stream.index} (${e.stream.codec}, ${e.language}): ${e.parsed.cues.length} cues stored as a caption track`);
    return { tracks: extracted.length, segments, skipped };
  } catch (err) {
    await Promise.all(blobs.map((b) => deps.assets.storage.delete(b.key).catch(() => undefined)));
    throw err;
  }
}
