// What every media processor starts with: the job's Video (of the job's organization),
// its SOURCE asset as a local file, a private work folder for outputs, and a probe of the
// source checked against the limits. The work folder is removed whatever happens, so a
// failed or cancelled job leaves no file behind.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type pg from "pg";
import { JobError } from "../../errors.ts";
import type { Job, JobContext } from "../../engine/types.ts";
import type { AssetRow, AssetServices } from "../../services/assets.ts";
import type { FfmpegInput, FfmpegSpec } from "../../tools/ffmpeg/argv.ts";
import { demuxerFor } from "../../tools/ffmpeg/demuxers.ts";
import { FfmpegError } from "../../tools/ffmpeg/failures.ts";
import type { Ffmpeg } from "../../tools/ffmpeg/ffmpeg.ts";
import type { MediaInfo } from "../../tools/ffmpeg/media-info.ts";
import type { Stages } from "./stages.ts";

/** What media processors are built with (app.ts). */
export type MediaDeps = { assets: AssetServices; pool: pg.Pool; ffmpeg: Ffmpeg };

/** Inputs beyond these are refused before any decoding: 8K is the largest frame Spool takes. */
export const MAX_INPUT_PIXELS = 7680 * 4320;

export type VideoSource = { videoId: string; source: AssetRow; media: MediaInfo | null };

export async function loadVideo(pool: pg.Pool, job: Job, videoId: string): Promise<VideoSource> {
  const { rows } = await pool.query<{ id: string; media: MediaInfo | null }>(`select id, media from videos where id = $1 and organization_id = $2`, [videoId, job.organizationId]);
  if (!rows[0]) throw new JobError("NOT_FOUND", `No Video ${videoId} in your organization.`);
  const src = await pool.query<AssetRow>(`select * from assets where video_id = $1 and organization_id = $2 and role = 'SOURCE'`, [videoId, job.organizationId]);
  if (!src.rows[0]) throw new JobError("CONFLICT", "The Video has no source file yet (its download is pending or failed); run the job once it is READY.");
  return { videoId, source: src.rows[0], media: rows[0].media };
}

/** Runs fn with a fresh folder for this attempt's outputs, removed afterwards. */
export async function withWorkDir<T>(job: Job, attempt: number, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `spool-${job.id.slice(0, 8)}-${attempt}-`));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The source file as an ffmpeg input, its demuxer forced from the type detected at ingest. */
export function sourceInput(src: VideoSource, localPath: string): FfmpegInput {
  return { path: localPath, format: demuxerFor(src.source.content_type) ?? undefined };
}

/**
 * ffprobe of the source, refused beyond the limits (VIDEO_TOO_LARGE) and kept on the Video
 * (videos.media) the first time. The demuxer is forced from the type detected at ingest.
 * Given the job's context, a failed probe leaves ffprobe's last words in the job's log.
 */
export async function probeSource(deps: MediaDeps, src: VideoSource, localPath: string, ctx: JobContext | AbortSignal): Promise<MediaInfo> {
  const limits = deps.assets.limits;
  const signal = ctx instanceof AbortSignal ? ctx : ctx.signal;
  let info: MediaInfo;
  // A source never changes once stored: an earlier probe (videos.media) is as good as a new
  // one and saves ~100 ms of every job (measured with Debian's ffprobe in bench:media).
  if (src.media) info = src.media;
  else try {
    const format = demuxerFor(src.source.content_type) ?? undefined;
    info = await deps.ffmpeg.probe(localPath, { format, signal, timeoutMs: 60_000 });
    await refuseTruncated(deps, localPath, format, info, signal);
  } catch (err) {
    if (err instanceof FfmpegError && !(ctx instanceof AbortSignal)) for (const line of err.stderrTail.slice(-15)) ctx.logLine(`ffprobe: ${line}`, "error");
    throw err;
  }
  if (info.durationSec !== null && info.durationSec > limits.videoSeconds) {
    throw new JobError("VIDEO_TOO_LARGE", `The source lasts ${Math.round(info.durationSec)} s; the limit is ${limits.videoSeconds} s (SPOOL_MAX_VIDEO_SECONDS).`);
  }
  if (info.video && info.video.width * info.video.height > MAX_INPUT_PIXELS) {
    throw new JobError("VIDEO_TOO_LARGE", `The source is ${info.video.width}×${info.video.height}; the largest frame accepted is 7680×4320.`);
  }
  if (!src.media) await deps.pool.query(`update videos set media = $2 where id = $1 and media is null`, [src.videoId, JSON.stringify(info)]);
  return info;
}

