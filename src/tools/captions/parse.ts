// SubRip and WebVTT files as tools and people really write them, read into cues. Pure: no
// I/O. What real files do, and what this accepts:
// - a byte-order mark (UTF-8, UTF-16 LE/BE); no BOM and not UTF-8: Windows-1252, what
//   SubRip files from Windows tools are when they are not UTF-8;
// - CRLF, LF or lone CR line ends, extra blank lines, trailing spaces;
// - SubRip indexes 0-based, missing, repeated or out of order (they are ignored: cues are
//   ordered by time), a cue text line that is a number, no blank line before the next index;
// - times with "," or ".", one-digit hours or none, one to three fraction digits;
// - cue settings after the timing (WebVTT's `align:start position:10%`, kept; SubRip's
//   `X1:… Y2:…`, dropped);
// - WebVTT's header text, STYLE, REGION and NOTE blocks and cue identifiers.
// A cue ending at or before its start is dropped and counted. Anything that is not captions
// is INVALID_INPUT naming the line.
import { SpoolError } from "../../errors.ts";
import { readCueText } from "./cue-text.ts";

export type Cue = {
  startMs: number;
  endMs: number;
  /** Plain text, for search. */
  text: string;
  /** WebVTT cue text lines, for players. */
  lines: string[];
  /** WebVTT cue settings (`align:start line:0`), "" when none. */
  settings: string;
  /** The WebVTT cue identifier, when the file gave one. */
  id: string | null;
};

export type ParsedCaptions = {
  format: "srt" | "webvtt";
  cues: Cue[];
  /** Cues whose end is not after their start. */
  dropped: number;
  /** Cues with a timing but no text. */
  empty: number;
  /** WebVTT STYLE and REGION blocks, as written (kept in the normalized file). */
  blocks: string[];
  /** Up to 20 lines that were skipped and why ("line 12: …"). */
  warnings: string[];
};

export const MAX_CUES = 50_000;
export const MAX_CUE_CHARS = 2_000;
const MAX_WARNINGS = 20;

// h:mm:ss,mmm with the hours optional and 1-3 fraction digits (or none), "," or "." or ":".
const TIME = String.raw`(?:(\d{1,3}):)?(\d{1,2}):(\d{1,2})(?:[,.:](\d{1,3}))?`;
const TIMING = new RegExp(String.raw`^\s*${TIME}\s*-{1,2}>\s*${TIME}(?:\s+(.*))?$`);
/** A line meant as a timing (an arrow, or a clock time with a fraction) that TIMING does not read. */
const LOOKS_LIKE_TIMING = /-->|^\s*\d{1,2}:\d{2}:\d{2}[,.]\d+\s*(?:-|$)/;
const VTT_SETTING = /^(vertical:(?:rl|lr)|line:-?\d+(?:\.\d+)?%?(?:,(?:start|center|end))?|position:\d+(?:\.\d+)?%(?:,(?:line-left|center|line-right))?|size:\d+(?:\.\d+)?%|align:(?:start|center|end|left|right|middle)|region:[^\s:]+)$/;

function invalid(line: number, what: string): never {
  throw new SpoolError("INVALID_INPUT", `Not a caption file Spool can read: line ${line}: ${what}.`, { line });
}

function ms(h: string | undefined, m: string, s: string, frac: string | undefined): number | null {
  const min = Number(m);
  const sec = Number(s);
  if (min > 59 || sec > 59) return null;
  const fraction = frac === undefined ? 0 : Math.round(Number(`0.${frac}`) * 1000);
  return ((Number(h ?? 0) * 60 + min) * 60 + sec) * 1000 + fraction;
}

type Timing = { startMs: number; endMs: number; settings: string };

function readTiming(line: string, lineNo: number): Timing | null {
  const m = TIMING.exec(line);
  if (!m) {
    if (LOOKS_LIKE_TIMING.test(line)) invalid(lineNo, `a malformed cue timing ${JSON.stringify(line.slice(0, 80))} (expected 00:00:01,000 --> 00:00:02,500)`);
    return null;
  }
  const startMs = ms(m[1], m[2]!, m[3]!, m[4]);
  const endMs = ms(m[5], m[6]!, m[7]!, m[8]);
  if (startMs === null || endMs === null) invalid(lineNo, `minutes and seconds must be below 60 in ${JSON.stringify(line.slice(0, 80))}`);
  return { startMs, endMs, settings: m[9] ?? "" };
}

