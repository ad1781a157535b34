// Page layout → structure: turns positioned words (pdf.js via src/tools/pdf.ts, or OCR) into
// headings, paragraphs and lists, and renders them as plain text, Markdown and HTML.
// Pure: no I/O, no database. Geometry is in PDF points, origin top-left, y grows downward.
//
// Everything is a heuristic on sizes and gaps, measured relative to the document itself (body
// size, usual line pitch, typical character width) so that it works at any scale and for any
// font. Known limits: no column detection (side-by-side columns are merged line by line),
// nested lists are flattened, tables come out as paragraphs, an ordered list is numbered from 1
// (one continued from the previous page restarts).

export type LayoutWord = { text: string; x: number; y: number; width: number; height: number };
export type LayoutPage = { page: number; width: number; height: number; words: LayoutWord[] };

export type Block =
  | { type: "heading"; level: 1 | 2 | 3; text: string }
  | { type: "paragraph"; lines: string[] } // lines as on the page; renderers reflow or keep them
  | { type: "list"; ordered: boolean; items: string[] };
export type PageLayout = {
  page: number;
  blocks: Block[];
  /**
   * The page's lines as laid out (list markers kept, horizontal gaps as spaces, "" where a
   * vertical gap is): what toText({ preserveFormatting }) prints. Optional so that hand-built
   * layouts work too; toText then rebuilds it from the blocks.
   */
  layoutLines?: string[];
};

/** Words whose baselines are within this × the median word height share a line. */
const SAME_LINE = 0.5;
/** A line pitch above this × the usual pitch (for the lines' size) is a block gap. */
const GAP_FACTOR = 1.4;
/** Consecutive lines whose heights differ by more than this ratio are different blocks. */
const SIZE_CHANGE = 1.2;
/** A short block at least this × the body size is a heading. */
const HEADING_RATIO = 1.25;
const HEADING_MAX_LINES = 2;
const HEADING_MAX_CHARS = 120;
/** Heading sizes within 10% of each other get the same level. */
const LEVEL_TOLERANCE = 0.9;

// A list marker must be followed by a space and some text, so "-5 °C" or "e.g." never match.
const BULLET = /^[•◦▪‣\-*–·○■\uF0B7]\s+(?=\S)/u;
const NUMBER = /^(?:\d{1,3}|[a-zA-Z])[.)]\s+(?=\S)/;
/** A table-of-contents entry: dot leaders, then a page number (arabic or roman) at the line's end. */
const CONTENTS_ENTRY = /(?:[.·…]\s*){3,}(?:\d{1,4}|[ivxlcdm]{1,7})$/i;

type Segment = { text: string; x: number; right: number };
type Line = { text: string; segments: Segment[]; x: number; cy: number; h: number; chars: number };
type Draft =
  | { kind: "text"; lines: Line[] }
  | { kind: "entry"; lines: [Line] } // a contents line: a paragraph of its own, never a heading
  | { kind: "list"; ordered: boolean; lines: Line[]; items: string[][]; markerX: number };

function median(values: number[]): number {
  return weightedMedian(values.map((v) => [v, 1]));
}
/** Median where each value counts `weight` times (0 when empty). */
function weightedMedian(pairs: Array<[value: number, weight: number]>): number {
  const sorted = pairs.filter(([, w]) => w > 0).sort((a, b) => a[0] - b[0]);
  const total = sorted.reduce((s, [, w]) => s + w, 0);
  let acc = 0;
  for (const [v, w] of sorted) {
    acc += w;
    if (acc >= total / 2) return v;
  }
  return 0;
}

/** Drops what cannot be placed: empty text, non-finite or zero boxes, and vertical (rotated) runs. */
function cleanWords(words: LayoutWord[]): LayoutWord[] {
  const out: LayoutWord[] = [];
  for (const w of words) {
    // Control characters would break the form-feed page separator and are invalid in HTML.
    const text = String(w.text ?? "").replace(/[\u0000-\u001f\u007f]/g, "").trim().replace(/\s+/g, " ");
    if (!text || ![w.x, w.y, w.width, w.height].every(Number.isFinite) || w.width <= 0 || w.height <= 0) continue;
    // A horizontal word of 4+ characters is always wider than half its height; a box twice as
    // tall as wide is text set vertically (margin labels, rotated stamps) and would glue lines.
    if (text.length >= 4 && w.height > 2 * w.width) continue;
    out.push({ text, x: w.x, y: w.y, width: w.width, height: w.height });
  }
  return out;
}

