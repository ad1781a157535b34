// media.streaming: an adaptive ladder (HLS and/or DASH) from ONE decode of the source.
//
// One ffmpeg run: the decoded picture is split once per output rendition and scaled, each
// branch feeds its own libx264 encoder, and each HLS rendition is its own `-f hls` output
// (<dir>/hls/<h>p/index.m3u8 + seg_0000.ts…). DASH, when asked, is one more output of the
// same run: every rung a representation of one `-f dash` output. An encoded stream cannot
// feed two outputs in the ffmpeg CLI (and the tee muxer would need a composite output path
// the adapter rightly refuses), so with both formats each rung is encoded twice, with
// identical settings, from the same decoded frames: 2N encoders, one decode.
//
// Keyframes are forced at every multiple of segmentSeconds, with the same GOP and no
// scene-cut keyframes in every rung, so segment N of every rendition covers the same time
// and a player can switch at any boundary. The master playlist is written here, not by
// ffmpeg: the 2018 npm build segfaults on -master_pl_name, and BANDWIDTH is the measured
// peak segment rate (tools/hls.ts). The Video's caption tracks become the master's SUBTITLES
// group, WebVTT segments aligned with the video's (media/subtitle-renditions.ts), and text
// AdaptationSets of the DASH manifest (media/dash-subtitles.ts).
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { z } from "zod";
import { JobError } from "../errors.ts";
import { defineJobType, type JobContext } from "../engine/types.ts";
import type { FfmpegSpec } from "../tools/ffmpeg/argv.ts";
import { demuxerFor } from "../tools/ffmpeg/demuxers.ts";
import { FfmpegError } from "../tools/ffmpeg/failures.ts";
import type { MediaInfo } from "../tools/ffmpeg/media-info.ts";
import { avcHighCodec, h264HighLevel, levelName, writeMasterPlaylist } from "../tools/hls.ts";
import { displaySize } from "./media/encoders.ts";
import { streamingInput } from "./media/inputs.ts";
import { storeOutputs, type Output } from "./media/outputs.ts";
import { checkDash, measureVariant, sizeOf, type Measured } from "./media/package-check.ts";
import { addDashSubtitles } from "./media/dash-subtitles.ts";
import { loadSubtitles, subtitleRenditions, writeHlsSubtitles, type SubtitleRendition } from "./media/subtitle-renditions.ts";
import { wholeWebVtt } from "./media/webvtt-segments.ts";
import { loadVideo, probeSource, requireVideoStream, runStage, withWorkDir, type MediaDeps } from "./media/source.ts";
import { planOf, Stages } from "./media/stages.ts";

export type StreamingInput = z.infer<ReturnType<typeof streamingInput>>;
export type StreamingRendition = {
  name: string;
  height: number;
  width: number;
  /** Measured peak segment rate of the HLS variant (bits/s, audio included); the nominal rate without HLS. */
  bandwidth: number;
  averageBandwidth: number;
  videoBitrateKbps: number;
  audioBitrateKbps: number | null;
  codecs: string;
};
export type StreamingResult = {
  hls?: string;
  dash?: string;
  renditions: StreamingRendition[];
  /** Asked heights left out because the source is not that tall. */
  droppedHeights: number[];
  segmentSeconds: number;
  /** The Video's SUBTITLES and CAPTIONS tracks: the HLS master's SUBTITLES group, the DASH manifest's text sets. */
  subtitles: SubtitleRendition[];
};

/** 360p/720p/1080p at rates close to common web ladders (Apple's authoring table, YouTube's). */
const DEFAULT_LADDER = [
  { height: 360, videoBitrateKbps: 800, audioBitrateKbps: 128 },
  { height: 720, videoBitrateKbps: 2_800, audioBitrateKbps: 128 },
  { height: 1080, videoBitrateKbps: 5_000, audioBitrateKbps: 128 },
] as const;

// veryfast: the default 3-rung ladder of 10 s of 1080p30 took 13 s on a 2-core machine
// (Debian's ffmpeg 5.1; 15 s with the npm build) against 20 s with medium. At these
// capped rates the extra quality of medium is small next to a 1.5× longer wait.
const PRESET = "veryfast";
// VBV: the peak a player must sustain stays within 7 % of the nominal rate over 1.5 s of
// buffer, the usual capped-ABR setting for streaming ladders.
const MAXRATE_FACTOR = 1.07;
const BUFSIZE_FACTOR = 1.5;
const ASSUMED_FPS = 30;
const MAX_FPS = 60;

