// Reading a document: the text of every page, from the PDF's text layer where it has one and
// from OCR where it has not (or everywhere, when asked), with word boxes in one coordinate
// system — PDF points, origin top-left — whichever way the text came. Shared by
// document.extractText (which stores it per page) and document.process (which formats it).
//
// Nothing untrusted is parsed in this process: pdf.js runs in the PDF adapter's child,
// images are decoded by ffmpeg, recognition runs in the OCR pool's worker threads.
import { rm } from "node:fs/promises";
import path from "node:path";
import { franc } from "franc-min";
import { JobError } from "../../errors.ts";
import type { JobContext } from "../../engine/types.ts";
import type { AssetRow } from "../../services/assets.ts";
import { demuxerFor } from "../../tools/ffmpeg/demuxers.ts";
import type { OcrPool } from "../../tools/ocr/pool.ts";
import type { OcrResult } from "../../tools/ocr/types.ts";
import { extractText, openPdfInfo, renderPages } from "../../tools/pdf/pdf.ts";
import type { PdfInfo, RenderedPage } from "../../tools/pdf/types.ts";
import type { MediaDeps } from "../media/source.ts";
import { countWords, type LayoutWord } from "./layout.ts";
import { ReadProgress } from "./progress.ts";
import { imageDimensions } from "./source.ts";

export type DocumentDeps = MediaDeps & { ocr: OcrPool };
/** auto: OCR only the pages without a text layer; always: every page; never: none. */
export type OcrMode = "auto" | "always" | "never";
export type PageSource = "TEXT_LAYER" | "OCR" | "NONE";
/** A word with its box in points (top-left origin); OCR words carry their confidence 0..100. */
export type ReadWord = LayoutWord & { confidence?: number };
export type ReadPage = {
  page: number;
  /** Points for a PDF; pixels for an image document. */
  width: number;
  height: number;
  text: string;
  words: ReadWord[];
  source: PageSource;
  /** Mean OCR word confidence 0..100; null for text-layer pages. */
  confidence: number | null;
  wordCount: number;
};
export type ReadResult = {
  pageCount: number;
  properties: PdfInfo["metadata"] | null;
  pages: ReadPage[];
  ocrPages: number;
  /** ISO 639-3 code of the text (franc), null when too little text to tell. */
  language: string | null;
  wordCount: number;
  /** Mean confidence of the OCR pages, null when none was OCRed. */
  confidence: number | null;
  elapsedMs: number;
};

/** What a job reports of its read (both document.extractText and document.process). */
export type ReadSummary = {
  pageCount: number;
  wordCount: number;
  /** ISO 639-3 code detected from the text; null when there is too little text. */
  language: string | null;
  ocrPages: number;
  /** Mean confidence of the OCR pages (0..100); null when no page was OCRed. */
  confidence: number | null;
  processingMs: number;
};

export function summaryOf(read: ReadResult): ReadSummary {
  return { pageCount: read.pageCount, wordCount: read.wordCount, language: read.language, ocrPages: read.ocrPages, confidence: read.confidence, processingMs: read.elapsedMs };
}

/** 300 dpi is what Tesseract is tuned for; smaller text loses accuracy fast below it. */
const OCR_DPI = 300;
/** OCR input above this is scaled down: Tesseract's memory grows with pixels, not with text. */
const OCR_MAX_PIXELS = 40_000_000;
/** A text layer with fewer letters or digits than this counts as absent (a lone page number). */
const MIN_TEXT_LAYER_CHARS = 3;
const LANGUAGE_SAMPLE_CHARS = 20_000;
/** This share of the job's progress is reading; the caller's own stages follow it. */
export const READ_SHARE = 0.9;

