// The inputs of the media job types, in one place: the processors validate with them, the
// typed GraphQL mutations map onto them field for field, and jobTypes publishes them as
// JSON Schema. Codecs and formats are narrowed to what the ffmpeg binary in use can
// encode, so a job it cannot run is refused when it is submitted, not when it runs.
// Nothing here reaches ffmpeg as a string: enums map to fixed arguments, numbers are bounded.
import { z } from "zod";
import type { FfmpegCapabilities } from "../../tools/ffmpeg/binaries.ts";

/** Codec names of the API, and the ffmpeg encoders behind them (first one present wins). */
export const VIDEO_ENCODERS = {
  h264: ["libx264"],
  h265: ["libx265"],
  vp9: ["libvpx-vp9"],
  av1: ["libsvtav1", "libaom-av1"],
} as const;
export type VideoCodec = keyof typeof VIDEO_ENCODERS;

export const AUDIO_ENCODERS = {
  aac: ["aac", "libfdk_aac"],
  opus: ["libopus"],
  mp3: ["libmp3lame"],
  vorbis: ["libvorbis"],
} as const;
export type AudioCodec = keyof typeof AUDIO_ENCODERS;

export const IMAGE_ENCODERS = { jpg: ["mjpeg"], png: ["png"], webp: ["libwebp"] } as const;
export type ImageFormat = keyof typeof IMAGE_ENCODERS;

/** The encoder ffmpeg should use for a codec, or null when this binary has none. */
export function encoderFor<T extends Record<string, readonly string[]>>(table: T, name: keyof T, caps: FfmpegCapabilities): string | null {
  return table[name]!.find((e) => caps.encoders.has(e)) ?? null;
}

function available<T extends Record<string, readonly string[]>>(table: T, caps: FfmpegCapabilities): [keyof T & string, ...(keyof T & string)[]] {
  const names = (Object.keys(table) as (keyof T & string)[]).filter((n) => encoderFor(table, n, caps));
  if (names.length === 0) throw new Error("ffmpeg has none of the encoders Spool needs");
  return names as [keyof T & string, ...(keyof T & string)[]];
}

