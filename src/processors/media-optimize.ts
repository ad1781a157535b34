// media.optimize: a web-friendly mp4 (h264 + aac, index first) of about targetSizeMB.
// Size is hit with x264's two-pass average bitrate: the first pass measures how hard each
// frame is, the second spends the budget where it is needed. keepQuality first tries a
// constant-quality encode capped at the same bitrate (one pass; it may end well below the
// target) and falls back to the two passes only if that encode overshot.
import path from "node:path";
import type { z } from "zod";
import { JobError } from "../errors.ts";
import { defineJobType } from "../engine/types.ts";
import type { FfmpegSpec } from "../tools/ffmpeg/argv.ts";
import { audioEncoderArgs, displaySize, FASTSTART, outputSize, videoEncoderArgs } from "./media/encoders.ts";
import { optimizeInput } from "./media/inputs.ts";
import { storeOutputs } from "./media/outputs.ts";
import { loadVideo, probeSource, requireVideoStream, runStage, sourceInput, withWorkDir, type MediaDeps } from "./media/source.ts";
import { planOf, Stages } from "./media/stages.ts";

export type OptimizeInput = z.infer<ReturnType<typeof optimizeInput>>;
export type OptimizeResult = {
  assetId: string;
  label: string;
  mode: "two-pass" | "quality-capped";
  targetBytes: number;
  sizeBytes: number;
  /** sizeBytes / targetBytes. */
  sizeRatio: number;
  videoBitrateKbps: number;
  audioBitrateKbps: number;
  width: number;
  height: number;
  durationSec: number | null;
};

/**
 * Share of the target the streams may use; the rest is the mp4 container (sample tables,
 * moov) and the encoders' rate-control error. Measured: 1–2% of overhead for short clips.
 */
export const MUX_ALLOWANCE = 0.97;
/** Below this the picture is not worth having; the job is refused instead. */
export const MIN_VIDEO_KBPS = 50;
/** x264's "high" quality, the ceiling of keepQuality. */
const KEEP_QUALITY_CRF = 20;

/** The video bitrate that makes `targetBytes` for `durationSec`, or an INVALID_INPUT refusal. */
export function videoBitrateFor(targetBytes: number, durationSec: number, audioKbps: number): number {
  const totalKbps = (targetBytes * 8 * MUX_ALLOWANCE) / durationSec / 1000;
  const videoKbps = Math.floor(totalKbps - audioKbps);
  if (videoKbps < MIN_VIDEO_KBPS) {
    const minMB = Math.ceil((((MIN_VIDEO_KBPS + audioKbps) * 1000 * durationSec) / 8 / MUX_ALLOWANCE / 1e6) * 100) / 100;
    throw new JobError("INVALID_INPUT",
      `The target is too small for ${Math.round(durationSec * 10) / 10} s of video: it leaves ${Math.max(0, videoKbps)} kb/s for the picture` +
      `${audioKbps ? ` after ${audioKbps} kb/s of audio` : ""}; ask for at least ${minMB} MB${audioKbps ? " or a lower audioBitrateKbps" : ""}.`);
  }
  return videoKbps;
}

/** Shares of progress by stage (the definition's `stages`). */
const STAGES = { probe: 1, encode: 10, pass1: 8, pass2: 12, store: 1 };

