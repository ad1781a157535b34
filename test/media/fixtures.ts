// Tiny generated media for the media tests. ffmpeg is spawned directly (not through the
// adapter under test) from lavfi sources, so every fixture is reproducible, a few KB, and
// made in ~0.1 s. Each generator takes the ffmpeg binary to use (`ffmpeg`, default: the npm
// build, which every machine has) because tests run against both builds.
//
// Generated files are cached per (binary, parameters) for the life of the test process and
// copied into the folder asked for, so a test may modify or delete its copy freely.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { copyFile, open, readFile, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";

const require = createRequire(import.meta.url);

export type FfmpegBinarySet = { name: "npm" | "system"; ffmpeg: string; ffprobe: string };

/** The npm binaries always; Debian's only where installed, so a user's machine without them still passes. */
export function binaries(): FfmpegBinarySet[] {
  const list: FfmpegBinarySet[] = [{ name: "npm", ffmpeg: npmFfmpeg(), ffprobe: npmFfprobe() }];
  if (existsSync("/usr/bin/ffmpeg") && existsSync("/usr/bin/ffprobe")) {
    list.push({ name: "system", ffmpeg: "/usr/bin/ffmpeg", ffprobe: "/usr/bin/ffprobe" });
  }
  return list;
}

export function npmFfmpeg(): string {
  return (require("@ffmpeg-installer/ffmpeg") as { path: string }).path;
}

export function npmFfprobe(): string {
  return (require("@ffprobe-installer/ffprobe") as { path: string }).path;
}

export type VideoContainer = "mp4" | "webm" | "mkv" | "mov";
export type VideoOptions = {
  ffmpeg?: string;
  seconds?: number;
  width?: number;
  height?: number;
  fps?: number;
  audio?: boolean;
  container?: VideoContainer;
  name?: string;
};
export type AudioOptions = { ffmpeg?: string; seconds?: number; format?: "mp3" | "wav" | "ogg" | "m4a"; name?: string };
export type ImageOptions = { ffmpeg?: string; width?: number; height?: number; format?: "png" | "jpg"; name?: string };
export type SceneOptions = {
  ffmpeg?: string;
  /** Timestamps (s) where the picture changes to a different solid colour; multiples of 1/fps to be exact. */
  cuts?: number[];
  /** Total length; default last cut + 1 s. */
  seconds?: number;
  width?: number;
  height?: number;
  fps?: number;
  name?: string;
};

/** Audio at 48 kHz stereo (AAC/Opus friendly); the sine is mono, -ac 2 makes it stereo. */
const SAMPLE_RATE = 48_000;

