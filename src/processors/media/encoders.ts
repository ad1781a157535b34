// The ffmpeg argv fragments the media job types share: which encoder and rate control a
// codec gets, what a quality name means as a CRF, the picture size filters see and the
// scale that makes an output size, the files each container is written as. One place, so
// that a quality name or a preset means the same in every job type, and each processor
// reads as its decisions (which codec, which size, how many passes) rather than argv.
// Nothing here runs ffmpeg; every value comes from a validated input or a fixed table.
import { JobError } from "../../errors.ts";
import type { FfmpegCapabilities } from "../../tools/ffmpeg/binaries.ts";
import type { MediaInfo } from "../../tools/ffmpeg/media-info.ts";
import { AUDIO_ENCODERS, encoderFor, VIDEO_ENCODERS, type AudioCodec, type CONTAINERS, type QUALITIES, type VideoCodec } from "./inputs.ts";

type Quality = (typeof QUALITIES)[number];
type Container = (typeof CONTAINERS)[number];
type Size = { width: number; height: number };

/** Muxer, file extension, content type, and the demuxer that reads the file back. */
export const CONTAINER_FILES: Record<Container, { muxer: string; ext: string; contentType: string; demuxer: string }> = {
  mp4: { muxer: "mp4", ext: "mp4", contentType: "video/mp4", demuxer: "mov" },
  mov: { muxer: "mov", ext: "mov", contentType: "video/quicktime", demuxer: "mov" },
  webm: { muxer: "webm", ext: "webm", contentType: "video/webm", demuxer: "matroska" },
  mkv: { muxer: "matroska", ext: "mkv", contentType: "video/x-matroska", demuxer: "matroska" },
};

// Constant-quality values per codec, so that a quality name means one thing across job
// types. x265 and the AV1 encoders reach x264's look at higher numbers; vp9/aom need
// -b:v 0 for pure constant quality.
export const CRF: Record<VideoCodec, Record<Quality, number>> = {
  h264: { low: 28, medium: 23, high: 20, ultra: 17 },
  h265: { low: 33, medium: 28, high: 25, ultra: 22 },
  vp9: { low: 40, medium: 33, high: 28, ultra: 24 },
  av1: { low: 42, medium: 35, high: 30, ultra: 26 },
};

/**
 * How an encoder spends bits: constant quality (optionally capped: a one-second VBV buffer
 * at maxKbps), or an average bitrate, with or without a VBV cap at that bitrate (two-pass
 * ABR wants none: the second pass redistributes bits freely).
 */
export type Rate = { crf: number; maxKbps?: number } | { kbps: number; vbv: boolean };

/**
 * Codec-specific encoder arguments: speed preset and rate control. The presets are the fast
 * end of each encoder, because a self-hosted box transcodes far more than it archives (x264
 * veryfast is ~4× faster than medium at 320×240 for ~10% more bits).
 */
export function videoEncoderArgs(codec: VideoCodec, caps: FfmpegCapabilities, rate: Rate): string[] {
  const encoder = encoderFor(VIDEO_ENCODERS, codec, caps);
  if (!encoder) throw new JobError("INVALID_INPUT", `This server's ffmpeg cannot encode ${codec}.`);
  const args = ["-c:v", encoder];
  switch (encoder) {
    case "libx264":
      args.push("-preset", "veryfast");
      break;
    case "libx265":
      // x265 prints its whole configuration otherwise, which would push errors out of the log tail.
      args.push("-preset", "veryfast", "-x265-params", "log-level=error");
      break;
    case "libvpx-vp9":
      args.push("-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1");
      break;
    case "libaom-av1":
      // The 2018 npm build marks libaom experimental; cpu-used 8 is its fastest (~7× slower than
      // real time at 320×240 on that build, still usable for short clips).
      args.push("-strict", "experimental", "-cpu-used", "8", "-row-mt", "1");
      break;
    case "libsvtav1":
      args.push("-preset", "12");
      break;
  }
  if ("crf" in rate) {
    args.push("-crf", String(rate.crf));
    if (encoder === "libvpx-vp9" || encoder === "libaom-av1") args.push("-b:v", "0");
    if (rate.maxKbps !== undefined) args.push("-maxrate", `${rate.maxKbps}k`, "-bufsize", `${rate.maxKbps}k`);
  } else {
    args.push("-b:v", `${rate.kbps}k`);
    // SVT-AV1 (5.1) switches to a low-delay CBR mode when maxrate equals the bitrate.
    if (rate.vbv && encoder !== "libsvtav1") args.push("-maxrate", `${rate.kbps}k`, "-bufsize", `${2 * rate.kbps}k`);
  }
  return args;
}

/** The index (moov) first, so playback starts before the download ends: mp4/mov/m4a outputs a browser plays. */
export const FASTSTART = ["-movflags", "+faststart"] as const;

/** Apple players only take HEVC in mp4/mov tagged hvc1 (ffmpeg's default is hev1). */
export function hevcTagArgs(codec: VideoCodec, container: string): string[] {
  return codec === "h265" && (container === "mp4" || container === "mov") ? ["-tag:v", "hvc1"] : [];
}

/** Audio encoder arguments; mp3 and opus get at most two channels (LAME cannot do more, libopus refuses 5.1(side)). */
export function audioEncoderArgs(codec: AudioCodec, caps: FfmpegCapabilities, kbps: number, srcChannels: number): string[] {
  const encoder = encoderFor(AUDIO_ENCODERS, codec, caps);
  if (!encoder) throw new JobError("INVALID_INPUT", `This server's ffmpeg cannot encode ${codec} audio.`);
  const args = ["-c:a", encoder];
  let channels = srcChannels;
  if ((codec === "mp3" || codec === "opus") && srcChannels > 2) {
    channels = 2;
    args.push("-ac", "2");
  }
  // libopus refuses more than 256 kb/s per channel.
  const bitrate = codec === "opus" ? Math.min(kbps, 256 * Math.max(1, channels)) : kbps;
  args.push("-b:a", `${bitrate}k`);
  return args;
}

/** The source's picture size as filters and viewers see it: ffmpeg autorotates, so 90/270 swap. */
export function displaySize(v: NonNullable<MediaInfo["video"]>): Size {
  return v.rotation === 90 || v.rotation === 270 ? { width: v.height, height: v.width } : { width: v.width, height: v.height };
}

/**
 * The output size and the scale filter making it. One side given keeps the aspect ratio
 * (the same rounding as ffmpeg's -2: nearest even); neither keeps the source size, cut to
 * even numbers because yuv420p needs them (no filter when it already is).
 */
export function outputSize(src: Size, want: { width?: number; height?: number }): Size & { filter: string | null } {
  const evenRound = (n: number) => Math.max(2, Math.round(n / 2) * 2);
  if (want.width && want.height) return { width: want.width, height: want.height, filter: `scale=${want.width}:${want.height}` };
  if (want.width) return { width: want.width, height: evenRound((want.width * src.height) / src.width), filter: `scale=${want.width}:-2` };
  if (want.height) return { width: evenRound((want.height * src.width) / src.height), height: want.height, filter: `scale=-2:${want.height}` };
  const width = src.width - (src.width % 2);
  const height = src.height - (src.height % 2);
  return { width, height, filter: width === src.width && height === src.height ? null : `scale=${width}:${height}` };
}