/** Shares of progress by stage (the definition's `stages`). */
const STAGES = { probe: 1, encode: 20, package: 1, store: 1 };

type Rung = {
  name: string;
  height: number;
  width: number;
  videoKbps: number;
  audioKbps: number;
  level: number;
  codecs: string;
};

type Ladder = { rungs: Rung[]; dropped: number[] };

function even(n: number): number {
  return Math.max(2, Math.floor(n / 2) * 2);
}

/**
 * The rungs to encode: the asked ones (or the default ladder) that are not taller than the
 * source, widths from the source's displayed aspect ratio. The default ladder always keeps
 * one rung (the source's own height when it is under 360); an asked ladder whose every rung
 * is taller than the source is refused.
 */
export function planLadder(input: Pick<StreamingInput, "renditions">, source: { width: number; height: number }, fps: number | null, hasAudio: boolean): Ladder {
  const asked = input.renditions ?? DEFAULT_LADDER;
  const unique = asked.filter((r, i) => asked.findIndex((o) => o.height === r.height && o.videoBitrateKbps === r.videoBitrateKbps && o.audioBitrateKbps === r.audioBitrateKbps) === i);
  const fits = unique.filter((r) => r.height <= source.height);
  const dropped = unique.filter((r) => r.height > source.height).map((r) => r.height);
  let chosen: Array<{ height: number; videoBitrateKbps: number; audioBitrateKbps: number }> = [...fits];
  if (chosen.length === 0) {
    if (input.renditions) {
      throw new JobError("INVALID_INPUT", `Every asked rendition (${dropped.map((h) => `${h}p`).join(", ")}) is taller than the ${source.height}p source; ask for heights up to ${source.height}.`);
    }
    const h = even(source.height);
    // 800 kb/s at 360p scaled by the pixel count, never below 150 kb/s.
    chosen = [{ height: h, videoBitrateKbps: Math.max(150, Math.round((800 * (h / 360) ** 2) / 50) * 50), audioBitrateKbps: 128 }];
  }
  chosen.sort((a, b) => a.height - b.height || a.videoBitrateKbps - b.videoBitrateKbps);
  const rate = fps && fps > 0 ? fps : ASSUMED_FPS;
  const names = new Set<string>();
  const rungs = chosen.map((r) => {
    const width = even(Math.round((r.height * source.width) / source.height));
    let name = `${r.height}p`;
    for (let i = 2; names.has(name); i++) name = `${r.height}p-${i}`;
    names.add(name);
    const maxKbps = Math.round(r.videoBitrateKbps * MAXRATE_FACTOR);
    const level = h264HighLevel(width, r.height, rate, maxKbps);
    if (level === null) throw new JobError("INVALID_INPUT", `${width}×${r.height} at ${rate.toFixed(2)} fps and ${r.videoBitrateKbps} kb/s is beyond H.264 level 5.2; lower the bitrate or the height.`);
    const codecs = hasAudio ? `${avcHighCodec(level)},mp4a.40.2` : avcHighCodec(level);
    return { name, height: r.height, width, videoKbps: r.videoBitrateKbps, audioKbps: r.audioBitrateKbps, level, codecs };
  });
  return { rungs, dropped };
}

/** x264 settings of one rung; `s` is the stream specifier suffix (":v:1") inside a multi-stream output. */
function videoArgs(rung: Rung, gop: number, segmentSeconds: number, s = ":v"): string[] {
  return [
    `-c${s}`, "libx264", `-preset${s}`, PRESET, `-profile${s}`, "high", `-level${s}`, levelName(rung.level),
    `-b${s}`, `${rung.videoKbps}k`, `-maxrate${s}`, `${Math.round(rung.videoKbps * MAXRATE_FACTOR)}k`, `-bufsize${s}`, `${Math.round(rung.videoKbps * BUFSIZE_FACTOR)}k`,
    `-g${s}`, String(gop), `-keyint_min${s}`, String(gop), `-sc_threshold${s}`, "0",
    `-force_key_frames${s}`, `expr:gte(t,n_forced*${segmentSeconds})`,
  ];
}

