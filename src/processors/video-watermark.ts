// video.watermark: a rendition with a text or image overlay in a corner (or the centre).
//
// The user's text never reaches ffmpeg's argv or the filtergraph: it is written to a file
// in the work folder and drawtext reads it (`textfile=`) with `expansion=none`, so quotes,
// colons, backslashes and `%{…}` sequences are drawn as they are. Everything else in the
// filtergraph is built from numbers and fixed words. The font is DejaVu Sans from the
// dejavu-fonts-ttf package, copied beside the text so both paths are ones Spool made.
import { copyFile, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import type { z } from "zod";
import { JobError, SpoolError } from "../errors.ts";
import { defineJobType, type Job, type JobContext } from "../engine/types.ts";
import type { FfmpegSpec } from "../tools/ffmpeg/argv.ts";
import { demuxerFor } from "../tools/ffmpeg/demuxers.ts";
import type { FfmpegCapabilities } from "../tools/ffmpeg/binaries.ts";
import type { MediaInfo } from "../tools/ffmpeg/media-info.ts";
import { CRF, FASTSTART, hevcTagArgs, videoEncoderArgs } from "./media/encoders.ts";
import { encoderFor, VIDEO_ENCODERS, watermarkInput, type VideoCodec } from "./media/inputs.ts";
import { storeOutputs } from "./media/outputs.ts";
import { loadImageAsset, loadVideo, MAX_INPUT_PIXELS, probeSource, requireVideoStream, runStage, sourceInput, withWorkDir, type MediaDeps } from "./media/source.ts";
import { planOf, Stages } from "./media/stages.ts";

export type WatermarkInput = z.infer<ReturnType<typeof watermarkInput>>;
export type WatermarkResult = { assetId: string; container: Container; videoCodec: VideoCodec; width: number | null; height: number | null; durationSec: number | null; sizeBytes: number };

type Container = "mp4" | "mov" | "mkv";
type Position = WatermarkInput["position"];

const CONTAINERS: Record<Container, { contentType: string; muxer: string; audioCopy: ReadonlySet<string> }> = {
  mp4: { contentType: "video/mp4", muxer: "mp4", audioCopy: new Set(["aac", "mp3", "ac3", "eac3", "alac"]) },
  mov: { contentType: "video/quicktime", muxer: "mov", audioCopy: new Set(["aac", "mp3", "ac3", "alac", "pcm_s16le", "pcm_s24le"]) },
  mkv: { contentType: "video/x-matroska", muxer: "matroska", audioCopy: new Set(["aac", "mp3", "ac3", "eac3", "opus", "vorbis", "flac", "alac", "pcm_s16le", "pcm_s24le"]) },
};

const FONT_FILE = (() => {
  let cached: string | null = null;
  return () => (cached ??= path.join(path.dirname(createRequire(import.meta.url).resolve("dejavu-fonts-ttf/package.json")), "ttf", "DejaVuSans.ttf"));
})();

/** The container of the output: the source's own when it can hold h264/h265, else mp4. */
export function containerFor(sourceContentType: string): Container {
  const demuxer = demuxerFor(sourceContentType);
  if (demuxer === "matroska") return "mkv";
  if (demuxer === "mov" && sourceContentType.startsWith("video/quicktime")) return "mov";
  return "mp4";
}

/** drawtext/overlay position expressions: `w`,`h` are the frame's, `ow`,`oh` the overlay's. */
export function placement(position: Position, margin: number, names: { frameW: string; frameH: string; itemW: string; itemH: string }): { x: string; y: string } {
  const { frameW: W, frameH: H, itemW: w, itemH: h } = names;
  const left = String(margin);
  const right = `${W}-${w}-${margin}`;
  const top = String(margin);
  const bottom = `${H}-${h}-${margin}`;
  switch (position) {
    case "top-left": return { x: left, y: top };
    case "top-right": return { x: right, y: top };
    case "bottom-left": return { x: left, y: bottom };
    case "bottom-right": return { x: right, y: bottom };
    case "center": return { x: `(${W}-${w})/2`, y: `(${H}-${h})/2` };
  }
}

function color(hex: string, opacity: number): string {
  return `0x${hex.slice(1).toUpperCase()}@${opacity.toFixed(3)}`;
}

/** The drawtext filter for text already written to `textFile`. */
export function textFilter(text: NonNullable<WatermarkInput["text"]>, opts: { position: Position; margin: number; opacity: number; fontFile: string; textFile: string }): string {
  // The box grows by its border around the text: keep the box, not the glyphs, at the margin.
  const inset = opts.margin + (text.background ? text.padding : 0);
  const { x, y } = placement(opts.position, inset, { frameW: "w", frameH: "h", itemW: "tw", itemH: "th" });
  const parts = [
    `fontfile=${opts.fontFile}`, `textfile=${opts.textFile}`, "expansion=none",
    `fontsize=${text.fontSize}`, `fontcolor=${color(text.color, opts.opacity)}`,
    ...(text.background ? ["box=1", `boxcolor=${color(text.background, opts.opacity)}`, `boxborderw=${text.padding}`] : []),
    `x=${x}`, `y=${y}`,
  ];
  return `[0:v:0]drawtext=${parts.join(":")}[v]`;
}

/** The overlay graph for the image on input 1, `imageWidth` px wide. */
export function imageFilter(imageWidth: number, opts: { position: Position; margin: number; opacity: number }): string {
  const { x, y } = placement(opts.position, opts.margin, { frameW: "W", frameH: "H", itemW: "w", itemH: "h" });
  return `[1:v]scale=${imageWidth}:-1,format=rgba,colorchannelmixer=aa=${opts.opacity.toFixed(3)}[wm];[0:v:0][wm]overlay=x=${x}:y=${y}[v]`;
}

/** h264/h265 at the quality's CRF (media/encoders.ts), tagged for Apple players. */
function encodeArgs(codec: "h264" | "h265", quality: WatermarkInput["quality"], container: Container, caps: FfmpegCapabilities): string[] {
  return [...videoEncoderArgs(codec, caps, { crf: CRF[codec][quality] }), "-pix_fmt", "yuv420p", ...hevcTagArgs(codec, container)];
}

function audioArgs(audio: MediaInfo["audio"], container: Container): string[] {
  if (!audio) return [];
  const copy = CONTAINERS[container].audioCopy.has(audio.codec);
  return ["-map", "0:a:0", ...(copy ? ["-c:a", "copy"] : ["-c:a", "aac", "-b:a", "160k"])];
}


/** Shares of progress by stage (the definition's `stages`). */
const STAGES = { probe: 1, encode: 20, store: 1 };

export const videoWatermark = defineJobType<MediaDeps, WatermarkInput, WatermarkResult>({
  type: "video.watermark",
  description: "A rendition with a text or image watermark in a corner or the centre.",
  mutation: { name: "watermarkVideo", description: "A rendition with a text or image overlay. Runs a video.watermark job." },
  stages: STAGES,
  input: (deps) => watermarkInput(deps.ffmpeg.capabilities),
  timeoutMs: 12 * 3600_000,
  async run(job: Job<WatermarkInput>, ctx: JobContext, deps): Promise<WatermarkResult> {
    const input = job.input;
    const src = await loadVideo(deps.pool, job, input.videoId);
    const image = input.imageAssetId ? await loadImageAsset(deps, job, input.imageAssetId, "imageAssetId") : null;
    // Refused before the source is fetched; encodeArgs would refuse it only after the probe.
    if (!encoderFor(VIDEO_ENCODERS, input.videoCodec, deps.ffmpeg.capabilities)) throw new JobError("INVALID_INPUT", `This server's ffmpeg cannot encode ${input.videoCodec}.`);
    const stages = new Stages(ctx, planOf(STAGES, ["probe", "encode", "store"]));

    const withImage = <T>(fn: (imagePath: string | null) => Promise<T>) =>
      image ? deps.assets.storage.withLocalFile(image.key, fn, ctx.signal) : fn(null);

    try {
      return await withWorkDir(job, ctx.attempt, (dir) => deps.assets.storage.withLocalFile(src.source.key, (local) => withImage(async (imagePath) => {
        await stages.enter("probe");
        const info = await probeSource(deps, src, local, ctx);
        const video = requireVideoStream(info);
        const container = containerFor(src.source.content_type);
        const spec: FfmpegSpec = { inputs: [sourceInput(src, local)], outputs: [] };
        const place = { position: input.position, margin: input.margin, opacity: input.opacity };

        if (input.text) {
          const textFile = path.join(dir, "watermark.txt");
          const fontFile = path.join(dir, "font.ttf");
          await writeFile(textFile, input.text.content, "utf8");
          await copyFile(FONT_FILE(), fontFile);
          spec.filterComplex = textFilter(input.text, { ...place, fontFile, textFile });
        } else {
          const imageInfo = await deps.ffmpeg.probe(imagePath!, { format: demuxerFor(image!.content_type) ?? undefined, signal: ctx.signal });
          if (!imageInfo.video || imageInfo.video.width * imageInfo.video.height > MAX_INPUT_PIXELS) {
            throw new JobError("INVALID_INPUT", "The watermark image cannot be read, or is larger than 7680×4320.");
          }
          spec.inputs.push({ path: imagePath!, format: demuxerFor(image!.content_type) ?? undefined });
          // ffmpeg rotates the picture upright before filtering: the width that counts is the shown one.
          const shownWidth = video.rotation % 180 === 0 ? video.width : video.height;
          spec.filterComplex = imageFilter(Math.max(2, Math.round(shownWidth * input.imageScale)), place);
        }

        const out = path.join(dir, `watermarked.${container}`);
        spec.outputs.push({
          path: out,
          args: [
            "-map", "[v]", ...encodeArgs(input.videoCodec as "h264" | "h265", input.quality, container, deps.ffmpeg.capabilities),
            ...audioArgs(info.audio, container),
            ...(container === "mkv" ? [] : FASTSTART),
            "-f", CONTAINERS[container].muxer,
          ],
        });

        await stages.enter("encode");
        await runStage(deps, ctx, stages, spec, { durationSec: info.durationSec, maxOutputBytes: deps.assets.limits.videoBytes });

        await stages.enter("store");
        const media = await deps.ffmpeg.probe(out, { format: container === "mkv" ? "matroska" : "mov", signal: ctx.signal });
        const [row] = await storeOutputs(deps, job, ctx.attempt, { videoId: src.videoId }, [{
          role: "RENDITION", label: "watermarked", filename: `watermarked.${container}`,
          contentType: CONTAINERS[container].contentType, kind: "VIDEO", media, file: out,
        }], ctx.signal);
        ctx.progress(1);
        return {
          assetId: row!.id, container, videoCodec: input.videoCodec,
          width: media.video?.width ?? null, height: media.video?.height ?? null, durationSec: media.durationSec, sizeBytes: media.sizeBytes,
        };
      }), ctx.signal));
    } catch (err) {
      if (!ctx.signal.aborted && err instanceof SpoolError && !(err instanceof JobError)) throw new JobError(err.code, err.message);
      throw err;
    }
  },
});
