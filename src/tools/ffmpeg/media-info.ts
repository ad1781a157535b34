// ffprobe's JSON turned into MediaInfo, the facts processors decide on. ffprobe leaves
// out, or writes "N/A" for, whatever a container does not state, so every number here may
// be null, and two generations of rotation metadata are read.
export type MediaInfo = {
  formatName: string;
  durationSec: number | null;
  sizeBytes: number;
  bitRate: number | null;
  tags: Record<string, string>;
  video: {
    codec: string;
    width: number;
    height: number;
    fps: number | null;
    bitRate: number | null;
    pixFmt: string | null;
    rotation: number;
    frames: number | null;
  } | null;
  audio: { codec: string; channels: number; sampleRate: number; bitRate: number | null; channelLayout: string | null } | null;
  streamCount: number;
};

export type ProbeStream = Record<string, unknown> & { codec_type?: string; disposition?: Record<string, number>; tags?: Record<string, unknown> };
export type ProbeData = { format?: Record<string, unknown>; streams?: ProbeStream[] };

/** A number ffprobe printed, or null for a missing, empty or "N/A" one. */
export function num(v: unknown): number | null {
  if (v === undefined || v === null || v === "" || v === "N/A") return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

function ratio(v: unknown): number | null {
  if (typeof v !== "string") return null;
  const [a, b] = v.split("/").map(Number);
  if (a === undefined || !Number.isFinite(a) || a <= 0) return null;
  if (b === undefined) return a;
  return Number.isFinite(b) && b > 0 ? a / b : null;
}

function stringTags(tags: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (tags && typeof tags === "object") for (const [k, v] of Object.entries(tags)) out[k] = String(v);
  return out;
}

function rotationOf(stream: ProbeStream): number {
  // Older muxers/ffprobes give a "rotate" tag (clockwise); newer ones a display matrix
  // whose rotation is counter-clockwise.
  let deg: number | null = num(stream.tags?.rotate);
  if (deg === null && Array.isArray(stream.side_data_list)) {
    for (const sd of stream.side_data_list as Record<string, unknown>[]) {
      const r = num(sd.rotation);
      if (r !== null) {
        deg = -r;
        break;
      }
    }
  }
  if (deg === null) return 0;
  return (((Math.round(deg / 90) * 90) % 360) + 360) % 360;
}

export function mediaInfoFromProbe(data: ProbeData, fileSize: number): MediaInfo {
  const format = data.format ?? {};
  const streams = data.streams ?? [];
  // Cover art in audio files is a video stream with attached_pic: not a video.
  const v = streams.find((s) => s.codec_type === "video" && !s.disposition?.attached_pic);
  const a = streams.find((s) => s.codec_type === "audio");
  return {
    formatName: String(format.format_name ?? ""),
    durationSec: num(format.duration),
    sizeBytes: num(format.size) ?? fileSize,
    bitRate: num(format.bit_rate),
    tags: stringTags(format.tags),
    video: v
      ? {
          codec: String(v.codec_name ?? "unknown"),
          width: num(v.width) ?? 0,
          height: num(v.height) ?? 0,
          fps: ratio(v.avg_frame_rate),
          bitRate: num(v.bit_rate),
          pixFmt: typeof v.pix_fmt === "string" ? v.pix_fmt : null,
          rotation: rotationOf(v),
          frames: num(v.nb_frames),
        }
      : null,
    audio: a
      ? {
          codec: String(a.codec_name ?? "unknown"),
          channels: num(a.channels) ?? 0,
          sampleRate: num(a.sample_rate) ?? 0,
          bitRate: num(a.bit_rate),
          channelLayout: typeof a.channel_layout === "string" ? a.channel_layout : null,
        }
      : null,
    streamCount: streams.length,
  };
}
