// Reading in the PDF child: the document's info dictionary, and each page's text with word
// boxes. pdf.js's getTextContent() gives runs of text with a transform and a width; pageText()
// turns them into the page's text and its words. Positions are PDF points from the page's
// top-left as displayed (viewport at scale 1, /Rotate applied).
import { checkPages, openPdfjs, pdfjs, round, type Pdfjs } from "./open-pdf.ts";
import type { OnPage, PdfInfo, PdfPageText, PdfWord, WorkerLimits } from "./types.ts";

function pdfDateToIso(lib: Pdfjs, value: unknown): string | null {
  if (typeof value !== "string" || !value) return null;
  const d = lib.PDFDateString.toDateObject(value);
  return d && !Number.isNaN(d.getTime()) ? d.toISOString() : null;
}

function str(value: unknown): string | null {
  return typeof value === "string" && value.length > 0 ? value : null;
}

export async function info(args: { path: string; limits: WorkerLimits }): Promise<PdfInfo> {
  const lib = await pdfjs();
  const doc = await openPdfjs(args.path, args.limits);
  const meta = await doc.getMetadata();
  const i = (meta.info ?? {}) as Record<string, unknown>;
  return {
    pageCount: doc.numPages,
    encrypted: i.EncryptFilterName != null,
    metadata: {
      title: str(i.Title),
      author: str(i.Author),
      subject: str(i.Subject),
      creator: str(i.Creator),
      producer: str(i.Producer),
      creationDate: pdfDateToIso(lib, i.CreationDate),
      modificationDate: pdfDateToIso(lib, i.ModDate),
    },
  };
}

export async function text(args: { path: string; pages?: number[]; limits: WorkerLimits }, onPage: OnPage): Promise<PdfPageText[]> {
  const doc = await openPdfjs(args.path, args.limits);
  const pages = checkPages(args.pages, doc.numPages);
  const all: PdfPageText[] = [];
  for (const n of pages) {
    const page = await doc.getPage(n);
    const viewport = page.getViewport({ scale: 1 });
    const content = await page.getTextContent();
    const result = { page: n, width: round(viewport.width), height: round(viewport.height), ...pageText(content.items, content.styles, viewport.transform) };
    page.cleanup();
    onPage(n, result);
    all.push(result);
  }
  await doc.destroy();
  return all;
}

/** One getTextContent() item (marked-content items, which carry no `str`, are skipped). */
type TextRun = { str: string; transform: number[]; width: number; fontName: string; hasEOL: boolean };
type FontStyles = Record<string, { ascent?: number; descent?: number }>;
type Matrix = [number, number, number, number, number, number];

/** Runs further apart than this × the font size are separate words (pdf.js's own threshold is 0.102). */
const WORD_GAP = 0.1;
/** A run whose baseline is further than this × the font size from the previous one's is on another line. */
const LINE_SHIFT = 0.5;

/** Where a run ends: its baseline's end point and direction, for deciding what separates the next one. */
type RunEnd = { x: number; y: number; ux: number; uy: number; size: number; startX: number; startY: number; str: string };

function pageText(items: ReadonlyArray<object>, styles: FontStyles, viewport: number[]): { text: string; words: PdfWord[] } {
  let text = "";
  const words: PdfWord[] = [];
  let last: RunEnd | null = null;
  for (const item of items) {
    if (!("str" in item)) continue;
    const run = item as TextRun;
    if (!run.str.trim()) text += run.str; // pdf.js's own spaces
    else {
      const [a, b, c, d, e, f] = multiply(viewport, run.transform);
      const size = Math.hypot(c, d);
      const len = Math.hypot(a, b) || 1;
      const ux = a / len;
      const uy = b / len; // unit vector along the baseline (y down)
      // Fake bold: the same text drawn again a hair to the side. One copy is the text.
      const again = last !== null && run.str === last.str && Math.hypot(e - last.startX, f - last.startY) < 0.3 * size;
      if (!again) {
        // pdf.js joins the runs of one text object itself, but not across form XObjects or when
        // a run is drawn out of order: there only the positions tell what separates them.
        if (last && text && !/\s$/.test(text) && !/^\s/.test(run.str)) text += separator(last, e, f);
        text += run.str;
        words.push(...wordBoxes(run, styles, [a, b, c, d, e, f], size, ux, uy));
        last = { x: e + ux * run.width, y: f + uy * run.width, ux, uy, size, startX: e, startY: f, str: run.str };
      }
    }
    if (run.hasEOL) text += "\n";
  }
  return { text, words };
}

function separator(last: RunEnd, x: number, y: number): string {
  const dx = x - last.x;
  const dy = y - last.y;
  const across = -dx * last.uy + dy * last.ux; // off the previous baseline
  if (Math.abs(across) > LINE_SHIFT * last.size) return "\n";
  const along = dx * last.ux + dy * last.uy; // past the previous run's end (negative: drawn before it)
  return Math.abs(along) > WORD_GAP * last.size ? " " : "";
}

/** pdf.js gives runs, not words: split on whitespace and share the run's width by characters. */
function wordBoxes(run: TextRun, styles: FontStyles, m: Matrix, size: number, ux: number, uy: number): PdfWord[] {
  const style = styles[run.fontName];
  // Standard fonts without metrics (Courier) come with NaN ascent and descent.
  const ascent = Number.isFinite(style?.ascent) ? style!.ascent! : 0.8;
  const descent = Number.isFinite(style?.descent) ? style!.descent! : -0.2;
  const [, , , , e, f] = m;
  const vx = -uy;
  const vy = ux; // unit vector "down" from the baseline
  const total = run.str.length;
  const out: PdfWord[] = [];
  for (const match of run.str.matchAll(/\S+/g)) {
    const start = (match.index / total) * run.width;
    const w = (match[0].length / total) * run.width;
    const top = -ascent * size;
    const bottom = -descent * size;
    const corners = [
      [start, top],
      [start + w, top],
      [start, bottom],
      [start + w, bottom],
    ].map(([s, t]) => [e + ux * s! + vx * t!, f + uy * s! + vy * t!] as const);
    const xs = corners.map((p) => p[0]);
    const ys = corners.map((p) => p[1]);
    const x0 = Math.min(...xs);
    const y0 = Math.min(...ys);
    out.push({ text: match[0], x: round(x0), y: round(y0), width: round(Math.max(...xs) - x0), height: round(Math.max(...ys) - y0) });
  }
  return out;
}

/** m1 × m2 for PDF's [a b c d e f] matrices (pdf.js's Util.transform). */
function multiply(m1: number[], m2: number[]): Matrix {
  const [a1, b1, c1, d1, e1, f1] = m1 as Matrix;
  const [a2, b2, c2, d2, e2, f2] = m2 as Matrix;
  return [a1 * a2 + c1 * b2, b1 * a2 + d1 * b2, a1 * c2 + c1 * d2, b1 * c2 + d1 * d2, a1 * e2 + c1 * f2 + e1, b1 * e2 + d1 * f2 + f1];
}