export async function readDocument(
  deps: DocumentDeps, ctx: JobContext,
  opts: { source: AssetRow; local: string; dir: string; ocr: OcrMode; language: string },
): Promise<ReadResult> {
  const started = Date.now();
  const { source, local } = opts;

  await ctx.stage("inspect");
  let pages: ReadPage[];
  let properties: PdfInfo["metadata"] | null = null;
  if (source.kind === "PDF") {
    const limits = { maxPages: deps.assets.limits.documentPages };
    const info = await openPdfInfo(local, { signal: ctx.signal, limits });
    properties = info.metadata;
    ctx.logLine(`${info.pageCount} page${info.pageCount === 1 ? "" : "s"}${info.encrypted ? " (encrypted, no user password)" : ""}`);
    await ctx.stage("text");
    const progress = new ReadProgress(ctx, info.pageCount, READ_SHARE);
    const needsOcr = (text: string) => opts.ocr === "always" || (opts.ocr === "auto" && !hasTextLayer(text));
    const layer = await extractText(local, { signal: ctx.signal, limits, onPage: (_n, p) => progress.textPage(needsOcr(p.text)) });
    pages = layer.map((p) => ({
      page: p.page, width: p.width, height: p.height, text: p.text, words: p.words,
      source: "TEXT_LAYER" as PageSource, confidence: null, wordCount: countWords(p.text),
    }));
    const wanted = pages.filter((p) => needsOcr(p.text));
    for (const p of pages) if (!hasTextLayer(p.text) && opts.ocr === "never") p.source = "NONE";
    if (wanted.length > deps.assets.limits.ocrPages) {
      throw new JobError("DOCUMENT_TOO_LARGE", `${wanted.length} pages need OCR; the limit is ${deps.assets.limits.ocrPages} per job (SPOOL_MAX_OCR_PAGES). Split the document with document.transform first.`);
    }
    if (wanted.length > 0) {
      await ctx.stage("ocr");
      ctx.logLine(`OCR of ${wanted.length} page${wanted.length === 1 ? "" : "s"} (${opts.language})`);
      await ocrPdfPages(deps, ctx, local, opts.dir, wanted, opts.language, (done) => progress.ocrPages(done, wanted.length));
    }
  } else {
    pages = [await readImage(deps, ctx, source, local, opts)];
  }

  const ocred = pages.filter((p) => p.source === "OCR");
  const language = detectLanguage(pages);
  return {
    pageCount: pages.length,
    properties,
    pages,
    ocrPages: ocred.length,
    language,
    wordCount: pages.reduce((n, p) => n + p.wordCount, 0),
    confidence: ocred.length ? round(ocred.reduce((n, p) => n + (p.confidence ?? 0), 0) / ocred.length) : null,
    elapsedMs: Date.now() - started,
  };
}

function hasTextLayer(text: string): boolean {
  return (text.match(/[\p{L}\p{N}]/gu)?.length ?? 0) >= MIN_TEXT_LAYER_CHARS;
}