/** 2 s of testsrc2 (+ a 440 Hz sine): h264/aac in mp4/mov/mkv, vp9/opus in webm. */
export function makeVideo(dir: string, opts: VideoOptions = {}): Promise<string> {
  const o = {
    ffmpeg: opts.ffmpeg ?? npmFfmpeg(),
    seconds: opts.seconds ?? 2,
    width: opts.width ?? 320,
    height: opts.height ?? 240,
    fps: opts.fps ?? 25,
    audio: opts.audio ?? true,
    container: opts.container ?? "mp4",
  };
  const name = opts.name ?? `video-${o.width}x${o.height}-${o.seconds}s-${o.fps}fps${o.audio ? "" : "-silent"}.${o.container}`;
  const args = ["-f", "lavfi", "-i", `testsrc2=size=${o.width}x${o.height}:rate=${o.fps}:duration=${o.seconds}`];
  if (o.audio) args.push("-f", "lavfi", "-i", `sine=frequency=440:sample_rate=${SAMPLE_RATE}:duration=${o.seconds}`);
  if (o.container === "webm") {
    args.push("-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "200k", "-pix_fmt", "yuv420p");
    if (o.audio) args.push("-c:a", "libopus", "-b:a", "48k", "-ac", "2");
  } else {
    args.push("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-b:v", "200k");
    if (o.audio) args.push("-c:a", "aac", "-b:a", "64k", "-ac", "2");
  }
  args.push("-f", { mp4: "mp4", mov: "mov", mkv: "matroska", webm: "webm" }[o.container]);
  return cached(o.ffmpeg, "video", o, dir, name, o.container, args);
}

/**
 * A WebM as browsers and screen recorders write it: the camera ran at 30 fps but frames were
 * dropped (five of every eight kept) and their times jitter by a few ms; millisecond
 * timestamps and no frame duration in the header (ffprobe: r_frame_rate 30/1, no
 * avg_frame_rate). VP8 + Opus, 320×240, under noise so that a size target needs its bits.
 */
export function makeVfrWebm(dir: string, opts: { ffmpeg?: string; seconds?: number; name?: string } = {}): Promise<string> {
  const o = { ffmpeg: opts.ffmpeg ?? npmFfmpeg(), seconds: opts.seconds ?? 6 };
  const name = opts.name ?? `vfr-${o.seconds}s.webm`;
  const args = [
    "-f", "lavfi", "-i", `testsrc2=size=320x240:rate=30:duration=${o.seconds},noise=alls=30:allf=t+u`,
    "-f", "lavfi", "-i", `sine=frequency=440:sample_rate=${SAMPLE_RATE}:duration=${o.seconds}`,
    "-vf", "select='lt(mod(n\\,8)\\,5)',setpts='PTS+0.004*sin(N)/TB'", "-vsync", "vfr", "-r", "1000",
    "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "600k",
    "-c:a", "libopus", "-b:a", "48k", "-ac", "2", "-f", "webm",
  ];
  return cached(o.ffmpeg, "vfr-webm", o, dir, name, "webm", args);
}

/** 2 s of a 440 Hz sine, stereo 48 kHz (44.1 kHz for mp3). */
export function makeAudio(dir: string, opts: AudioOptions = {}): Promise<string> {
  const o = { ffmpeg: opts.ffmpeg ?? npmFfmpeg(), seconds: opts.seconds ?? 2, format: opts.format ?? "mp3" };
  const name = opts.name ?? `audio-${o.seconds}s.${o.format}`;
  const rate = o.format === "mp3" ? 44_100 : SAMPLE_RATE;
  const args = ["-f", "lavfi", "-i", `sine=frequency=440:sample_rate=${rate}:duration=${o.seconds}`, "-ac", "2"];
  const codec = { mp3: ["-c:a", "libmp3lame", "-b:a", "64k"], wav: ["-c:a", "pcm_s16le"], ogg: ["-c:a", "libvorbis", "-b:a", "64k"], m4a: ["-c:a", "aac", "-b:a", "64k"] }[o.format];
  args.push(...codec, "-f", { mp3: "mp3", wav: "wav", ogg: "ogg", m4a: "ipod" }[o.format]);
  return cached(o.ffmpeg, "audio", o, dir, name, o.format, args);
}

/** One testsrc2 frame. */
export function makeImage(dir: string, opts: ImageOptions = {}): Promise<string> {
  const o = { ffmpeg: opts.ffmpeg ?? npmFfmpeg(), width: opts.width ?? 64, height: opts.height ?? 64, format: opts.format ?? "png" };
  const name = opts.name ?? `image-${o.width}x${o.height}.${o.format}`;
  const args = ["-f", "lavfi", "-i", `testsrc2=size=${o.width}x${o.height}:rate=1`, "-frames:v", "1"];
  if (o.format === "jpg") args.push("-c:v", "mjpeg", "-pix_fmt", "yuvj420p", "-q:v", "4");
  else args.push("-c:v", "png");
  args.push("-f", "image2", "-update", "1");
  return cached(o.ffmpeg, "image", o, dir, name, o.format, args);
}

const SCENE_COLOURS = ["red", "blue", "lime", "white", "black", "yellow", "magenta", "cyan"];

/**
 * Solid-colour segments joined with the concat filter: the picture changes completely at
 * each cut (and nowhere else), so scene detection has known answers. h264 in mp4, no audio.
 */
export function makeSceneVideo(dir: string, opts: SceneOptions = {}): Promise<string> {
  const cuts = opts.cuts ?? [1, 2];
  const o = {
    ffmpeg: opts.ffmpeg ?? npmFfmpeg(),
    cuts,
    seconds: opts.seconds ?? (cuts.length ? cuts[cuts.length - 1]! + 1 : 2),
    width: opts.width ?? 160,
    height: opts.height ?? 120,
    fps: opts.fps ?? 25,
  };
  const bounds = [0, ...cuts, o.seconds];
  for (let i = 1; i < bounds.length; i++) {
    if (!(bounds[i]! > bounds[i - 1]!)) throw new Error(`makeSceneVideo: cuts must increase and end before ${o.seconds} s`);
  }
  const name = opts.name ?? `scenes-${cuts.join("_")}-${o.seconds}s.mp4`;
  const args: string[] = [];
  const labels: string[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const d = (bounds[i + 1]! - bounds[i]!).toFixed(3);
    args.push("-f", "lavfi", "-i", `color=c=${SCENE_COLOURS[i % SCENE_COLOURS.length]}:size=${o.width}x${o.height}:rate=${o.fps}:duration=${d}`);
    labels.push(`[${i}:v]`);
  }
  args.push(
    "-filter_complex", `${labels.join("")}concat=n=${labels.length}:v=1:a=0[v]`,
    "-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
    // A keyframe at every cut keeps seeking to a scene exact.
    "-force_key_frames", cuts.join(","),
    "-f", "mp4",
  );
  return cached(o.ffmpeg, "scene", o, dir, name, "mp4", args);
}

/** A copy of the first `bytes` bytes of `file`, next to it. */
export async function truncate(file: string, bytes: number): Promise<string> {
  const out = join(resolve(file, ".."), `truncated-${bytes}-${basename(file)}`);
  const fh = await open(file, "r");
  try {
    const buf = Buffer.alloc(bytes);
    const { bytesRead } = await fh.read(buf, 0, bytes, 0);
    await writeFile(out, buf.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
  return out;
}

/**
 * A copy of an mp4 whose index is gone: its top-level moov box is retyped `skip` (not
 * `free`: ffmpeg looks inside a free box for a lost moov), so every box still has its size
 * (uploads accept it) but no demuxer finds a track. Undecodable, not truncated.
 */
export async function withoutIndex(file: string): Promise<string> {
  const bytes = await readFile(file);
  for (let at = 0; at + 8 <= bytes.length; ) {
    const size = bytes.readUInt32BE(at);
    if (bytes.toString("latin1", at + 4, at + 8) === "moov") bytes.write("skip", at + 4, "latin1");
    if (size < 8) break;
    at += size;
  }
  const out = join(resolve(file, ".."), `no-index-${basename(file)}`);
  await writeFile(out, bytes);
  return out;
}

// ---------------------------------------------------------------------------------------

// One folder per process under a shared root. Vitest ends its workers without an "exit"
// event, so each process also sweeps the folders of processes that are gone.
const cacheRoot = join(tmpdir(), "spool-fixtures");
const cacheDir = join(cacheRoot, `${process.pid}-${randomBytes(3).toString("hex")}`);
const generated = new Map<string, Promise<string>>();
process.once("exit", () => rmSync(cacheDir, { recursive: true, force: true }));
let swept = false;

function sweepDeadCaches(): void {
  if (swept) return;
  swept = true;
  let entries: string[] = [];
  try {
    entries = readdirSync(cacheRoot);
  } catch {
    return;
  }
  for (const entry of entries) {
    const pid = Number(entry.split("-")[0]);
    if (!Number.isInteger(pid) || pid === process.pid || isAlive(pid)) continue;
    rmSync(join(cacheRoot, entry), { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

// The output format is always given with -f, so `name` needs no extension.
async function cached(ffmpeg: string, kind: string, params: object, dir: string, name: string, ext: string, args: string[]): Promise<string> {
  const key = JSON.stringify([ffmpeg, kind, params]);
  let master = generated.get(key);
  if (master) {
    const path = await master.catch(() => null);
    if (!path || !existsSync(path)) master = undefined;
  }
  if (!master) {
    sweepDeadCaches();
    mkdirSync(cacheDir, { recursive: true });
    const path = join(cacheDir, `${generated.size}-${kind}.${ext}`);
    master = generate(ffmpeg, args, path);
    generated.set(key, master);
  }
  const source = await master;
  mkdirSync(dir, { recursive: true });
  const target = join(resolve(dir), name);
  await copyFile(source, target);
  return target;
}

/** Runs ffmpeg with `args` writing `out`; resolves with `out`. */
export function generate(ffmpeg: string, args: string[], out: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      ffmpeg,
      ["-nostdin", "-hide_banner", "-loglevel", "error", "-y", ...args, out],
      { timeout: 60_000, killSignal: "SIGKILL", maxBuffer: 4 * 1024 * 1024 },
      (err, _stdout, stderr) => {
        if (err) reject(new Error(`fixture generation failed: ${ffmpeg} ${args.join(" ")} ${out}\n${stderr}`));
        else resolvePromise(out);
      },
    );
  });
}
