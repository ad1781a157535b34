// On-screen text over time: the lines OCR read in each frame are followed from frame to
// frame, and each run of frames showing the same text (or nearly: OCR misreads a letter
// here and there) becomes one segment, from the first frame that shows it to the first
// frame where it is gone or changed. Lines are followed one by one, not whole frames,
// because a frame often shows several texts that change at different times (a clock or a
// ticker beside a title): the title must stay one segment while the clock ticks.
// Pure: no I/O, so every rule here is tested on its own.
import type { OcrResult } from "../../tools/ocr/types.ts";

export type Box = { x: number; y: number; width: number; height: number };
export type TextLine = { text: string; tokens: string[]; confidences: number[]; box: Box };
export type FrameText = { timeSec: number; lines: TextLine[] };
export type TextSegment = { text: string; startMs: number; durationMs: number; confidence: number; box: Box };

/** Two readings are the same text from this similarity on (token overlap, or characters for misreads). */
export const SAME_TEXT = 0.8;
/** A reading inside another (each of its tokens there, or its letters in a row) is the same text from this share of the characters on. */
const CONTAINED_SHARE = 0.6;
/**
 * Text seen in one frame only must be read with this mean confidence at least: moving
 * texture is read as short words at 60–70 (measured on testsrc2 and a zooming Mandelbrot),
 * real text at 85 and up, and real text stays on screen for more than one frame.
 */
export const ONE_FRAME_CONFIDENCE = 80;

/** Lowercase letters and digits of a word; what is compared, not what is shown. */
export function normalizeWord(word: string): string {
  return word.normalize("NFKC").toLowerCase().replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, "");
}

/**
 * The lines of one OCR result with the words worth keeping: confidence at least
 * `minConfidence` and at least two letters or digits (single characters are mostly texture
 * read as I, l or 1). Boxes are divided by `scale`, back into the source's pixels.
 */
export function linesOf(result: OcrResult, opts: { minConfidence: number; scale: number }): TextLine[] {
  const out: TextLine[] = [];
  for (const line of result.lines) {
    const kept = line.words.filter((w) => w.confidence >= opts.minConfidence && (normalizeWord(w.text).match(/[\p{L}\p{N}]/gu)?.length ?? 0) >= 2);
    if (!kept.length) continue;
    const x0 = Math.min(...kept.map((w) => w.bbox.x0)) / opts.scale;
    const y0 = Math.min(...kept.map((w) => w.bbox.y0)) / opts.scale;
    const x1 = Math.max(...kept.map((w) => w.bbox.x1)) / opts.scale;
    const y1 = Math.max(...kept.map((w) => w.bbox.y1)) / opts.scale;
    out.push({
      text: kept.map((w) => w.text.trim()).join(" "),
      tokens: kept.map((w) => normalizeWord(w.text)),
      confidences: kept.map((w) => w.confidence),
      box: { x: x0, y: y0, width: x1 - x0, height: y1 - y0 },
    });
  }
  return out;
}

function area(b: Box): number {
  return Math.max(0, b.width) * Math.max(0, b.height);
}

function intersection(a: Box, b: Box): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  return w > 0 && h > 0 ? w * h : 0;
}

function score(l: TextLine): number {
  return l.confidences.reduce((n, c) => n + c, 0);
}

/**
 * One frame's lines from its readings (the grey picture and the light-text mask): where
 * two readings overlap (most of the smaller box), the one with more confident text wins.
 */
export function mergeReadings(readings: TextLine[][]): TextLine[] {
  const all = readings.flat().sort((a, b) => score(b) - score(a));
  const kept: TextLine[] = [];
  for (const line of all) {
    const clash = kept.some((k) => intersection(k.box, line.box) > 0.5 * Math.min(area(k.box), area(line.box)));
    if (!clash) kept.push(line);
  }
  return kept.sort((a, b) => a.box.y - b.box.y || a.box.x - b.box.x);
}