function detectLanguage(pages: ReadPage[]): string | null {
  // franc looks at trigrams; a sample from the start is as good as the whole and bounded, so
  // only the first pages are joined (not all 5,000 of a long document).
  let sample = "";
  for (const p of pages) {
    if (sample.length >= LANGUAGE_SAMPLE_CHARS) break;
    sample += `${p.text}\n`;
  }
  const code = franc(sample.slice(0, LANGUAGE_SAMPLE_CHARS), { minLength: 20 });
  return code === "und" ? null : code;
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

/**
 * Renders the pages at 300 dpi in the PDF child and OCRs each as soon as it is written, on the
 * shared pool. Rendering goes in batches so that at most about two batches of page images
 * wait on disk when OCR is the slower side; the first failure stops everything else.
 */
async function ocrPdfPages(
  deps: DocumentDeps, ctx: JobContext, local: string, dir: string, pages: ReadPage[], language: string, onDone: (done: number) => void,
): Promise<void> {
  const byNumber = new Map(pages.map((p) => [p.page, p]));
  const batch = Math.max(4, deps.ocr.size * 2);
  const stop = new AbortController();
  const signal = AbortSignal.any([ctx.signal, stop.signal]);
  const outDir = path.join(dir, "ocr");
  let failure: unknown = null;
  let done = 0;
  const running = new Set<Promise<void>>();

  const recognize = (r: RenderedPage) => {
    const task = (async () => {
      try {
        const result = await deps.ocr.recognize(r.file, { language, signal });
        const page = byNumber.get(r.page)!;
        Object.assign(page, fromOcr(result, r.pageWidth / r.width, r.pageHeight / r.height));
        done++;
        ctx.logLine(`page ${r.page}: OCR ${page.wordCount} words, confidence ${Math.round(result.confidence)}`);
        onDone(done);
      } catch (err) {
        if (failure === null) {
          failure = err;
          stop.abort(err);
        }
      } finally {
        await rm(r.file, { force: true });
      }
    })();
    running.add(task);
    void task.finally(() => running.delete(task));
  };

  try {
    for (let i = 0; i < pages.length && failure === null; i += batch) {
      const numbers = pages.slice(i, i + batch).map((p) => p.page);
      await renderPages(local, numbers, {
        dpi: OCR_DPI, fitPixels: true, grayscale: true, format: "png", outDir, signal,
        limits: { maxPages: deps.assets.limits.documentPages, maxPixels: OCR_MAX_PIXELS },
        onPage: (_n, r) => recognize(r),
      });
      while (running.size > batch && failure === null) await Promise.race(running);
    }
  } catch (err) {
    if (failure === null) {
      failure = err;
      stop.abort(err);
    }
  }
  await Promise.allSettled([...running]);
  if (failure !== null) throw ctx.signal.aborted ? abortReason(ctx.signal, failure) : failure;
}

function abortReason(signal: AbortSignal, fallback: unknown): unknown {
  return signal.reason instanceof Error ? signal.reason : fallback;
}


/** An image document is one page: ffmpeg decodes it (bounded) to a grey PNG for OCR. */
async function readImage(
  deps: DocumentDeps, ctx: JobContext, source: AssetRow, local: string, opts: { dir: string; ocr: OcrMode; language: string },
): Promise<ReadPage> {
  const format = demuxerFor(source.content_type);
  if (!format) throw new JobError("INVALID_INPUT", `Cannot read a ${source.content_type} document.`);
  const { width, height } = await imageDimensions(local);
  const page: ReadPage = { page: 1, width, height, text: "", words: [], source: "NONE", confidence: null, wordCount: 0 };
  ctx.logLine(`image ${width}×${height}`);
  if (opts.ocr === "never") return page;

  await ctx.stage("ocr");
  const out = path.join(opts.dir, "ocr-input.png");
  const shrink = Math.min(1, Math.sqrt(OCR_MAX_PIXELS / (width * height)));
  const w = Math.max(1, Math.round(width * shrink));
  const h = Math.max(1, Math.round(height * shrink));
  await deps.ffmpeg.run({
    inputs: [{ path: local, format }],
    outputs: [{ path: out, args: ["-map", "0:v:0", "-vf", `scale=${w}:${h},format=gray`, "-frames:v", "1", "-c:v", "png", "-f", "image2", "-update", "1"] }],
  }, { signal: ctx.signal, durationSec: null, maxOutputBytes: deps.assets.limits.documentBytes * 4 });
  const result = await deps.ocr.recognize(out, { language: opts.language, signal: ctx.signal });
  await rm(out, { force: true });
  ctx.logLine(`page 1: OCR ${countWords(result.text)} words, confidence ${Math.round(result.confidence)}`);
  ctx.progress(READ_SHARE, { pagesDone: 1, pageCount: 1 });
  return { ...page, ...fromOcr(result, width / w, height / h) };
}

/** An OCR result as page text, its pixel boxes scaled by (sx, sy) into the page's units. */
function fromOcr(result: OcrResult, sx: number, sy: number): Pick<ReadPage, "text" | "words" | "source" | "confidence" | "wordCount"> {
  return {
    text: result.text.trim(),
    words: result.words.map((w) => ({
      text: w.text, confidence: round(w.confidence),
      x: round(w.bbox.x0 * sx), y: round(w.bbox.y0 * sy), width: round((w.bbox.x1 - w.bbox.x0) * sx), height: round((w.bbox.y1 - w.bbox.y0) * sy),
    })),
    source: "OCR",
    confidence: round(result.confidence),
    wordCount: countWords(result.text),
  };
}