/** The text of a caption file from its bytes: BOM-detected UTF-16/UTF-8, else UTF-8, else Windows-1252. */
export function decodeCaptionBytes(bytes: Uint8Array): string {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b[0] === 0xff && b[1] === 0xfe) return new TextDecoder("utf-16le").decode(b.subarray(2));
  if (b[0] === 0xfe && b[1] === 0xff) return new TextDecoder("utf-16be").decode(b.subarray(2));
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(b);
  } catch {
    return windows1252(b);
  }
}

// 0x80-0x9F of Windows-1252 (0 where it has no character); the rest is Latin-1. Written out
// because Node's TextDecoder("windows-1252") decodes Latin-1 (Node 20-22).
const CP1252_HIGH = [
  0x20ac, 0, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0, 0x17d, 0,
  0, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0, 0x17e, 0x178,
];

function windows1252(b: Buffer): string {
  let out = "";
  for (const byte of b) out += String.fromCharCode(byte >= 0x80 && byte <= 0x9f ? CP1252_HIGH[byte - 0x80] || 0xfffd : byte);
  return out;
}

class Builder {
  cues: Cue[] = [];
  dropped = 0;
  empty = 0;
  warnings: string[] = [];

  warn(line: number, what: string) {
    if (this.warnings.length < MAX_WARNINGS) this.warnings.push(`line ${line}: ${what}`);
  }

  add(timing: Timing, id: string | null, textLines: string[], lineNo: number, settings: string) {
    const raw = textLines.join("\n");
    if (raw.length > MAX_CUE_CHARS) {
      throw new SpoolError("INVALID_INPUT", `The cue at line ${lineNo} has ${raw.length} characters of text; a cue has at most ${MAX_CUE_CHARS}.`, { line: lineNo });
    }
    if (timing.endMs <= timing.startMs) {
      this.dropped++;
      return this.warn(lineNo, "the cue ends before it starts; dropped");
    }
    const t = readCueText(raw, timing.startMs, timing.endMs);
    if (!t.text) {
      this.empty++;
      return;
    }
    if (this.cues.length >= MAX_CUES) throw new SpoolError("INVALID_INPUT", `The file has more than ${MAX_CUES} cues.`, { limit: MAX_CUES });
    const s = t.line && !/\bline:/.test(settings) ? [settings, `line:${t.line}`].filter(Boolean).join(" ") : settings;
    this.cues.push({ startMs: timing.startMs, endMs: timing.endMs, text: t.text, lines: t.lines, settings: s, id });
  }
}

/** WebVTT settings a player understands; SubRip's X1:… Y2:… and anything else go. */
function vttSettings(settings: string): string {
  return settings.split(/\s+/).filter((s) => VTT_SETTING.test(s)).join(" ");
}

function parseSrt(lines: string[], b: Builder) {
  const n = lines.length;
  let i = 0;
  let sawCue = false;
  while (i < n) {
    const line = lines[i]!;
    if (line.trim() === "") {
      i++;
      continue;
    }
    let timing = readTiming(line, i + 1);
    let at = i;
    if (!timing) {
      // An index (any text: 0, 12, "12 ", repeated) when the next line is the timing.
      timing = i + 1 < n ? readTiming(lines[i + 1]!, i + 2) : null;
      if (!timing) {
        if (!sawCue) invalid(i + 1, `expected a cue (an index or a timing such as 00:00:01,000 --> 00:00:02,500), found ${JSON.stringify(line.slice(0, 80))}`);
        // Text after a blank line inside a cue: it belongs to the cue before.
        const prev = b.cues[b.cues.length - 1];
        if (prev) {
          const t = readCueText(line, prev.startMs, prev.endMs);
          if (t.text) prev.text = `${prev.text} ${t.text}`, prev.lines.push(...t.lines);
        }
        b.warn(i + 1, "text after a blank line, kept with the cue before");
        i++;
        continue;
      }
      at = i + 1;
    }
    sawCue = true;
    const text: string[] = [];
    let j = at + 1;
    for (; j < n; j++) {
      const l = lines[j]!;
      if (l.trim() === "") break;
      // No blank line before the next cue: its timing, or its index followed by its timing.
      if (TIMING.test(l) || (/^\s*\d+\s*$/.test(l) && j + 1 < n && TIMING.test(lines[j + 1]!))) break;
      text.push(l);
    }
    b.add(timing, null, text, at + 1, vttSettings(timing.settings).split(" ").filter((s) => !s.startsWith("region:")).join(" "));
    i = j;
  }
}

const isTiming = (l: string) => l.includes("-->") || TIMING.test(l);

