// video.transcode: one rendition of a Video in another container, codec, size, quality or
// frame rate. Every choice of the input maps to fixed ffmpeg arguments: the codec, rate and
// size fragments are the shared ones of media/encoders.ts, the container rules are here.
import path from "node:path";
import type { z } from "zod";
import { defineJobType } from "../engine/types.ts";
import { audioEncoderArgs, CONTAINER_FILES, CRF, displaySize, FASTSTART, hevcTagArgs, outputSize, type Rate, videoEncoderArgs } from "./media/encoders.ts";
import { transcodeInput, type AudioCodec, type VideoCodec } from "./media/inputs.ts";
import { storeOutputs } from "./media/outputs.ts";
import { loadVideo, probeSource, requireVideoStream, runStage, sourceInput, withWorkDir, type MediaDeps } from "./media/source.ts";
import { planOf, Stages } from "./media/stages.ts";

export type TranscodeInput = z.infer<ReturnType<typeof transcodeInput>>;
export type TranscodeResult = {
  assetId: string;
  label: string;
  width: number;
  height: number;
  durationSec: number | null;
  sizeBytes: number;
  videoCodec: VideoCodec;
  audioCodec: AudioCodec | null;
};
/** Shares of progress by stage (the definition's `stages`). */
const STAGES = { probe: 1, encode: 20, store: 1 };

export const videoTranscode = defineJobType<MediaDeps, TranscodeInput, TranscodeResult>({
  type: "video.transcode",
  description: "A rendition of a Video in another container, codec, size, quality or frame rate.",
  mutation: { name: "transcodeVideo", description: "A rendition in another container, codec, size, quality or frame rate. Runs a video.transcode job." },
  stages: STAGES,
  input: (deps) => transcodeInput(deps.ffmpeg.capabilities),
  timeoutMs: 4 * 60 * 60_000,
  async run(job, ctx, deps) {
    const caps = deps.ffmpeg.capabilities;
    const input = job.input;
    const src = await loadVideo(deps.pool, job, input.videoId);
    return withWorkDir(job, ctx.attempt, (dir) => deps.assets.storage.withLocalFile(src.source.key, async (local) => {
      await ctx.stage("probe");
      const info = await probeSource(deps, src, local, ctx);
      const video = requireVideoStream(info);

      const container = input.container;
      const files = CONTAINER_FILES[container];
      const videoCodec: VideoCodec = input.videoCodec ?? (container === "webm" ? "vp9" : "h264");
      const wantAudio: AudioCodec | "none" = input.audioCodec ?? (container === "webm" ? "opus" : "aac");
      const audioCodec = info.audio && wantAudio !== "none" ? wantAudio : null;
      const size = outputSize(displaySize(video), input);
      const label = `${size.height}p-${videoCodec}-${container}`;
      const encodeStage = `encode[${size.height}p]`;
      const stages = new Stages(ctx, planOf(STAGES, ["probe", encodeStage, "store"]));

      const filters = [size.filter, input.fps !== undefined ? `fps=${input.fps}` : null].filter((f): f is string => f !== null);
      const rate: Rate = input.videoBitrateKbps !== undefined ? { kbps: input.videoBitrateKbps, vbv: true } : { crf: CRF[videoCodec][input.quality] };
      const args = ["-map", "0:v:0", ...(filters.length ? ["-vf", filters.join(",")] : []), ...videoEncoderArgs(videoCodec, caps, rate), "-pix_fmt", "yuv420p"];
      args.push(...hevcTagArgs(videoCodec, container));
      if (audioCodec) args.push("-map", "0:a:0", ...audioEncoderArgs(audioCodec, caps, input.audioBitrateKbps, info.audio!.channels));
      else args.push("-an");
      // The 2018 npm build's mp4 muxer still calls Opus experimental (5.1's does not).
      if (audioCodec === "opus" && container === "mp4") args.push("-strict", "experimental");
      if (input.faststart && (container === "mp4" || container === "mov")) args.push(...FASTSTART);
      args.push("-f", files.muxer);
      const out = path.join(dir, `${label}.${files.ext}`);

      await stages.enter(encodeStage);
      await runStage(deps, ctx, stages, {
        inputs: [sourceInput(src, local)],
        outputs: [{ path: out, args }],
      }, { durationSec: info.durationSec, maxOutputBytes: deps.assets.limits.videoBytes });

      await stages.enter("store");
      const media = await deps.ffmpeg.probe(out, { format: files.demuxer, signal: ctx.signal });
      const [row] = await storeOutputs(deps, job, ctx.attempt, { videoId: src.videoId }, [{
        role: "RENDITION", label, filename: `${label}.${files.ext}`, contentType: files.contentType, kind: "VIDEO", media, file: out,
      }], ctx.signal);
      stages.update(1);
      return {
        assetId: row!.id,
        label,
        width: media.video?.width ?? size.width,
        height: media.video?.height ?? size.height,
        durationSec: media.durationSec,
        sizeBytes: media.sizeBytes,
        videoCodec,
        audioCodec,
      };
    }, ctx.signal));
  },
});