/** The last seconds of a source whose packets are listed to find where its data ends. */
const TAIL_SECONDS = 10;
/**
 * How far short of the stated duration the data may end: complete mp4, WebM and mp3 files
 * end within 0.03 s of it (both builds); streams of one file may end a few frames apart.
 */
const SHORTFALL_SEC = 1;
const SHORTFALL_SHARE = 0.02;

/**
 * A file cut short still states its full duration (a WebM's header, an mp4's index, an mp3's
 * Xing frame count) and ffmpeg ends cleanly at the cut, so a job would "succeed" with a
 * fraction of it. Its packets past a seek near the stated end show where the data stops.
 * Costs one more ffprobe run on a source's first probe (~20 ms npm build, ~120 ms Debian's).
 */
async function refuseTruncated(deps: MediaDeps, localPath: string, format: string | undefined, info: MediaInfo, signal: AbortSignal): Promise<void> {
  const stated = info.durationSec;
  if (stated === null || stated <= 0) return;
  const tail = await deps.ffmpeg.dataEnd(localPath, { format, fromSec: Math.max(0, stated - TAIL_SECONDS), signal, timeoutMs: 60_000 });
  // Stopped at its packet count: the seek fell back to the start of a long file; no verdict.
  if (!tail.reachedEnd) return;
  const dataEnds = Math.max(0, (tail.endSec ?? 0) - (tail.startSec ?? 0));
  if (dataEnds < stated - Math.max(SHORTFALL_SEC, stated * SHORTFALL_SHARE)) {
    throw new JobError("VIDEO_FORMAT_UNSUPPORTED", `The file is truncated: its container says it lasts ${stated.toFixed(2)} s, its data ends at ${dataEnds.toFixed(2)} s. Upload the complete file.`);
  }
}

/**
 * Runs ffmpeg for a stage: progress (with fps, speed, ETA) goes into the stage, and when
 * ffmpeg fails the tail of its stderr goes into the job's log before the error (with its
 * stable code) fails the job.
 */
export async function runStage(
  deps: MediaDeps, ctx: JobContext, stages: Stages, spec: FfmpegSpec,
  opts: { durationSec: number | null; maxOutputBytes: number; timeoutMs?: number },
): Promise<void> {
  try {
    await deps.ffmpeg.run(spec, {
      signal: ctx.signal,
      durationSec: opts.durationSec,
      maxOutputBytes: opts.maxOutputBytes,
      timeoutMs: opts.timeoutMs,
      onProgress: (p) => stages.update(p.fraction, { fps: p.fps, speed: p.speed, etaSeconds: p.etaSec }),
    });
  } catch (err) {
    if (err instanceof FfmpegError) for (const line of err.stderrTail.slice(-15)) ctx.logLine(`ffmpeg: ${line}`, "error");
    throw err;
  }
}

/** The operations that need pictures refuse an audio-only source with a clear code. */
export function requireVideoStream(info: MediaInfo): NonNullable<MediaInfo["video"]> {
  if (!info.video) throw new JobError("VIDEO_FORMAT_UNSUPPORTED", "The source has no video stream (audio only); use audio.transcode for audio.");
  return info.video;
}

/** An image to draw (a watermark, a stamp): a PNG or JPEG asset of the job's organization. */
export async function loadImageAsset(deps: Pick<MediaDeps, "pool">, job: Job, assetId: string, field: string): Promise<AssetRow> {
  const { rows } = await deps.pool.query<AssetRow>(`select * from assets where id = $1 and organization_id = $2`, [assetId, job.organizationId]);
  const image = rows[0];
  if (!image) throw new JobError("NOT_FOUND", `No Asset ${assetId} in your organization.`);
  const type = image.content_type.split(";")[0]!.trim();
  if (image.kind !== "IMAGE" || (type !== "image/png" && type !== "image/jpeg")) {
    throw new JobError("INVALID_INPUT", `${field} must be a PNG or JPEG image; Asset ${assetId} is ${type}.`);
  }
  return image;
}
