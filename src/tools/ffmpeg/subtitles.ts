// The subtitle streams inside a media file: which there are (from ffprobe's stream list) and
// one of them written out as WebVTT by ffmpeg, so that every caption Spool keeps, attached or
// embedded, is read by the same parser (tools/captions). Text streams only: bitmap subtitles
// (Blu-ray PGS, DVD, DVB) are pictures of text and would need OCR.
import type { FfmpegInput, FfmpegSpec } from "./argv.ts";
import type { Ffmpeg } from "./ffmpeg.ts";
import { num, type ProbeStream } from "./media-info.ts";
import type { ProbeOptions } from "./probe.ts";
import type { RunResult } from "./run.ts";

/** Codecs ffmpeg decodes to text and its webvtt encoder writes (both builds Spool runs). */
export const TEXT_SUBTITLE_CODECS: ReadonlySet<string> = new Set(["subrip", "srt", "ass", "ssa", "mov_text", "webvtt", "text"]);
/** Pictures of text: listed, never extracted. */
export const BITMAP_SUBTITLE_CODECS: ReadonlySet<string> = new Set(["hdmv_pgs_subtitle", "dvd_subtitle", "dvb_subtitle", "xsub"]);

export type SubtitleStream = {
  /** ffprobe's stream index (what `-map 0:<index>` takes). */
  index: number;
  codec: string;
  /** Extractable as WebVTT; false for bitmap and unknown codecs. */
  text: boolean;
  bitmap: boolean;
  /** The language tag as the container has it ("eng", "fre", "pt-BR"), null when absent or "und". */
  language: string | null;
  /** The title tag ("English SDH"), null when absent. */
  title: string | null;
  hearingImpaired: boolean;
  forced: boolean;
  isDefault: boolean;
};

function tag(stream: ProbeStream, name: string): string | null {
  // Matroska writes tags in upper case for some muxers (TITLE, LANGUAGE); mp4 in lower case.
  const tags = stream.tags ?? {};
  const key = Object.keys(tags).find((k) => k.toLowerCase() === name);
  const v = key === undefined ? null : String(tags[key] ?? "").trim();
  return v ? v : null;
}

/** The subtitle streams of ffprobe's stream list, in index order. */
export function subtitleStreams(streams: readonly ProbeStream[]): SubtitleStream[] {
  const out: SubtitleStream[] = [];
  for (const s of streams) {
    if (s.codec_type !== "subtitle") continue;
    const index = num(s.index);
    if (index === null || !Number.isInteger(index) || index < 0) continue;
    const codec = String(s.codec_name ?? "unknown");
    const language = tag(s, "language");
    out.push({
      index,
      codec,
      text: TEXT_SUBTITLE_CODECS.has(codec),
      bitmap: BITMAP_SUBTITLE_CODECS.has(codec),
      language: language && language.toLowerCase() !== "und" ? language : null,
      title: tag(s, "title"),
      hearingImpaired: s.disposition?.hearing_impaired === 1,
      forced: s.disposition?.forced === 1,
      isDefault: s.disposition?.default === 1,
    });
  }
  return out.sort((a, b) => a.index - b.index);
}

/** Lists a file's subtitle streams (ffprobe, forced demuxer as for every probe). */
export async function listSubtitleStreams(ffmpeg: Ffmpeg, path: string, opts: ProbeOptions = {}): Promise<SubtitleStream[]> {
  return subtitleStreams(await ffmpeg.streams(path, "s", opts));
}

/** One subtitle stream of `input` as a WebVTT file at `out`. */
export function extractSubtitleSpec(input: FfmpegInput, index: number, out: string): FfmpegSpec {
  if (!Number.isInteger(index) || index < 0) throw new RangeError(`stream index ${index} is not a stream index`);
  return { inputs: [input], outputs: [{ path: out, args: ["-map", `0:${index}`, "-c:s", "webvtt", "-f", "webvtt"] }] };
}

/** Writes stream `index` of `input` to `out` as WebVTT. Rejects with FfmpegError, or ABORTED. */
export function extractSubtitle(
  ffmpeg: Ffmpeg, input: FfmpegInput, index: number, out: string,
  opts: { signal: AbortSignal; maxOutputBytes: number; timeoutMs?: number; onStderrLine?: (line: string) => void },
): Promise<RunResult> {
  return ffmpeg.run(extractSubtitleSpec(input, index, out), opts);
}