/** Groups a page's words into lines, top to bottom, each sorted left to right. */
function groupLines(words: LayoutWord[]): Line[] {
  if (!words.length) return [];
  const tolerance = SAME_LINE * median(words.map((w) => w.height));
  // The box bottom stands for the baseline (it sits a size-proportional descent below it): words of
  // different sizes on one line share it, where their centres would differ by half the size change.
  const base = (w: LayoutWord) => w.y + w.height;
  // Content-stream order is not reading order: sort by baseline, then cut where it moves past the
  // tolerance. Comparing with the line's first (topmost) word keeps a line from drifting down.
  const sorted = [...words].sort((a, b) => base(a) - base(b) || a.x - b.x);
  const groups: LayoutWord[][] = [];
  let anchor = 0;
  for (const w of sorted) {
    const current = groups.at(-1);
    if (current && base(w) - anchor <= tolerance) current.push(w);
    else {
      groups.push([w]);
      anchor = base(w);
    }
  }
  return groups.map((group) => {
    group.sort((a, b) => a.x - b.x);
    const segments: Segment[] = [];
    let prev: LayoutWord | null = null;
    for (const w of group) {
      const last = segments.at(-1);
      const h = Math.min(w.height, prev?.height ?? w.height);
      // Fake bold (the same text drawn twice, slightly offset): keep one copy.
      if (last && prev && w.text === prev.text && Math.abs(w.x - prev.x) < 0.3 * h) continue;
      // pdf.js splits a word into runs where the font changes mid-word; boxes that touch are one word.
      if (last && w.x - last.right < 0.1 * h) {
        last.text += w.text;
        last.right = Math.max(last.right, w.x + w.width);
      } else segments.push({ text: w.text, x: w.x, right: w.x + w.width });
      prev = w;
    }
    const text = segments.map((s) => s.text).join(" ");
    const chars = text.replace(/\s/g, "").length;
    // The line's size is that of most of its characters: one big inline symbol does not count.
    const h = weightedMedian(group.map((w) => [w.height, w.text.length]));
    const cy = median(group.map((w) => w.y + w.height / 2));
    return { text, segments, x: segments[0]!.x, cy, h, chars };
  });
}

/**
 * Renders a line with its horizontal gaps as spaces. Body-size text is placed at absolute columns
 * (x from the page's left text edge / typical character width) so that table columns and
 * indentation line up across lines. Larger text is wider than its character count: absolute
 * columns would spread a title out, so its gaps are measured in its own (scaled) character width.
 */
function spacedLine(line: Line, left: number, charWidth: number, body: number): string {
  const big = line.h > SIZE_CHANGE * body;
  let out = "";
  let prevRight = left;
  for (const s of line.segments) {
    const column = big && out ? out.length + Math.round((s.x - prevRight) / ((charWidth * line.h) / body)) : Math.round((s.x - left) / charWidth);
    // At least one space between words, whatever the rounding did.
    out += " ".repeat(Math.max(out ? 1 : 0, column - out.length)) + s.text;
    prevRight = s.right;
  }
  return out;
}

function listMarker(text: string): { ordered: boolean; rest: string } | null {
  const bullet = BULLET.exec(text);
  if (bullet) return { ordered: false, rest: text.slice(bullet[0].length) };
  const number = NUMBER.exec(text);
  return number ? { ordered: true, rest: text.slice(number[0].length) } : null;
}

/** Joins a block's lines into one, undoing end-of-line hyphenation ("exam-" + "ple" → "example"). */
export function reflow(lines: string[]): string {
  let out = "";
  for (const raw of lines) {
    const line = raw.trim().replace(/\s+/g, " ");
    if (!line) continue;
    if (!out) out = line;
    // Only before a lowercase letter: "Jean-" + "Paul" keeps its hyphen. A real compound broken
    // at its hyphen ("well-" + "known") loses it: the page cannot tell the two apart.
    else if (/\p{L}[-\u2010\u00AD]$/u.test(out) && /^\p{Ll}/u.test(line)) out = out.slice(0, -1) + line;
    else out += " " + line;
  }
  return out;
}