function audioArgs(kbps: number, audio: NonNullable<MediaInfo["audio"]>, s = ":a"): string[] {
  const args = [`-c${s}`, "aac", `-b${s}`, `${kbps}k`, `-ac${s}`, String(Math.min(2, Math.max(1, audio.channels || 2)))];
  // AAC-LC in HLS and DASH players tops out at 48 kHz.
  if (audio.sampleRate > 48_000) args.push(`-ar${s}`, "48000");
  return args;
}

/** The single ffmpeg run: one decode, a split per output rendition, HLS outputs and/or one DASH output. */
export function buildSpec(opts: {
  local: string; format: string | undefined; dir: string; rungs: Rung[]; formats: ReadonlyArray<"hls" | "dash">;
  segmentSeconds: number; fps: number | null; capFps: boolean; audio: MediaInfo["audio"];
}): FfmpegSpec {
  const { rungs, dir, segmentSeconds: S, audio } = opts;
  const gop = Math.max(1, Math.round(S * (opts.fps && opts.fps > 0 ? opts.fps : ASSUMED_FPS)));
  const hls = opts.formats.includes("hls");
  const dash = opts.formats.includes("dash");
  const branches: string[] = [];
  const chains: string[] = [];
  const addBranch = (label: string, rung: Rung) => {
    branches.push(`[s${branches.length}]`);
    chains.push(`${branches[branches.length - 1]}scale=${rung.width}:${rung.height},format=yuv420p[${label}]`);
  };
  if (hls) rungs.forEach((r, i) => addBranch(`h${i}`, r));
  if (dash) rungs.forEach((r, i) => addBranch(`d${i}`, r));
  // Above 60 fps the ladder is resampled to 60: players and the levels above assume no more.
  const head = opts.capFps ? `[0:v:0]fps=${MAX_FPS},` : "[0:v:0]";
  const filterComplex = `${head}split=${branches.length}${branches.join("")};${chains.join(";")}`;

  const outputs: FfmpegSpec["outputs"] = [];
  if (hls) {
    for (const [i, r] of rungs.entries()) {
      outputs.push({
        path: path.join(dir, "hls", r.name, "index.m3u8"),
        args: [
          "-map", `[h${i}]`, ...(audio ? ["-map", "0:a:0"] : []),
          ...videoArgs(r, gop, S),
          ...(audio ? audioArgs(r.audioKbps, audio) : []),
          "-f", "hls", "-hls_time", String(S), "-hls_list_size", "0", "-hls_playlist_type", "vod",
          "-hls_flags", "independent_segments",
          "-hls_segment_filename", path.join(dir, "hls", r.name, "seg_%04d.ts"),
        ],
      });
    }
  }
  if (dash) {
    // One audio representation per distinct asked audio rate (one, with the defaults).
    const audioRates = audio ? [...new Set(rungs.map((r) => r.audioKbps))].sort((a, b) => a - b) : [];
    outputs.push({
      path: path.join(dir, "dash", "manifest.mpd"),
      args: [
        ...rungs.flatMap((_r, i) => ["-map", `[d${i}]`]),
        ...audioRates.flatMap(() => ["-map", "0:a:0"]),
        ...rungs.flatMap((r, i) => videoArgs(r, gop, S, `:v:${i}`)),
        ...audioRates.flatMap((kbps, j) => audioArgs(kbps, audio!, `:a:${j}`)),
        "-f", "dash", "-seg_duration", String(S), "-use_template", "1", "-use_timeline", "1",
        "-adaptation_sets", audio ? "id=0,streams=v id=1,streams=a" : "id=0,streams=v",
        "-init_seg_name", "init-$RepresentationID$.m4s",
        "-media_seg_name", "chunk-$RepresentationID$-$Number%05d$.m4s",
      ],
    });
  }
  return { inputs: [{ path: opts.local, format: opts.format }], filterComplex, outputs };
}

/** What the encode settings promise, for when ffprobe cannot read a segment back. */
function plannedVideo(rung: Rung, fps: number | null): NonNullable<MediaInfo["video"]> {
  return { codec: "h264", width: rung.width, height: rung.height, fps, bitRate: rung.videoKbps * 1000, pixFmt: "yuv420p", rotation: 0, frames: null };
}

function plannedAudio(rung: Rung, audio: MediaInfo["audio"]): MediaInfo["audio"] {
  if (!audio) return null;
  const channels = Math.min(2, Math.max(1, audio.channels || 2));
  return { codec: "aac", channels, sampleRate: Math.min(48_000, audio.sampleRate), bitRate: rung.audioKbps * 1000, channelLayout: channels === 2 ? "stereo" : "mono" };
}