function parseVtt(lines: string[], from: number, b: Builder, blocks: string[]) {
  const n = lines.length;
  let i = from + 1;
  // Header text (and old X-TIMESTAMP-MAP lines) up to the first blank line. A cue timing
  // right under the header is a cue (some writers leave out the blank line).
  while (i < n && lines[i]!.trim() !== "" && !isTiming(lines[i]!)) i++;
  let sawCue = false;
  while (i < n) {
    if (lines[i]!.trim() === "") {
      i++;
      continue;
    }
    const start = i;
    while (i < n && lines[i]!.trim() !== "") i++;
    const block = lines.slice(start, i);
    const first = block[0]!;
    if (/^NOTE(?:[ \t]|$)/.test(first)) continue;
    if (/^(STYLE|REGION)[ \t]*$/.test(first) && !block.some(isTiming)) {
      if (sawCue) b.warn(start + 1, `a ${first.trim()} block after the first cue is ignored`);
      // A style that loads something (url(), @import) would make every viewer's player fetch it.
      else if (block.some((l) => /url\s*\(|@import/i.test(l))) b.warn(start + 1, `a ${first.trim()} block that loads a resource (url() or @import) is dropped`);
      else blocks.push(block.map((l) => l.trimEnd()).join("\n"));
      continue;
    }
    const timingAt = isTiming(first) ? 0 : block.length > 1 && isTiming(block[1]!) ? 1 : -1;
    if (timingAt < 0) {
      const bad = block.findIndex((l) => LOOKS_LIKE_TIMING.test(l));
      if (bad >= 0) invalid(start + bad + 1, `a malformed cue timing ${JSON.stringify(block[bad]!.slice(0, 80))}`);
      // WebVTT skips a block it cannot read; so do players.
      b.warn(start + 1, `a block with no cue timing is ignored: ${JSON.stringify(first.slice(0, 80))}`);
      continue;
    }
    const timing = readTiming(block[timingAt]!, start + timingAt + 1);
    if (!timing) invalid(start + timingAt + 1, `a malformed cue timing ${JSON.stringify(block[timingAt]!.slice(0, 80))}`);
    sawCue = true;
    const id = timingAt === 1 ? first.trim().replace(/-->/g, "->") || null : null;
    // A line with "-->" ends the cue's text (WebVTT): the rest of the block is dropped.
    const textEnd = block.findIndex((l, k) => k > timingAt && l.includes("-->"));
    const text = block.slice(timingAt + 1, textEnd < 0 ? undefined : textEnd);
    if (textEnd >= 0) b.warn(start + textEnd + 1, "a second timing in one block (a missing blank line?); its cue is dropped");
    b.add(timing, id, text, start + timingAt + 1, vttSettings(timing.settings));
  }
}

/**
 * Reads a SubRip or WebVTT file (its text, or its bytes). Cues come back in time order.
 * Throws INVALID_INPUT for what is not captions, a cue over MAX_CUE_CHARS or more than MAX_CUES cues.
 */
export function parseCaptions(input: string | Uint8Array): ParsedCaptions {
  let text = typeof input === "string" ? input : decodeCaptionBytes(input);
  text = text.replace(/^\uFEFF/, "").replace(/\u0000/g, "");
  const lines = text.split(/\r\n|\r|\n/);
  const b = new Builder();
  const blocks: string[] = [];
  const firstLine = lines.findIndex((l) => l.trim() !== "");
  if (firstLine < 0) invalid(1, "the file is empty");
  const format = /^WEBVTT(?:[ \t]|$)/.test(lines[firstLine]!.trimStart()) ? "webvtt" : "srt";
  if (format === "webvtt") parseVtt(lines, firstLine, b, blocks);
  else parseSrt(lines, b);
  if (b.cues.length === 0) {
    const why = b.dropped ? `all ${b.dropped} cues end before they start` : b.empty ? "every cue is empty" : "it has no cues";
    throw new SpoolError("INVALID_INPUT", `The ${format === "srt" ? "SubRip" : "WebVTT"} file has nothing to show: ${why}.`, { warnings: b.warnings });
  }
  // Stable: cues starting together keep the file's order.
  const cues = b.cues.map((c, k) => [c, k] as const).sort((x, y) => x[0].startMs - y[0].startMs || x[0].endMs - y[0].endMs || x[1] - y[1]).map(([c]) => c);
  return { format, cues, dropped: b.dropped, empty: b.empty, blocks, warnings: b.warnings };
}