export const mediaOptimize = defineJobType<MediaDeps, OptimizeInput, OptimizeResult>({
  type: "media.optimize",
  description: "A web-friendly h264/aac mp4 (faststart) of about targetSizeMB, in two passes.",
  mutation: { name: "optimizeVideo", description: "A web-friendly mp4 (faststart) of about targetSizeMB, in two passes. Runs a media.optimize job." },
  stages: STAGES,
  input: optimizeInput(),
  timeoutMs: 6 * 60 * 60_000,
  async run(job, ctx, deps) {
    const caps = deps.ffmpeg.capabilities;
    const input = job.input;
    const src = await loadVideo(deps.pool, job, input.videoId);
    const targetBytes = Math.round(input.targetSizeMB * 1e6);
    const maxBytes = deps.assets.limits.videoBytes;
    if (targetBytes >= maxBytes) {
      throw new JobError("INVALID_INPUT", `The target (${targetBytes} bytes) is not below this server's output limit of ${maxBytes} bytes (SPOOL_MAX_VIDEO_BYTES).`);
    }
    return withWorkDir(job, ctx.attempt, (dir) => deps.assets.storage.withLocalFile(src.source.key, async (local) => {
      await ctx.stage("probe");
      const info = await probeSource(deps, src, local, ctx);
      const video = requireVideoStream(info);
      const duration = info.durationSec;
      if (!duration || duration <= 0) throw new JobError("VIDEO_FORMAT_UNSUPPORTED", "The source's duration is unknown, so no bitrate can be derived from a size; transcode it first (video.transcode).");
      const audioKbps = info.audio ? input.audioBitrateKbps : 0;
      const videoKbps = videoBitrateFor(targetBytes, duration, audioKbps);

      const shown = displaySize(video);
      const shrink = input.maxHeight !== undefined && shown.height > input.maxHeight;
      const { filter } = outputSize(shown, shrink ? { height: input.maxHeight } : {});

      const mb = Number(input.targetSizeMB.toFixed(2));
      const label = `optimized-${mb}MB`;
      const out = path.join(dir, `${label}.mp4`);
      const passlog = path.join(dir, "x264pass");
      const stages = new Stages(ctx, planOf(STAGES, ["probe", input.keepQuality && "encode", "pass1", "pass2", "store"]));
      const inputs = [sourceInput(src, local)];
      // Both passes must encode the same frames: x264's second pass reads one line of stats
      // per first-pass frame. By default ffmpeg keeps a variable-frame-rate source's frames
      // into the null muxer but duplicates them to a constant rate into mp4, and pass 2 then
      // aborts ("Incomplete MB-tree stats file"). `-vsync vfr` in every encode keeps the
      // source's frames and times (mp4 holds them; browsers play them); -fps_mode would say
      // the same on 5.1, but the 2018 npm build only knows -vsync (5.1 calls it deprecated).
      const picture = ["-map", "0:v:0", ...(filter ? ["-vf", filter] : []), "-pix_fmt", "yuv420p", "-vsync", "vfr"];
      const sound = info.audio ? ["-map", "0:a:0", ...audioEncoderArgs("aac", caps, audioKbps, info.audio.channels)] : ["-an"];
      const mp4 = [...FASTSTART, "-f", "mp4"];
      const run = (spec: FfmpegSpec) => runStage(deps, ctx, stages, spec, { durationSec: duration, maxOutputBytes: maxBytes });

      let mode: OptimizeResult["mode"] = "two-pass";
      let done = false;
      if (input.keepQuality) {
        mode = "quality-capped";
        await stages.enter("encode");
        // A one-second VBV buffer, which x264 starts 90% full: that much can come on top of
        // maxrate × duration, so the cap leaves room for it (13% of a 6 s clip, 1.5% of a minute).
        const capKbps = Math.max(MIN_VIDEO_KBPS, Math.floor((videoKbps * duration) / (duration + 0.9)));
        const capped = videoEncoderArgs("h264", caps, { crf: KEEP_QUALITY_CRF, maxKbps: capKbps });
        await run({ inputs, outputs: [{ path: out, args: [...picture, ...capped, ...sound, ...mp4] }] });
        const size = (await deps.ffmpeg.probe(out, { format: "mov", signal: ctx.signal })).sizeBytes;
        done = size <= targetBytes;
        if (!done) ctx.logLine(`the quality-capped encode made ${size} bytes, over the ${targetBytes}-byte target; encoding again in two passes`, "warn");
      }
      if (!done) {
        mode = "two-pass";
        const avg = videoEncoderArgs("h264", caps, { kbps: videoKbps, vbv: false });
        await stages.enter("pass1");
        await run({ inputs, outputs: [{ path: "/dev/null", args: [...picture, ...avg, "-pass", "1", "-passlogfile", passlog, "-an", "-f", "null"] }] });
        await stages.enter("pass2");
        await run({ inputs, outputs: [{ path: out, args: [...picture, ...avg, "-pass", "2", "-passlogfile", passlog, ...sound, ...mp4] }] });
      }

      await stages.enter("store");
      const media = await deps.ffmpeg.probe(out, { format: "mov", signal: ctx.signal });
      const [row] = await storeOutputs(deps, job, ctx.attempt, { videoId: src.videoId }, [{
        role: "RENDITION", label, filename: `${label}.mp4`, contentType: "video/mp4", kind: "VIDEO", media, file: out,
      }], ctx.signal);
      stages.update(1);
      return {
        assetId: row!.id,
        label,
        mode,
        targetBytes,
        sizeBytes: media.sizeBytes,
        sizeRatio: Math.round((media.sizeBytes / targetBytes) * 1000) / 1000,
        videoBitrateKbps: videoKbps,
        audioBitrateKbps: audioKbps,
        width: media.video?.width ?? 0,
        height: media.video?.height ?? 0,
        durationSec: media.durationSec,
      };
    }, ctx.signal));
  },
});
