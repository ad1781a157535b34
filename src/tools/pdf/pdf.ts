// The one place Spool touches PDFs: reading (pdf.js), rendering (pdf.js + @napi-rs/canvas)
// and rewriting (pdf-lib). No database, no job logic. Each function here is one operation run
// in a fresh child process (run-in-child.ts), whose operations live beside it: text.ts,
// render.ts, images.ts and edit.ts, dispatched by pdf-worker.ts.
import { resolve } from "node:path";
import { runInChild } from "./run-in-child.ts";
import type {
  ExtractedImage,
  ExtractImagesResult,
  ImageStamp,
  OnPage,
  PdfInfo,
  PdfMetadataInput,
  PdfPageText,
  PdfRunOptions,
  PdfWriteResult,
  RenderedPage,
  TextStamp,
} from "./types.ts";

export function openPdfInfo(path: string, opts?: PdfRunOptions): Promise<PdfInfo> {
  return runInChild<PdfInfo>("info", { path }, opts);
}

/** Text of `pages` (1-based; all pages when omitted), in order; `onPage` fires as each page completes. */
export function extractText(
  path: string,
  opts: PdfRunOptions & { pages?: number[]; onPage?: (page: number, result: PdfPageText) => void } = {},
): Promise<PdfPageText[]> {
  return runInChild<PdfPageText[]>("text", { path, pages: opts.pages }, opts, opts.onPage as OnPage);
}

/**
 * Renders one page (1-based) to `out` (absolute path). With width or height the page is scaled to
 * it; with both it fits inside the box (aspect kept); with neither it renders at 72 dpi.
 */
export function renderPage(
  path: string,
  page: number,
  opts: PdfRunOptions & { width?: number; height?: number; format: "png" | "jpg" | "webp"; quality?: number; out: string },
): Promise<{ width: number; height: number }> {
  return runInChild("render", { path, page, width: opts.width, height: opts.height, format: opts.format, quality: opts.quality, out: opts.out }, opts);
}

export type RenderPagesOptions = PdfRunOptions & {
  /** Scale = dpi / 72. Exclusive with width/height (both → INVALID_INPUT). */
  dpi?: number;
  /** As in renderPage: scale to the width, the height, or fit inside both. Neither nor dpi: 72 dpi. */
  width?: number;
  height?: number;
  format: "png" | "jpg" | "webp";
  /** jpg/webp, 1..100, default 85. */
  quality?: number;
  /** Created if missing; existing files of the same name are replaced. */
  outDir: string;
  /** A page above limits.maxPixels is scaled down to fit instead of failing DOCUMENT_TOO_LARGE. */
  fitPixels?: boolean;
  /** Luma only: an 8-bit grayscale PNG (a quarter of the raw size); for jpg/webp, gray RGB pixels. */
  grayscale?: boolean;
  /** Fires as each page's file is complete, in page order, before the promise settles. */
  onPage?: (page: number, result: RenderedPage) => void;
};

/**
 * Renders `pages` (1-based, in the order given, duplicates dropped; all pages when null) one after
 * another in one child. Files are written under a temporary name and renamed, so a reported file
 * is complete. A page that does not exist → INVALID_INPUT before anything is rendered.
 */
export function renderPages(path: string, pages: number[] | null, opts: RenderPagesOptions): Promise<RenderedPage[]> {
  const { dpi, width, height, format, quality, fitPixels, grayscale } = opts;
  return runInChild<RenderedPage[]>(
    "renderPages",
    { path, pages: pages ?? undefined, dpi, width, height, format, quality, fitPixels, grayscale, outDir: resolve(opts.outDir) },
    opts,
    opts.onPage as OnPage | undefined,
  );
}

/**
 * The raster images drawn on `pages` (all when omitted), decoded by pdf.js and written as PNG
 * (1-bit gray, RGB or RGBA as decoded; a soft mask becomes the alpha channel). Kept: image
 * XObjects (once per page however often drawn) and inline images; left out: stencil masks,
 * images smaller than `minSize` (default 32) on either side, images pdf.js cannot decode, and
 * images above limits.maxImagePixels (skipped silently, extraction goes on). `onPage` fires after each
 * page with the images written for it (possibly none).
 */
export function extractImages(
  path: string,
  opts: PdfRunOptions & {
    outDir: string;
    pages?: number[];
    minSize?: number;
    /** Default 200; see ExtractImagesResult.truncated. */
    maxImages?: number;
    onPage?: (page: number, images: ExtractedImage[]) => void;
  },
): Promise<ExtractImagesResult> {
  return runInChild<ExtractImagesResult>(
    "images",
    { path, pages: opts.pages, outDir: resolve(opts.outDir), minSize: opts.minSize, maxImages: opts.maxImages },
    opts,
    opts.onPage as OnPage | undefined,
  );
}

export function mergePdfs(inputs: string[], out: string, opts?: PdfRunOptions): Promise<PdfWriteResult> {
  return runInChild("merge", { inputs, out }, opts);
}

/** A new PDF with `pages` (1-based) of `input`, in the order given. */
export function extractPages(input: string, pages: number[], out: string, opts?: PdfRunOptions): Promise<PdfWriteResult> {
  return runInChild("extract", { input, pages, out }, opts);
}

/** Adds `degrees` (a multiple of 90, may be negative) to the rotation of `pages` (all when null). */
export function rotatePages(input: string, pages: number[] | null, degrees: number, out: string, opts?: PdfRunOptions): Promise<PdfWriteResult> {
  return runInChild("rotate", { input, pages: pages ?? undefined, degrees, out }, opts);
}

export function stampText(input: string, stamp: TextStamp, out: string, opts?: PdfRunOptions): Promise<PdfWriteResult> {
  return runInChild("stampText", { input, stamp, out }, opts);
}

/** Draws a PNG or JPEG image; `scale` 1 draws one image pixel per point. */
export function stampImage(input: string, imagePath: string, stamp: ImageStamp, out: string, opts?: PdfRunOptions): Promise<PdfWriteResult> {
  return runInChild("stampImage", { input, imagePath, stamp, out }, opts);
}

/** Sets the given fields of the document information dictionary; the others are kept. */
export function setMetadata(input: string, metadata: PdfMetadataInput, out: string, opts?: PdfRunOptions): Promise<PdfWriteResult> {
  return runInChild("setMetadata", { input, metadata, out }, opts);
}
