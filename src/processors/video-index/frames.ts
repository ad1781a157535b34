// The frames video.index reads: ONE ffmpeg pass selects a frame at the first picture, at
// every scene change and at least every `interval` seconds, scales it for OCR and writes it
// twice as PNG: the grey picture (dark text on light: slides, titles) and a mask of its
// brightest pixels turned black on white (light text: burnt-in subtitles, lower thirds).
// Tesseract reads the first kind well and the second hardly at all on a textured
// background (measured on the test videos: nothing read of white-on-dark-box text until it
// was masked), so each frame is read in both polarities.
//
// Each frame's time comes from `metadata=print:file=`, which writes one block per selected
// frame (select tags every frame with lavfi.scene_score when its expression uses `scene`),
// in the order the frames are written: the n-th block is the n-th PNG. `-vsync passthrough`
// (both builds know it; 5.1 calls -vsync deprecated but takes it) writes each selected frame
// once with its own time, whatever the source's frame rate, so VFR sources keep their times.
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { JobError } from "../../errors.ts";
import type { FfmpegSpec } from "../../tools/ffmpeg/argv.ts";

/** Frames at most per job when no smaller limit applies. */
export const MAX_FRAMES = 3600;
/** Scene cuts closer than this to the previous frame add none: a strobe or flash cannot flood the job. */
const MIN_SCENE_GAP_SEC = 0.2;
/** OCR wants text tens of pixels high: small pictures are scaled up to this short side… */
const OCR_MIN_SHORT_SIDE = 540;
/** …and big ones down to this long side (Tesseract's time grows with pixels, not with text). */
const OCR_MAX_LONG_SIDE = 1920;
const MAX_UPSCALE = 4;
/** Grey level (0..255) from which a pixel counts as light text in the mask. */
const LIGHT_TEXT_LEVEL = 200;

export type FramePlan = {
  intervalSec: number;
  sceneGapSec: number;
  sceneThreshold: number;
  maxFrames: number;
  /** OCR pixels per source pixel (both axes). */
  scale: number;
  width: number;
  height: number;
  /** True when the interval was widened to stay under maxFrames. */
  widened: boolean;
};

function even(n: number): number {
  return Math.max(2, Math.round(n / 2) * 2);
}

/**
 * The interval, scene gap and OCR size for a source. Every two selected frames are at least
 * sceneGapSec apart, so a source of D seconds gives at most D / sceneGapSec + 1 frames; the
 * gap (and the interval with it) widens until that is under maxFrames.
 */
export function planFrames(opts: {
  durationSec: number | null; width: number; height: number; intervalSec: number; sceneThreshold: number; maxFrames: number;
}): FramePlan {
  const maxFrames = Math.max(2, Math.floor(opts.maxFrames));
  const needed = opts.durationSec && opts.durationSec > 0 ? opts.durationSec / (maxFrames - 1) : 0;
  const sceneGapSec = Math.max(MIN_SCENE_GAP_SEC, needed);
  const intervalSec = Math.max(opts.intervalSec, sceneGapSec);
  const short = Math.min(opts.width, opts.height);
  const long = Math.max(opts.width, opts.height);
  const scale = Math.min(MAX_UPSCALE, Math.max(1, OCR_MIN_SHORT_SIDE / short), OCR_MAX_LONG_SIDE / long);
  return {
    intervalSec: round(intervalSec, 3), sceneGapSec: round(sceneGapSec, 3), sceneThreshold: opts.sceneThreshold, maxFrames,
    scale, width: even(opts.width * scale), height: even(opts.height * scale), widened: intervalSec > opts.intervalSec,
  };
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.ceil(n * f) / f;
}

export type FrameFiles = { dir: string; metadata: string; grey: string; light: string };

export function frameFiles(dir: string): FrameFiles {
  return {
    dir,
    metadata: path.join(dir, "frames.txt"),
    grey: path.join(dir, "grey-%06d.png"),
    light: path.join(dir, "light-%06d.png"),
  };
}

/** The one pass: select, note the time, scale, grey, then split into the picture and its light-text mask. */
export function framesSpec(source: { path: string; format?: string }, plan: FramePlan, files: FrameFiles): FfmpegSpec {
  const n = (x: number) => String(Number(x.toFixed(4)));
  // A millisecond of slack: 7.6 + 1 s at 25 fps is 8.5999…, which would wait for the next frame.
  const gap = (sec: number) => n(sec - 0.001);
  const select = `select='isnan(prev_selected_t)+gte(t-prev_selected_t\\,${gap(plan.intervalSec)})+gt(scene\\,${n(plan.sceneThreshold)})*gte(t-prev_selected_t\\,${gap(plan.sceneGapSec)})'`;
  const graph = [
    `[0:v:0]${select},metadata=print:file=${files.metadata},scale=${plan.width}:${plan.height}:flags=bicubic,format=gray,split[grey][l]`,
    `[l]lut=c0='if(gte(val\\,${LIGHT_TEXT_LEVEL})\\,0\\,255)'[light]`,
  ].join(";");
  const image = (label: string) => ["-map", label, "-vsync", "passthrough", "-frames:v", String(plan.maxFrames), "-c:v", "png", "-f", "image2"];
  return {
    inputs: [{ path: source.path, format: source.format }],
    filterComplex: graph,
    outputs: [{ path: files.grey, args: image("[grey]") }, { path: files.light, args: image("[light]") }],
  };
}

export type Frame = { index: number; timeSec: number; grey: string; light: string };

/** The frames the pass listed, with their times (seconds from the first frame). */
export async function readFrames(files: FrameFiles): Promise<Frame[]> {
  const text = await readFile(files.metadata, "utf8").catch(() => "");
  const times: number[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (!line.startsWith("frame:")) continue;
    const m = /pts_time:\s*(-?[\d.]+(?:e[-+]?\d+)?)/i.exec(line);
    times.push(m ? Number(m[1]) : NaN);
  }
  const frames: Frame[] = [];
  const pad = (i: number) => String(i + 1).padStart(6, "0");
  // The first frame is always selected, so its time is where the picture starts: an MPEG-TS
  // starts at 1.4 s or so, and players (and the subtitle tracks ffmpeg writes) count from it.
  const start = times.find((t) => Number.isFinite(t)) ?? 0;
  let last = 0;
  for (const [i, t] of times.entries()) {
    // A frame without a time (no pts) is placed with the one before it.
    const timeSec = Number.isFinite(t) ? Math.max(0, Math.round((t - start) * 1000) / 1000) : last;
    last = timeSec;
    frames.push({ index: i, timeSec, grey: path.join(files.dir, `grey-${pad(i)}.png`), light: path.join(files.dir, `light-${pad(i)}.png`) });
  }
  return frames;
}

/** Checks every listed frame was written (the listing and the files must agree, or times would be wrong). */
export async function checkFrames(frames: Frame[], files: FrameFiles, maxFrames: number): Promise<Frame[]> {
  const names = new Set(await readdir(files.dir));
  const written = frames.filter((f) => names.has(path.basename(f.grey)) && names.has(path.basename(f.light)));
  const pngs = [...names].filter((n) => n.startsWith("grey-")).length;
  if (written.length !== Math.min(frames.length, maxFrames) || pngs !== written.length) {
    throw new JobError("TRANSCODING_FAILED", `ffmpeg listed ${frames.length} frames but wrote ${pngs}; cannot tell their times apart.`);
  }
  return written;
}