export function analyzeLayout(pages: LayoutPage[]): PageLayout[] {
  const cleaned = pages.map((p) => cleanWords(p.words ?? []));
  const pageLines = cleaned.map(groupLines);
  const allLines = pageLines.flat();

  // Document-wide measures, so that a page holding only a big title still has a heading.
  const body = weightedMedian(allLines.map((l) => [l.h, l.chars]));
  const charWidth = weightedMedian(cleaned.flat().map((w) => [w.width / w.text.length, w.text.length])) || 1;
  // Usual pitch as a multiple of line height, from neighbouring lines of similar size (most
  // neighbours are within a paragraph, so paragraph gaps do not move the median). Clamped so that
  // a document made only of spaced-out single lines still breaks between them.
  const ratios: number[] = [];
  for (const lines of pageLines) {
    for (let i = 1; i < lines.length; i++) {
      const a = lines[i - 1]!;
      const b = lines[i]!;
      if (Math.max(a.h, b.h) / Math.min(a.h, b.h) <= SIZE_CHANGE) ratios.push((b.cy - a.cy) / ((a.h + b.h) / 2));
    }
  }
  const pitch = ratios.length ? Math.min(1.6, Math.max(0.8, median(ratios))) : 1.2;

  const drafts = pageLines.map((lines) => {
    const left = Math.min(...lines.map((l) => l.x));
    const layoutLines: string[] = [];
    const page: Draft[] = [];
    lines.forEach((line, i) => {
      const prev = lines[i - 1];
      const current = page.at(-1);
      const gap = !prev || line.cy - prev.cy > GAP_FACTOR * pitch * ((prev.h + line.h) / 2);
      const resized = !prev || Math.max(prev.h, line.h) / Math.min(prev.h, line.h) > SIZE_CHANGE;
      if (prev && gap) layoutLines.push("");
      layoutLines.push(spacedLine(line, left, charWidth, body));

      if (CONTENTS_ENTRY.test(line.text)) {
        // It repeats a section title, often in the title's size, but it is not one (nor a list item).
        page.push({ kind: "entry", lines: [line] });
        return;
      }
      // Size wins over the marker: "1. Introduction" set larger than the body is a section title.
      const marker = line.h >= HEADING_RATIO * body ? null : listMarker(line.text);
      if (marker) {
        // Consecutive items form one list even when spaced out; a change of kind or size starts another.
        if (current?.kind === "list" && current.ordered === marker.ordered && !resized) {
          current.items.push([marker.rest]);
          current.lines.push(line);
          current.markerX = line.x;
        } else page.push({ kind: "list", ordered: marker.ordered, lines: [line], items: [[marker.rest]], markerX: line.x });
        return;
      }
      if (current && !gap && !resized) {
        // An unmarked line continues a list item only when indented past the marker (hanging indent).
        if (current.kind === "list" && line.x > current.markerX + 0.25 * line.h) {
          current.items.at(-1)!.push(line.text);
          current.lines.push(line);
          return;
        }
        if (current.kind === "text") {
          current.lines.push(line);
          return;
        }
      }
      page.push({ kind: "text", lines: [line] });
    });
    // A list is several consecutive items. A lone "2. Unified system" is a numbered title or
    // paragraph at body size, and as a list of one it would be renumbered "1.".
    const drafts = page.map((d): Draft => (d.kind === "list" && d.ordered && d.items.length === 1 ? { kind: "text", lines: d.lines } : d));
    return { layoutLines, drafts };
  });

  const sizeOf = (d: Draft) => weightedMedian(d.lines.map((l) => [l.h, l.chars]));
  const isHeading = (d: Draft) =>
    d.kind === "text" &&
    d.lines.length <= HEADING_MAX_LINES &&
    d.lines.reduce((n, l) => n + l.text.length, 0) <= HEADING_MAX_CHARS &&
    sizeOf(d) >= HEADING_RATIO * body;

  // Heading levels: distinct sizes, largest first; a size within 10% of its group's largest joins it.
  const levelSizes: number[] = [];
  const headingSizes = drafts.flatMap((p) => p.drafts.filter(isHeading).map(sizeOf)).sort((a, b) => b - a);
  for (const s of headingSizes) if (!levelSizes.length || s < levelSizes.at(-1)! * LEVEL_TOLERANCE) levelSizes.push(s);
  const levelOf = (size: number): 1 | 2 | 3 => {
    let index = 0;
    levelSizes.forEach((s, i) => {
      if (size <= s) index = i;
    });
    return Math.min(index + 1, 3) as 1 | 2 | 3;
  };

  return drafts.map(({ layoutLines, drafts: page }, i) => ({
    page: pages[i]!.page,
    blocks: page.map((d): Block => {
      if (d.kind === "list") return { type: "list", ordered: d.ordered, items: d.items.map(reflow) };
      if (isHeading(d)) return { type: "heading", level: levelOf(sizeOf(d)), text: reflow(d.lines.map((l) => l.text)) };
      return { type: "paragraph", lines: d.lines.map((l) => l.text) };
    }),
    layoutLines,
  }));
}