export const mediaStreaming = defineJobType<MediaDeps, StreamingInput, StreamingResult>({
  type: "media.streaming",
  description: "An HLS and/or DASH adaptive ladder (h264 + aac) from one decode of the Video's source.",
  mutation: { name: "createStreamingPackage", description: "An HLS and/or DASH adaptive ladder from one decode. Runs a media.streaming job." },
  stages: STAGES,
  input: streamingInput(),
  timeoutMs: 6 * 3600_000,
  async run(job, ctx, deps) {
    const input = job.input;
    const formats = (["hls", "dash"] as const).filter((f) => input.formats.includes(f));
    const caps = deps.ffmpeg.capabilities;
    if (!caps.encoders.has("libx264") || !caps.encoders.has("aac")) {
      throw new JobError("INVALID_INPUT", "This server's ffmpeg has no libx264 or AAC encoder, which streaming packages need.");
    }
    for (const f of formats) if (!caps.muxers.has(f)) throw new JobError("INVALID_INPUT", `This server's ffmpeg cannot write ${f.toUpperCase()}.`);
    const S = input.segmentSeconds;
    const src = await loadVideo(deps.pool, job, input.videoId);
    const stages = new Stages(ctx, planOf(STAGES, ["probe", "encode[ladder]", "package", "store"]));

    return withWorkDir(job, ctx.attempt, (dir) => deps.assets.storage.withLocalFile(src.source.key, async (local) => {
      await stages.enter("probe");
      const info = await probeSource(deps, src, local, ctx);
      const video = requireVideoStream(info);
      const shown = displaySize(video);
      const capFps = video.fps !== null && video.fps > MAX_FPS;
      const fps = capFps ? MAX_FPS : video.fps;
      const { rungs, dropped } = planLadder(input, shown, fps, info.audio !== null);
      for (const h of dropped) ctx.logLine(`rendition ${h}p dropped: the source is ${shown.width}×${shown.height}`, "warn");
      for (const r of rungs) {
        ctx.logLine(`rendition ${r.name}: ${r.width}×${r.height} h264 High ${levelName(r.level)} ${r.videoKbps} kb/s` +
          (info.audio ? ` + aac ${r.audioKbps} kb/s` : " (no audio in the source)") + `, keyframes every ${S} s`);
      }

      await stages.enter("encode[ladder]");
      const spec = buildSpec({ local, format: demuxerFor(src.source.content_type) ?? undefined, dir, rungs, formats, segmentSeconds: S, fps, capFps, audio: info.audio });
      ctx.logLine(`encoding ${rungs.length} rendition(s) for ${formats.join(" + ")} from one decode (${spec.outputs.length} output(s), ${rungs.length * formats.length} video encoder(s))`);
      // ffmpeg creates no folders, and 5.1's hls muxer even exits 0 after failing to open a segment.
      for (const o of spec.outputs) await mkdir(path.dirname(o.path), { recursive: true });
      await runStage(deps, ctx, stages, spec, { durationSec: info.durationSec, maxOutputBytes: deps.assets.limits.videoBytes });

      await stages.enter("package");
      const measured = new Map<string, Measured>();
      const outputs: Output[] = [];
      const top = rungs[rungs.length - 1]!;
      const subtitles = await loadSubtitles(deps, job, ctx, src.videoId);
      if (formats.includes("hls")) {
        const hlsDir = path.join(dir, "hls");
        for (const r of rungs) {
          const m = await measureVariant(path.join(hlsDir, r.name), S);
          measured.set(r.name, m);
          ctx.logLine(`rendition ${r.name}: ${m.segments} segments, ${m.durationSec.toFixed(2)} s, peak ${Math.round(m.peak / 1000)} kb/s, average ${Math.round(m.average / 1000)} kb/s`);
        }
        const subtitleGroup = await writeHlsSubtitles(deps, ctx, subtitles, { hlsDir, variant: path.join(hlsDir, top.name) });
        await writeFile(path.join(hlsDir, "master.m3u8"), writeMasterPlaylist(rungs.map((r) => ({
          uri: `${r.name}/index.m3u8`,
          bandwidth: measured.get(r.name)!.peak,
          averageBandwidth: measured.get(r.name)!.average,
          resolution: { width: r.width, height: r.height },
          codecs: r.codecs,
          frameRate: fps && fps > 0 ? fps : null,
        })), { independentSegments: true, subtitles: subtitleGroup }));
        const m = measured.get(top.name)!;
        const segment = path.join(hlsDir, top.name, "seg_0000.ts");
        const probed = await probeOutput(deps, ctx, segment, "mpegts");
        outputs.push({
          role: "HLS", label: "hls", filename: "master.m3u8", contentType: "application/vnd.apple.mpegurl", kind: "VIDEO",
          dir: hlsDir, entry: "master.m3u8",
          media: packageMedia("hls", probed, top, fps, info.audio, m.durationSec, await sizeOf(hlsDir), m.average),
        });
      }
      if (formats.includes("dash")) {
        const dashDir = path.join(dir, "dash");
        const representations = await checkDash(dashDir);
        ctx.logLine(`DASH manifest with ${representations} representation(s)`);
        await addDashSubtitles(dashDir, subtitles.map(({ track, file }) => ({ label: track.label, language: track.language, kind: track.kind, vtt: wholeWebVtt(file) })), info.durationSec);
        const probed = await probeOutput(deps, ctx, path.join(dashDir, `init-${rungs.length - 1}.m4s`), "mov");
        const nominal = (top.videoKbps + (info.audio ? top.audioKbps : 0)) * 1000;
        outputs.push({
          role: "DASH", label: "dash", filename: "manifest.mpd", contentType: "application/dash+xml", kind: "VIDEO",
          dir: dashDir, entry: "manifest.mpd",
          media: packageMedia("dash", probed, top, fps, info.audio, info.durationSec, await sizeOf(dashDir), nominal),
        });
      }

      await stages.enter("store");
      const rows = await storeOutputs(deps, job, ctx.attempt, { videoId: src.videoId }, outputs, ctx.signal);
      stages.update(1);
      const byRole = new Map(rows.map((row) => [row.role, row.id]));
      return {
        ...(byRole.has("HLS") ? { hls: byRole.get("HLS")! } : {}),
        ...(byRole.has("DASH") ? { dash: byRole.get("DASH")! } : {}),
        renditions: rungs.map((r) => {
          const m = measured.get(r.name);
          const nominal = (r.videoKbps + (info.audio ? r.audioKbps : 0)) * 1000;
          return {
            name: r.name, height: r.height, width: r.width,
            bandwidth: m?.peak ?? nominal, averageBandwidth: m?.average ?? nominal,
            videoBitrateKbps: r.videoKbps, audioBitrateKbps: info.audio ? r.audioKbps : null, codecs: r.codecs,
          };
        }),
        droppedHeights: dropped,
        segmentSeconds: S,
        subtitles: subtitleRenditions(subtitles, formats),
      };
    }, ctx.signal));
  },
});