const videoId = z.uuid();
const even = (min: number, max: number) => z.number().int().min(min).max(max).refine((n) => n % 2 === 0, "must be even (yuv420p)");
export const QUALITIES = ["low", "medium", "high", "ultra"] as const;
export const CONTAINERS = ["mp4", "webm", "mov", "mkv"] as const;
export const POSITIONS = ["top-left", "top-right", "bottom-left", "bottom-right", "center"] as const;
const hexColor = z.string().regex(/^#[0-9A-Fa-f]{6}$/, "a colour like #FFFFFF");

/** Which video codecs each container can hold. */
export const CONTAINER_CODECS: Record<(typeof CONTAINERS)[number], readonly VideoCodec[]> = {
  mp4: ["h264", "h265", "av1"],
  mov: ["h264", "h265"],
  webm: ["vp9", "av1"],
  mkv: ["h264", "h265", "vp9", "av1"],
};
export const CONTAINER_AUDIO: Record<(typeof CONTAINERS)[number], readonly AudioCodec[]> = {
  mp4: ["aac", "mp3", "opus"],
  mov: ["aac", "mp3"],
  webm: ["opus", "vorbis"],
  mkv: ["aac", "opus", "mp3", "vorbis"],
};

export function transcodeInput(caps: FfmpegCapabilities) {
  return z.strictObject({
    videoId,
    container: z.enum(CONTAINERS).default("mp4"),
    videoCodec: z.enum(available(VIDEO_ENCODERS, caps)).optional().describe("default: h264, or vp9 for webm"),
    width: even(16, 7680).optional().describe("keeps the aspect ratio when height is not given"),
    height: even(16, 4320).optional(),
    quality: z.enum(QUALITIES).default("medium"),
    videoBitrateKbps: z.number().int().min(50).max(100_000).optional().describe("a target bitrate instead of a quality"),
    fps: z.number().min(1).max(120).optional(),
    audioCodec: z.enum([...available(AUDIO_ENCODERS, caps), "none"]).optional().describe("default: aac, or opus for webm; none drops audio"),
    audioBitrateKbps: z.number().int().min(32).max(512).default(128),
    faststart: z.boolean().default(true).describe("mp4/mov: index first, so playback starts before the download ends"),
  }).superRefine((i, c) => {
    if (i.videoCodec && !CONTAINER_CODECS[i.container].includes(i.videoCodec)) c.addIssue({ code: "custom", path: ["videoCodec"], message: `${i.container} cannot hold ${i.videoCodec}; use one of ${CONTAINER_CODECS[i.container].join(", ")}` });
    if (i.audioCodec && i.audioCodec !== "none" && !CONTAINER_AUDIO[i.container].includes(i.audioCodec)) c.addIssue({ code: "custom", path: ["audioCodec"], message: `${i.container} cannot hold ${i.audioCodec}; use one of ${CONTAINER_AUDIO[i.container].join(", ")}` });
  });
}

export function thumbnailsInput(caps: FfmpegCapabilities) {
  return z.strictObject({
    videoId,
    timestamps: z.array(z.number().min(0).max(86_400)).min(1).max(100).optional().describe("seconds into the video"),
    everySeconds: z.number().min(0.5).max(86_400).optional().describe("one thumbnail every N seconds (at most 100)"),
    count: z.number().int().min(1).max(100).optional().describe("evenly spaced; the default is 3"),
    width: z.number().int().min(16).max(3840).optional(),
    height: z.number().int().min(16).max(2160).optional(),
    format: z.enum(available(IMAGE_ENCODERS, caps)).default("jpg"),
    quality: z.number().int().min(1).max(100).default(80),
    storyboard: z.strictObject({
      intervalSeconds: z.number().min(0.5).max(600).default(5),
      width: z.number().int().min(32).max(640).default(160),
      columns: z.number().int().min(1).max(20).default(10),
    }).optional().describe("a sprite sheet and a WebVTT track for player scrubbing"),
  }).refine((i) => [i.timestamps, i.everySeconds, i.count].filter((v) => v !== undefined).length <= 1, "give at most one of timestamps, everySeconds, count");
}

export function analyzeInput() {
  return z.strictObject({
    videoId,
    scenes: z.boolean().default(true),
    sceneThreshold: z.number().min(0.05).max(0.95).default(0.3).describe("0..1: how different two frames must be to count as a cut"),
    loudness: z.boolean().default(true),
  });
}

export function watermarkInput(caps: FfmpegCapabilities) {
  return z.strictObject({
    videoId,
    text: z.strictObject({
      content: z.string().min(1).max(200),
      fontSize: z.number().int().min(8).max(200).default(32),
      color: hexColor.default("#FFFFFF"),
      background: hexColor.optional().describe("a box behind the text"),
      padding: z.number().int().min(0).max(100).default(10),
    }).optional(),
    imageAssetId: z.uuid().optional().describe("a PNG or JPEG Asset of yours (uploadAsset)"),
    imageScale: z.number().min(0.02).max(1).default(0.2).describe("image width as a fraction of the video's"),
    position: z.enum(POSITIONS).default("bottom-right"),
    margin: z.number().int().min(0).max(500).default(16),
    opacity: z.number().min(0.05).max(1).default(0.8),
    videoCodec: z.enum(available(VIDEO_ENCODERS, caps).filter((c) => c === "h264" || c === "h265") as ["h264"]).default("h264"),
    quality: z.enum(QUALITIES).default("medium"),
  }).refine((i) => (i.text ? 1 : 0) + (i.imageAssetId ? 1 : 0) === 1, "give exactly one of text or imageAssetId");
}

export function streamingInput() {
  return z.strictObject({
    videoId,
    formats: z.array(z.enum(["hls", "dash"])).min(1).max(2).default(["hls"]),
    renditions: z.array(z.strictObject({
      height: even(144, 2160),
      videoBitrateKbps: z.number().int().min(100).max(50_000),
      audioBitrateKbps: z.number().int().min(32).max(320).default(128),
    })).min(1).max(6).optional().describe("default: 360p, 720p and 1080p, without rungs taller than the source"),
    segmentSeconds: z.number().int().min(1).max(30).default(4),
  });
}

export const AUDIO_FORMATS = ["mp3", "aac", "ogg", "opus"] as const;
export type AudioFormat = (typeof AUDIO_FORMATS)[number];

export function audioInput(caps: FfmpegCapabilities) {
  const formats = AUDIO_FORMATS.filter((f) => encoderFor(AUDIO_ENCODERS, ({ mp3: "mp3", aac: "aac", ogg: "vorbis", opus: "opus" } as const)[f], caps));
  return z.strictObject({
    videoId,
    format: z.enum(formats as [AudioFormat, ...AudioFormat[]]).default("mp3"),
    bitrateKbps: z.number().int().min(32).max(320).default(128),
    sampleRate: z.union([z.literal(8000), z.literal(16000), z.literal(22050), z.literal(24000), z.literal(32000), z.literal(44100), z.literal(48000)]).optional(),
    channels: z.union([z.literal(1), z.literal(2)]).optional(),
    normalize: z.boolean().default(false).describe("EBU R128 loudness normalisation (two passes)"),
    loudnessTarget: z.number().min(-70).max(-5).default(-16).describe("integrated LUFS when normalize is on"),
    noiseReduction: z.enum(["off", "light", "strong"]).default("off"),
  });
}

export function optimizeInput() {
  return z.strictObject({
    videoId,
    targetSizeMB: z.number().min(0.1).max(50_000).describe("the file size to hit, in MB (10^6 bytes)"),
    maxHeight: even(144, 4320).optional().describe("downscale taller sources"),
    keepQuality: z.boolean().default(false).describe("never spend more bits than a high-quality encode would: may end below the target"),
    audioBitrateKbps: z.number().int().min(32).max(320).default(96),
  });
}
