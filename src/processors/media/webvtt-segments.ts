// A caption track's WebVTT cut into HLS subtitle segments (media.streaming). Pure: text in,
// texts out.
//
// Each segment covers the same time as the video segment of the same number, and holds every
// cue that shows during it: a cue that spans a boundary is in both segments, as RFC 8216
// (3.5) asks, and players drop the repeat (hls.js keys cues by time and text). Cue times
// stay on the track's own timeline; the X-TIMESTAMP-MAP in every segment's header says which
// MPEG-TS presentation time the track's 00:00:00.000 is, so the player lines the cues up
// with the TS segments. The header's STYLE and REGION blocks are repeated in every segment
// (a segment is a WebVTT file of its own); NOTE blocks are comments and are left out.

export type VttCue = { startSec: number; endSec: number; /** The block as written: identifier, timing line, payload. */ block: string };
export type VttFile = { header: string; styles: string[]; cues: VttCue[] };
export type SegmentSpan = { startSec: number; durationSec: number };

const TIME = String.raw`(?:(\d+):)?([0-5]\d):([0-5]\d)\.(\d{3})`;
const TIMING = new RegExp(String.raw`^${TIME}[ \t]+-->[ \t]+${TIME}(?:[ \t].*)?$`);

/** The 33-bit MPEG-TS clock runs at 90 kHz. */
export const MPEGTS_HZ = 90_000;
const PTS_WRAP = 2 ** 33;

function seconds(m: RegExpExecArray, at: number): number {
  return Number(m[at] ?? 0) * 3600 + Number(m[at + 1]) * 60 + Number(m[at + 2]) + Number(m[at + 3]) / 1000;
}

/**
 * The header, the STYLE/REGION blocks before the first cue, and the cues of a WebVTT file.
 * Throws when the text is not WebVTT (no WEBVTT signature); blocks whose timing line does
 * not parse are dropped, as a WebVTT parser drops them.
 */
export function parseWebVtt(text: string): VttFile {
  const lines = text.replace(/^\uFEFF/, "").replace(/\r\n?/g, "\n");
  if (!/^WEBVTT(?:[ \t\n]|$)/.test(lines)) throw new Error("not a WebVTT file: it does not start with WEBVTT");
  const blocks = lines.split(/\n[ \t]*\n+/).map((b) => b.replace(/^\n+|\n+$/g, "")).filter((b) => b.trim() !== "");
  // An earlier X-TIMESTAMP-MAP would describe another timeline; the packager writes its own.
  const header = blocks.shift()!.split("\n").filter((l) => !l.startsWith("X-TIMESTAMP-MAP=")).join("\n");
  const styles: string[] = [];
  const cues: VttCue[] = [];
  for (const block of blocks) {
    const rows = block.split("\n");
    const first = rows[0]!;
    if (/^NOTE(?:[ \t]|$)/.test(first)) continue;
    if (/^(?:STYLE|REGION)[ \t]*$/.test(first)) {
      if (cues.length === 0) styles.push(block);
      continue;
    }
    const timingAt = first.includes("-->") ? 0 : 1;
    const m = TIMING.exec(rows[timingAt]?.trim() ?? "");
    if (!m) continue;
    const startSec = seconds(m, 1);
    const endSec = seconds(m, 5);
    if (endSec <= startSec) continue;
    cues.push({ startSec, endSec, block });
  }
  return { header, styles, cues };
}

/** The header line that maps the track's time 0 to an MPEG-TS presentation time (90 kHz ticks). */
export function timestampMap(pts: number): string {
  if (!Number.isInteger(pts) || pts < 0) throw new Error(`MPEG-TS time ${pts} must be a non-negative integer`);
  return `X-TIMESTAMP-MAP=MPEGTS:${pts % PTS_WRAP},LOCAL:00:00:00.000`;
}

/**
 * One WebVTT text per span: the cues that overlap it (the last span also takes every cue
 * after it, so a cue past the video's end is not lost), each file headed by the map.
 */
export function segmentWebVtt(file: VttFile, spans: readonly SegmentSpan[], pts: number): string[] {
  if (spans.length === 0) throw new Error("no segments to cut the track into");
  const [signature, ...rest] = file.header.split("\n");
  const head = [[signature, timestampMap(pts), ...rest].join("\n"), ...file.styles].join("\n\n");
  return spans.map((span, i) => {
    const from = span.startSec;
    const to = i === spans.length - 1 ? Infinity : span.startSec + span.durationSec;
    const inside = file.cues.filter((c) => c.startSec < to && c.endSec > from);
    return `${[head, ...inside.map((c) => c.block)].join("\n\n")}\n`;
  });
}

/** The whole track as one WebVTT file, without a timestamp map (a DASH side-loaded track). */
export function wholeWebVtt(file: VttFile): string {
  return `${[file.header, ...file.styles, ...file.cues.map((c) => c.block)].join("\n\n")}\n`;
}