/**
 * ffprobe of one output file, or null when ffprobe cannot read it. The npm ffprobe build
 * (static, 2023) segfaults on every MPEG-TS file on Debian 12 — it loads the system's
 * iconv modules to decode the service name — so a failed read of a segment ffmpeg just
 * wrote is logged, and the package's media falls back to the encode settings.
 */
async function probeOutput(deps: MediaDeps, ctx: JobContext, file: string, format: string): Promise<MediaInfo | null> {
  try {
    return await deps.ffmpeg.probe(file, { format, signal: ctx.signal, timeoutMs: 30_000 });
  } catch (err) {
    if (ctx.signal.aborted || !(err instanceof FfmpegError)) throw err;
    ctx.logLine(`ffprobe could not read ${path.basename(file)} back (${err.message.split("\n")[0]}); its media info comes from the encode settings`, "warn");
    return null;
  }
}

/** A package's media: its top rendition as ffprobe sees it, with the whole package's duration, size and rate. */
function packageMedia(
  formatName: string, probed: MediaInfo | null, top: Rung, fps: number | null, audio: MediaInfo["audio"],
  durationSec: number | null, sizeBytes: number, bitRate: number,
): MediaInfo {
  const v = probed?.video;
  return {
    formatName,
    durationSec,
    sizeBytes,
    bitRate,
    tags: {},
    video: v ? { ...v, fps: v.fps ?? fps, bitRate: v.bitRate ?? top.videoKbps * 1000, frames: null } : plannedVideo(top, fps),
    audio: probed ? (probed.audio ?? (audio ? plannedAudio(top, audio) : null)) : plannedAudio(top, audio),
    streamCount: audio ? 2 : 1,
  };
}