function levenshtein(a: string, b: string): number {
  if (a === b) return 0;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** 0..1: the largest of the shared-token share, the character similarity and containment. */
export function similarity(a: string[], b: string[]): number {
  if (!a.length || !b.length) return 0;
  const counts = new Map<string, number>();
  for (const t of a) counts.set(t, (counts.get(t) ?? 0) + 1);
  let shared = 0;
  for (const t of b) {
    const n = counts.get(t) ?? 0;
    if (n > 0) {
      shared++;
      counts.set(t, n - 1);
    }
  }
  const tokens = shared / Math.max(a.length, b.length);
  const sa = a.join(" ");
  const sb = b.join(" ");
  const longest = Math.max(sa.length, sb.length);
  const chars = 1 - levenshtein(sa, sb) / longest;
  // One reading lost a word or a letter to low confidence ("LIGHTHOUSE" for "LIGHTHOUSE 42",
  // "UAY" for "QUAY"): still the same text while it is inside the other and most of it.
  const fewer = a.length <= b.length ? a : b;
  const [short, long] = sa.length <= sb.length ? [sa, sb] : [sb, sa];
  const inside = shared === fewer.length || long.includes(short);
  const share = short.length / longest;
  const within = inside && share >= CONTAINED_SHARE ? Math.max(SAME_TEXT, share) : 0;
  return Math.max(tokens, chars, within);
}

type Open = {
  frames: number; startSec: number; last: string[]; readings: Map<string, { count: number; score: number; best: number; box: Box }>;
  confidenceSum: number; words: number;
};

function add(seg: Open, line: TextLine): void {
  seg.frames++;
  seg.last = line.tokens;
  const r = seg.readings.get(line.text) ?? { count: 0, score: 0, best: -1, box: line.box };
  const better = score(line) > r.best;
  seg.readings.set(line.text, { count: r.count + 1, score: r.score + score(line), best: better ? score(line) : r.best, box: better ? line.box : r.box });
  seg.confidenceSum += score(line);
  seg.words += line.confidences.length;
}

function close(seg: Open, endSec: number, bounds: { width: number; height: number }): TextSegment | null {
  if (seg.frames === 1 && seg.confidenceSum / seg.words < ONE_FRAME_CONFIDENCE) return null;
  // The reading seen most often (then the most confident) stands for the segment, with the
  // words' box of the frame where it was read best: a union over every frame would take in
  // the texture OCR sometimes reads into a line (measured: 50 px off on the test video).
  const [text, { box: best }] = [...seg.readings.entries()].sort((a, b) => b[1].count - a[1].count || b[1].score - a[1].score)[0]!;
  const x = Math.max(0, Math.floor(best.x));
  const y = Math.max(0, Math.floor(best.y));
  const box = {
    x, y,
    width: Math.max(1, Math.min(bounds.width, Math.ceil(best.x + best.width)) - x),
    height: Math.max(1, Math.min(bounds.height, Math.ceil(best.y + best.height)) - y),
  };
  const startMs = Math.round(seg.startSec * 1000);
  return {
    text, startMs, durationMs: Math.max(1, Math.round(endSec * 1000) - startMs),
    confidence: Math.round((seg.confidenceSum / seg.words) * 100) / 100, box,
  };
}

/**
 * Segments from frames in time order. `endSec` is where the last texts stop (the end of
 * the video); `bounds` the source's picture, which boxes are clipped to.
 */
export function trackText(frames: FrameText[], endSec: number, bounds: { width: number; height: number }): TextSegment[] {
  const done: (TextSegment | null)[] = [];
  let open: Open[] = [];
  for (const frame of [...frames].sort((a, b) => a.timeSec - b.timeSec)) {
    // Best matches first, each open text and each line used once.
    const pairs: { seg: Open; line: TextLine; sim: number }[] = [];
    for (const seg of open) for (const line of frame.lines) {
      const sim = similarity(seg.last, line.tokens);
      if (sim >= SAME_TEXT) pairs.push({ seg, line, sim });
    }
    pairs.sort((a, b) => b.sim - a.sim);
    const matched = new Set<Open>();
    const used = new Set<TextLine>();
    for (const p of pairs) {
      if (matched.has(p.seg) || used.has(p.line)) continue;
      matched.add(p.seg);
      used.add(p.line);
      add(p.seg, p.line);
    }
    for (const seg of open) if (!matched.has(seg)) done.push(close(seg, frame.timeSec, bounds));
    open = open.filter((s) => matched.has(s));
    for (const line of frame.lines) {
      if (used.has(line)) continue;
      const seg: Open = { frames: 0, startSec: frame.timeSec, last: line.tokens, readings: new Map(), confidenceSum: 0, words: 0 };
      add(seg, line);
      open.push(seg);
    }
  }
  const last = frames.reduce((m, f) => Math.max(m, f.timeSec), 0);
  for (const seg of open) done.push(close(seg, Math.max(endSec, last), bounds));
  return done.filter((s) => s !== null).sort((a, b) => a.startMs - b.startMs || a.box.y - b.box.y);
}