type RenderOptions = { preserveFormatting?: boolean };

function listLines(b: Extract<Block, { type: "list" }>): string[] {
  return b.items.map((item, i) => `${b.ordered ? `${i + 1}.` : "-"} ${item}`);
}

export function toText(pages: PageLayout[], opts: RenderOptions = {}): string {
  return pages
    .map((p) => {
      let lines: string[];
      if (opts.preserveFormatting && p.layoutLines) lines = p.layoutLines;
      else {
        const blocks = p.blocks.map((b) => {
          if (b.type === "heading") return [b.text];
          if (b.type === "list") return listLines(b);
          return opts.preserveFormatting ? b.lines : [reflow(b.lines)];
        });
        lines = blocks.flatMap((b, i) => (i ? ["", ...b] : b));
      }
      return lines.length ? lines.join("\n") + "\n" : "";
    })
    .join("\f"); // the pdftotext convention
}

/** Escapes what Markdown would read as syntax anywhere in a line. */
function mdInline(s: string): string {
  return s
    .replace(/[\\`*[\]<~]/g, "\\$&")
    .replace(/&(?=#?[a-z0-9]+;)/gi, "\\&") // "&amp;" would render as "&"
    .replace(/_/g, (m, i: number, all: string) => {
      // Underscores inside a word never emphasise (snake_case stays readable).
      const word = /[\p{L}\p{N}]/u;
      return word.test(all[i - 1] ?? "") && word.test(all[i + 1] ?? "") ? m : "\\_";
    });
}
/** Escapes block syntax at the start of a line (headings, list markers, quotes, setext underlines). */
function mdLine(s: string): string {
  return mdInline(s)
    .replace(/^(#{1,6})(?=\s|$)/, "\\$1")
    .replace(/^(\d{1,9})([.)])(?=\s|$)/, "$1\\$2")
    .replace(/^([-+])(?=\s|$)/, "\\$1")
    .replace(/^>/, "\\>")
    .replace(/^([=-])(?=[=-]*\s*$)/, "\\$1");
}

export function toMarkdown(pages: PageLayout[], opts: RenderOptions = {}): string {
  const out = pages
    .map((p) =>
      p.blocks
        .map((b) => {
          // A trailing run of # would be read as the heading's closing sequence.
          if (b.type === "heading") return `${"#".repeat(b.level)} ${mdInline(b.text).replace(/(^|\s)(#+)\s*$/, "$1\\$2")}`;
          if (b.type === "list") return b.items.map((item, i) => `${b.ordered ? `${i + 1}.` : "-"} ${mdLine(item)}`).join("\n");
          return opts.preserveFormatting ? b.lines.map((l) => mdLine(l.trim())).join("  \n") : mdLine(reflow(b.lines));
        })
        .join("\n\n"),
    )
    .filter(Boolean)
    .join("\n\n");
  return out ? out + "\n" : "";
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

export function toHtml(pages: PageLayout[], opts: RenderOptions & { title?: string; lang?: string } = {}): string {
  const firstHeading = pages.flatMap((p) => p.blocks).find((b) => b.type === "heading");
  const title = opts.title ?? (firstHeading?.type === "heading" ? firstHeading.text : "Document");
  const sections = pages.map((p) => {
    const blocks = p.blocks.map((b) => {
      if (b.type === "heading") return `<h${b.level}>${escapeHtml(b.text)}</h${b.level}>`;
      if (b.type === "list") {
        const tag = b.ordered ? "ol" : "ul";
        return `<${tag}>\n${b.items.map((item) => `<li>${escapeHtml(item)}</li>`).join("\n")}\n</${tag}>`;
      }
      const text = opts.preserveFormatting ? b.lines.map((l) => escapeHtml(l.trim())).join("<br>\n") : escapeHtml(reflow(b.lines));
      return `<p>${text}</p>`;
    });
    return `<section data-page="${escapeHtml(String(p.page))}">\n${blocks.map((b) => b + "\n").join("")}</section>`;
  });
  return [
    "<!doctype html>",
    `<html lang="${escapeHtml(opts.lang ?? "en")}">`,
    "<head>",
    '<meta charset="utf-8">',
    `<title>${escapeHtml(title)}</title>`,
    "</head>",
    "<body>",
    ...sections,
    "</body>",
    "</html>",
    "",
  ].join("\n");
}

/** Whitespace-separated tokens that contain a letter or a digit ("—" and "•" are not words). */
export function countWords(text: string): number {
  return text.split(/\s+/).filter((t) => /[\p{L}\p{N}]/u.test(t)).length;
}
