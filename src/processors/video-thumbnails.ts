// video.thumbnails: still images at chosen times, and optionally a storyboard (sprite
// sheets + a WebVTT track) for player scrubbing.
//
// Thumbnails seek before they decode: every shot is its own input of the same file with
// `-ss` before `-i`, so ffmpeg jumps to the keyframe before the shot and decodes only from
// there (`-frames:v 1` ends that output at once). Ten thumbnails of a long video therefore
// decode ten short stretches, not the whole file. The storyboard is the opposite case —
// a tile every few seconds needs every stretch — so it is one decode through
// fps → scale → tile.
import { mkdir, readdir, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { z } from "zod";
import { JobError, SpoolError } from "../errors.ts";
import { defineJobType, type Job, type JobContext } from "../engine/types.ts";
import type { FfmpegSpec } from "../tools/ffmpeg/argv.ts";
import { demuxerFor } from "../tools/ffmpeg/demuxers.ts";
import type { MediaInfo } from "../tools/ffmpeg/media-info.ts";
import { thumbnailsInput, type ImageFormat } from "./media/inputs.ts";
import { storeOutputs, type Output } from "./media/outputs.ts";
import { loadVideo, probeSource, requireVideoStream, runStage, withWorkDir, type MediaDeps } from "./media/source.ts";
import { planOf, Stages } from "./media/stages.ts";

export type ThumbnailsInput = z.infer<ReturnType<typeof thumbnailsInput>>;
export type ThumbnailsResult = {
  thumbnails: { index: number; timeSeconds: number; assetId: string; width: number | null; height: number | null }[];
  /** assetId: the WebVTT track; spriteAssetIds: its sheets, in order, each an Asset of its own beside it. */
  storyboard: { assetId: string; spriteAssetIds: string[]; sheets: number; tiles: number; intervalSeconds: number; tileWidth: number; tileHeight: number } | null;
};

const MAX_SHOTS = 100;
const DEFAULT_COUNT = 3;
/** Tiles per sprite sheet at most; more tiles make more sheets. */
const TILES_PER_SHEET = 100;
/** Beyond this a storyboard is more sheets than any player fetches; a longer interval is the answer. */
const MAX_STORYBOARD_TILES = 10_000;

// Every shot's decoder is open for the whole run (ffmpeg opens all inputs first), and a
// frame-threaded decoder holds frames per thread: 100 shots of a 1080p source peaked at
// 2.5 GB (npm build) and 3.0 GB (Debian 5.1) on a 2-core machine, ~30 MB a shot, i.e.
// about (cores + 8) frames of 1.5 bytes a pixel. Shots therefore run in groups that fit
// this budget: all 100 in one run up to about 640×360 on a few cores, a few per run at 4K.
const SHOT_MEMORY_BUDGET = 768 * 1024 * 1024;

const IMAGE_TYPES: Record<ImageFormat, { ext: string; contentType: string }> = {
  jpg: { ext: "jpg", contentType: "image/jpeg" },
  png: { ext: "png", contentType: "image/png" },
  webp: { ext: "webp", contentType: "image/webp" },
};

/**
 * The times (s) to take, as the input asks; INVALID_INPUT for a timestamp beyond the
 * duration or too many shots. Spacing covers the picture (`pictureEndSec`), which can end
 * before the container's duration when the audio runs longer.
 */
export function shotTimes(
  input: Pick<ThumbnailsInput, "timestamps" | "everySeconds" | "count">,
  length: { durationSec: number | null; pictureEndSec?: number | null },
): number[] {
  const { durationSec } = length;
  if (input.timestamps) {
    if (durationSec !== null) {
      input.timestamps.forEach((t, i) => {
        if (t > durationSec) throw new JobError("INVALID_INPUT", `timestamps[${i}] = ${t} s is beyond the video's duration (${durationSec.toFixed(3)} s).`);
      });
    }
    return [...input.timestamps];
  }
  const span = length.pictureEndSec ?? durationSec;
  if (span === null || span <= 0) {
    throw new JobError("INVALID_INPUT", "The source's duration is unknown, so count and everySeconds cannot be spaced; give timestamps.");
  }
  if (input.everySeconds !== undefined) {
    const n = Math.ceil(span / input.everySeconds - 1e-9);
    if (n > MAX_SHOTS) {
      throw new JobError("INVALID_INPUT", `everySeconds ${input.everySeconds} makes ${n} thumbnails of a ${span.toFixed(1)} s video; at most ${MAX_SHOTS}: use everySeconds ≥ ${Math.ceil((span / MAX_SHOTS) * 10) / 10}.`);
    }
    return Array.from({ length: n }, (_, k) => k * input.everySeconds!);
  }
  // Evenly spaced inside the video: the very first and last frames are often black.
  const count = input.count ?? DEFAULT_COUNT;
  return Array.from({ length: count }, (_, i) => (span * (i + 1)) / (count + 1));
}

/**
 * Each time moved to the nearest keyframe not taken by an earlier one, if one lies within
 * `maxShift` seconds; otherwise (sparse keyframes, a short video) it stays exact.
 */
export function snapToKeyframes(times: number[], keyframes: number[], maxShift: number): number[] {
  const taken = new Set<number>();
  return times.map((t) => {
    let best: number | null = null;
    for (const k of keyframes) {
      if (taken.has(k) || Math.abs(k - t) > maxShift) continue;
      if (best === null || Math.abs(k - t) < Math.abs(best - t)) best = k;
    }
    if (best === null) return t;
    taken.add(best);
    return best;
  });
}

/** Where the picture ends: the video stream's own length when known (audio may run longer). */
export function videoEnd(info: MediaInfo): number | null {
  const v = info.video;
  const fromFrames = v?.frames && v.fps ? v.frames / v.fps : null;
  if (fromFrames !== null && info.durationSec !== null) return Math.min(fromFrames, info.durationSec);
  return fromFrames ?? info.durationSec;
}

/**
 * The latest time worth seeking to: a little before the last frame starts. An input seek
 * lands on the first frame at or after its time, and past the last one there is none
 * (ffmpeg then writes nothing and still exits 0).
 */
export function lastSeekable(info: MediaInfo): number | null {
  const end = videoEnd(info);
  const fps = info.video?.fps && info.video.fps > 0 ? info.video.fps : 25;
  return end === null ? null : Math.max(0, end - 1.5 / fps);
}

/** Filters that size a picture: square pixels first (anamorphic sources), then the size asked. */
function sizeFilter(width: number | undefined, height: number | undefined): string {
  const square = "scale=iw*sar:ih,setsar=1";
  if (width && height) return `${square},scale=${width}:${height}`;
  if (width) return `${square},scale=${width}:-1`;
  if (height) return `${square},scale=-1:${height}`;
  return square;
}

function imageArgs(format: ImageFormat, quality: number): string[] {
  if (format === "jpg") return ["-c:v", "mjpeg", "-q:v", String(jpegQscale(quality))];
  if (format === "webp") return ["-c:v", "libwebp", "-quality", String(quality)];
  return ["-c:v", "png"];
}

/** 1..100 (higher is better) onto mjpeg's qscale 31..2 (lower is better). */
export function jpegQscale(quality: number): number {
  return Math.round(31 - ((quality - 1) * 29) / 99);
}

/**
 * One ffmpeg run for a group of shots: input i is the source seeked to shot i, output i
 * its one frame. Exported so that the seek can be checked against ffmpeg's own counts.
 */
export function thumbnailSpec(
  source: { path: string; format?: string },
  shots: { seekSec: number; out: string }[],
  opts: { width?: number; height?: number; format: ImageFormat; quality: number },
): FfmpegSpec {
  return {
    inputs: shots.map((s) => ({ path: source.path, format: source.format, seekSec: s.seekSec })),
    outputs: shots.map((s, i) => ({
      path: s.out,
      args: ["-map", `${i}:v:0`, "-vf", sizeFilter(opts.width, opts.height), "-frames:v", "1", ...imageArgs(opts.format, opts.quality), "-f", "image2", "-update", "1"],
    })),
  };
}

export type StoryboardPlan = { intervalSeconds: number; width: number; columns: number; rows: number; tiles: number; perSheet: number };

export function storyboardPlan(opts: { intervalSeconds: number; width: number; columns: number }, durationSec: number): StoryboardPlan {
  const tiles = Math.max(1, Math.ceil(durationSec / opts.intervalSeconds - 1e-9));
  if (tiles > MAX_STORYBOARD_TILES) {
    throw new JobError("INVALID_INPUT", `A storyboard every ${opts.intervalSeconds} s of a ${durationSec.toFixed(0)} s video has ${tiles} tiles; at most ${MAX_STORYBOARD_TILES}: use intervalSeconds ≥ ${Math.ceil(durationSec / MAX_STORYBOARD_TILES)}.`);
  }
  const maxRows = Math.max(1, Math.floor(TILES_PER_SHEET / opts.columns));
  const rows = Math.min(maxRows, Math.ceil(tiles / opts.columns));
  return { ...opts, rows, tiles, perSheet: rows * opts.columns };
}

export function storyboardSpec(source: { path: string; format?: string }, plan: StoryboardPlan, outPattern: string, quality: number): FfmpegSpec {
  return {
    inputs: [{ path: source.path, format: source.format }],
    outputs: [{
      path: outPattern,
      args: [
        "-map", "0:v:0",
        "-vf", `fps=1/${plan.intervalSeconds},scale=iw*sar:ih,setsar=1,scale=${plan.width}:-2,tile=${plan.columns}x${plan.rows}`,
        "-c:v", "mjpeg", "-q:v", String(jpegQscale(quality)), "-start_number", "0", "-f", "image2",
      ],
    }],
  };
}

function vttTime(sec: number): string {
  const ms = Math.round(sec * 1000);
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  return `${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}.${String(ms % 1000).padStart(3, "0")}`;
}

/** The WebVTT track: one cue per tile, pointing into its sheet by a relative URL. */
export function storyboardVtt(plan: StoryboardPlan, tiles: number, tile: { width: number; height: number }, durationSec: number): string {
  const cues = ["WEBVTT", ""];
  for (let k = 0; k < tiles; k++) {
    const start = k * plan.intervalSeconds;
    const end = Math.min((k + 1) * plan.intervalSeconds, Math.max(durationSec, start + 0.001));
    const cell = k % plan.perSheet;
    const x = (cell % plan.columns) * tile.width;
    const y = Math.floor(cell / plan.columns) * tile.height;
    cues.push(`${vttTime(start)} --> ${vttTime(end)}`, `sprite-${Math.floor(k / plan.perSheet)}.jpg#xywh=${x},${y},${tile.width},${tile.height}`, "");
  }
  return cues.join("\n");
}

/** The adapter refuses a spec with a plain SpoolError; a job needs a JobError to fail for good. */
function asJobError(err: unknown, signal: AbortSignal): unknown {
  if (!signal.aborted && err instanceof SpoolError && !(err instanceof JobError)) return new JobError(err.code, err.message);
  return err;
}

function shotsPerRun(width: number, height: number): number {
  const perShot = width * height * 1.5 * ((os.availableParallelism?.() ?? os.cpus().length) + 8);
  return Math.max(1, Math.min(MAX_SHOTS, Math.floor(SHOT_MEMORY_BUDGET / perShot)));
}

/** Shares of progress by stage (the definition's `stages`). */
const STAGES = { probe: 1, thumbnails: 4, storyboard: 10, store: 1 };

export const videoThumbnails = defineJobType<MediaDeps, ThumbnailsInput, ThumbnailsResult>({
  type: "video.thumbnails",
  description: "Still images at timestamps, intervals or evenly spaced, and optionally a storyboard (sprite sheets + WebVTT).",
  mutation: { name: "createThumbnails", description: "Still images at timestamps or intervals, and optionally a storyboard (sprite sheet + WebVTT). Runs a video.thumbnails job." },
  stages: STAGES,
  input: (deps) => thumbnailsInput(deps.ffmpeg.capabilities),
  timeoutMs: 2 * 3600_000,
  async run(job: Job<ThumbnailsInput>, ctx: JobContext, deps): Promise<ThumbnailsResult> {
    const input = job.input;
    const src = await loadVideo(deps.pool, job, input.videoId);
    const stages = new Stages(ctx, planOf(STAGES, ["probe", "thumbnails", !!input.storyboard && "storyboard", "store"]));
    try {
      return await withWorkDir(job, ctx.attempt, (dir) => deps.assets.storage.withLocalFile(src.source.key, async (local) => {
        await stages.enter("probe");
        const info = await probeSource(deps, src, local, ctx);
        const video = requireVideoStream(info);
        let times = shotTimes(input, { durationSec: info.durationSec, pictureEndSec: videoEnd(info) });
        if (!input.timestamps && input.everySeconds === undefined) {
          // Evenly spaced shots need no exact frame: the keyframes nearest to those points
          // cost one decoded frame each instead of up to a whole GOP (bench:media).
          const keys = await deps.ffmpeg.keyframes(local, { format: demuxerFor(src.source.content_type) ?? undefined, signal: ctx.signal });
          // At most a quarter of the spacing away, so the shots stay evenly spread.
          if (keys && times.length > 0) times = snapToKeyframes(times, keys, (times[0]! / 4));
        }
        const limit = lastSeekable(info);
        const seeks = times.map((t) => Math.max(0, limit === null ? t : Math.min(t, limit)));
        const source = { path: local, format: demuxerFor(src.source.content_type) ?? undefined };
        const type = IMAGE_TYPES[input.format];
        const maxOutputBytes = deps.assets.limits.videoBytes;

        await stages.enter("thumbnails");
        const shots = seeks.map((seekSec, i) => ({ seekSec, out: path.join(dir, `thumb-${i}.${type.ext}`) }));
        const group = shotsPerRun(video.width, video.height);
        for (let start = 0; start < shots.length; start += group) {
          const spec = thumbnailSpec(source, shots.slice(start, start + group), { width: input.width, height: input.height, format: input.format, quality: input.quality });
          await runStage(deps, ctx, stages, spec, { durationSec: null, maxOutputBytes });
          stages.update(Math.min(shots.length, start + group) / shots.length);
        }
        const outputs: Output[] = [];
        const dims: { width: number | null; height: number | null }[] = [];
        // Every shot has the same scale, so one probe describes them all (probing each cost
        // ~70 ms a thumbnail with Debian's ffprobe, more than the seeks); the others are
        // checked to exist and be non-empty.
        let media: MediaInfo | null = null;
        for (const [i, shot] of shots.entries()) {
          const size = await stat(shot.out).then((s) => s.size, () => 0);
          if (size > 0 && !media) media = await deps.ffmpeg.probe(shot.out, { format: demuxerFor(type.contentType) ?? undefined, signal: ctx.signal }).catch(() => null);
          if (size === 0 || !media?.video) throw new JobError("TRANSCODING_FAILED", `ffmpeg made no picture at ${times[i]} s (seeked to ${shot.seekSec.toFixed(3)} s); the video may end earlier than its container says.`);
          dims.push({ width: media.video.width, height: media.video.height });
          outputs.push({ role: "THUMBNAIL", label: `t=${shot.seekSec.toFixed(3)}`, filename: `thumb-${String(i).padStart(4, "0")}.${type.ext}`, contentType: type.contentType, kind: "IMAGE", media: { ...media, sizeBytes: size }, file: shot.out });
        }

        let storyboard: (Omit<NonNullable<ThumbnailsResult["storyboard"]>, "assetId" | "spriteAssetIds">) | null = null;
        if (input.storyboard) {
          await stages.enter("storyboard");
          const end = videoEnd(info);
          if (end === null) throw new JobError("INVALID_INPUT", "The source's duration is unknown, so a storyboard cannot be laid out.");
          const plan = storyboardPlan(input.storyboard, end);
          const sbDir = path.join(dir, "storyboard");
          await mkdir(sbDir);
          await runStage(deps, ctx, stages, storyboardSpec(source, plan, path.join(sbDir, "sprite-%d.jpg"), input.quality), { durationSec: info.durationSec, maxOutputBytes });
          const sheets = (await readdir(sbDir)).filter((f) => /^sprite-\d+\.jpg$/.test(f)).length;
          const first = sheets ? await deps.ffmpeg.probe(path.join(sbDir, "sprite-0.jpg"), { format: "jpeg_pipe", signal: ctx.signal }).catch(() => null) : null;
          if (!first?.video) throw new JobError("TRANSCODING_FAILED", "ffmpeg made no storyboard sprite.");
          // The tile size is read back from the sheet: scale's rounding (-2) and the sample
          // aspect ratio are ffmpeg's business, the cue coordinates must match its result.
          const tile = { width: Math.floor(first.video.width / plan.columns), height: Math.floor(first.video.height / plan.rows) };
          const tiles = Math.min(plan.tiles, sheets * plan.perSheet);
          await writeFile(path.join(sbDir, "storyboard.vtt"), storyboardVtt(plan, tiles, tile, end));
          outputs.push({ role: "STORYBOARD", label: `interval=${plan.intervalSeconds}`, filename: "storyboard.vtt", contentType: "text/vtt", kind: "CAPTIONS", dir: sbDir, entry: "storyboard.vtt" });
          // Each sheet is an Asset of its own (its size, sha256, picture size) inside the
          // track's folder, where the cues' relative URLs find it. The sheets share one scale.
          for (let k = 0; k < sheets; k++) {
            const sheet = `sprite-${k}.jpg`;
            const media = { ...first, sizeBytes: (await stat(path.join(sbDir, sheet))).size };
            outputs.push({ role: "STORYBOARD_SPRITE", label: `sprite-${k}`, filename: sheet, contentType: "image/jpeg", kind: "IMAGE", media, dir: sbDir, member: sheet });
          }
          storyboard = { sheets, tiles, intervalSeconds: plan.intervalSeconds, tileWidth: tile.width, tileHeight: tile.height };
        }

        await stages.enter("store");
        const rows = await storeOutputs(deps, job, ctx.attempt, { videoId: src.videoId }, outputs, ctx.signal);
        ctx.progress(1);
        return {
          thumbnails: shots.map((s, i) => ({ index: i, timeSeconds: Number(s.seekSec.toFixed(3)), assetId: rows[i]!.id, ...dims[i]! })),
          storyboard: storyboard ? { assetId: rows[shots.length]!.id, spriteAssetIds: rows.slice(shots.length + 1).map((r) => r.id), ...storyboard } : null,
        };
      }, ctx.signal));
    } catch (err) {
      throw asJobError(err, ctx.signal);
    }
  },
});
