// The one place Spool touches PDFs: reading (pdf.js), rendering (pdf.js + @napi-rs/canvas)
// and rewriting (pdf-lib). No database, no job logic.
//
// Untrusted PDFs are never parsed in this process. Every call forks a child
// (`node --import tsx --max-old-space-size=… src/tools/pdf-worker.ts`, one operation per
// child) and only plain data crosses the IPC channel. A child rather than a worker_thread:
// pdf.js keeps decoded streams in ArrayBuffers and @napi-rs/canvas allocates natively, and
// neither is counted by a Worker's resourceLimits, so an inflate bomb in a Worker would still
// grow this process. A child's whole RSS is watched (/proc/<pid>/status) and the child is
// SIGKILLed when it passes `maxMemoryMb`, when it runs past `timeoutMs`, or at once on abort.
import { fork, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { JobError, SpoolError, type ErrorCode } from "../errors.ts";
import type { StampPosition } from "./pdf-worker.ts";

export type { StampPosition } from "./pdf-worker.ts";

export type PdfLimits = {
  /** Documents with more pages are refused (DOCUMENT_TOO_LARGE). */
  maxPages?: number;
  /** A rendered page (and a stamp image) may not exceed this many pixels. */
  maxPixels?: number;
  /**
   * An image in the PDF may not decode to more pixels than this (pdf.js maxImageSize); a page
   * that draws a larger one fails DOCUMENT_TOO_LARGE rather than rendering without it.
   */
  maxImagePixels?: number;
  /** Whole-process RSS of the child; above it the child is killed (DOCUMENT_TOO_LARGE). */
  maxMemoryMb?: number;
  /** V8 old-generation cap of the child (--max-old-space-size). */
  maxHeapMb?: number;
  /** Wall time of one operation, child start included (DOCUMENT_TOO_LARGE). */
  timeoutMs?: number;
};
export const DEFAULT_PDF_LIMITS: Required<PdfLimits> = {
  maxPages: 5000,
  maxPixels: 40_000_000,
  // Scans are one image per page, often larger than the page is rendered: 700 dpi Letter is
  // 5950×7700 = 46 MP. Decoding and drawing one costs the child ~9 bytes per pixel (grey) to
  // ~11 (colour JPEG) on top of ~230 MB: measured peak RSS 636 MB for a 46 MP grey scan and
  // 877 MB for a 64 MP colour JPEG, rendered at 300 dpi. 60 MP (800 dpi Letter, 600 dpi Legal)
  // stays under maxMemoryMb with room for the RSS poll's 50 ms.
  maxImagePixels: 60_000_000,
  maxMemoryMb: 1024,
  maxHeapMb: 512,
  timeoutMs: 120_000,
};
export type PdfRunOptions = { signal?: AbortSignal; limits?: PdfLimits };

export type PdfInfo = {
  pageCount: number;
  /** True for a PDF encrypted without a user password (opens, but carries an /Encrypt dictionary). */
  encrypted: boolean;
  metadata: {
    title: string | null;
    author: string | null;
    subject: string | null;
    creator: string | null;
    producer: string | null;
    /** ISO 8601, or null when absent or unreadable. */
    creationDate: string | null;
    modificationDate: string | null;
  };
};
/** Positions in PDF points, origin at the top-left of the page as displayed (/Rotate applied). */
export type PdfWord = { text: string; x: number; y: number; width: number; height: number };
export type PdfPageText = { page: number; width: number; height: number; text: string; words: PdfWord[] };
export type PdfWriteResult = { pageCount: number; bytes: number };
export type PdfMetadataInput = {
  title?: string;
  author?: string;
  subject?: string;
  keywords?: string[];
  creator?: string;
  producer?: string;
  /** Anything `new Date()` parses. */
  creationDate?: string;
  modificationDate?: string;
};

const WORKER_PATH = fileURLToPath(new URL("./pdf-worker.ts", import.meta.url));
const requireHere = createRequire(import.meta.url);
const TSX_LOADER = pathToFileURL(requireHere.resolve("tsx")).href;
// tsx runs esbuild over every module it loads, pdf.js's 2 MB bundles included (~1.5 s per
// child). Loading the libraries before tsx registers keeps them out of its hooks: later imports
// of the same URLs hit the module cache, and pdf.js picks up its worker code from
// globalThis.pdfjsWorker instead of importing it.
const PDFJS_ROOT = dirname(requireHere.resolve("pdfjs-dist/package.json"));
const PDFJS_OPS = new Set(["info", "text", "render", "renderPages", "images"]);
const CANVAS_OPS = new Set(["render", "renderPages"]);
function preload(op: string): string {
  const url = (p: string) => JSON.stringify(pathToFileURL(p).href);
  const code = PDFJS_OPS.has(op)
    ? [
        `await import(${url(join(PDFJS_ROOT, "legacy/build/pdf.mjs"))});`,
        `globalThis.pdfjsWorker = await import(${url(join(PDFJS_ROOT, "legacy/build/pdf.worker.mjs"))});`,
        CANVAS_OPS.has(op) ? `await import(${url(requireHere.resolve("@napi-rs/canvas"))});` : "",
      ]
    : [`await import(${url(requireHere.resolve("pdf-lib"))});`];
  return "data:text/javascript," + encodeURIComponent(code.join("\n"));
}
const RSS_POLL_MS = 50;

function limitsOf(opts: PdfRunOptions | undefined): Required<PdfLimits> {
  return { ...DEFAULT_PDF_LIMITS, ...stripUndefined(opts?.limits ?? {}) };
}
function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function rssMb(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

function abortError(signal: AbortSignal, what: string): SpoolError {
  const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? "aborted");
  return new SpoolError("ABORTED", `${what} stopped: ${reason}`);
}

type WorkerMessage =
  | { type: "ready" }
  | { type: "page"; page: number; result: unknown }
  | { type: "done"; result: unknown }
  | { type: "error"; code: ErrorCode; message: string; details?: Record<string, unknown> };

/** Runs one operation in a fresh child and settles when it answers, dies, or is killed. */
function runInChild<T>(op: string, args: Record<string, unknown>, opts: PdfRunOptions | undefined, onPage?: (page: number, result: unknown) => void): Promise<T> {
  const limits = limitsOf(opts);
  const signal = opts?.signal;
  const what = `PDF ${op}`;
  if (signal?.aborted) return Promise.reject(abortError(signal, what));
  return new Promise<T>((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = fork(WORKER_PATH, [], {
        execArgv: ["--import", preload(op), "--import", TSX_LOADER, `--max-old-space-size=${limits.maxHeapMb}`, "--no-warnings"],
        serialization: "advanced",
        stdio: ["ignore", "ignore", "pipe", "ipc"],
        env: { ...process.env, NODE_OPTIONS: "" },
      });
    } catch (err) {
      reject(new SpoolError("PDF_WORKER_FAILED", `Cannot start the PDF worker: ${(err as Error).message}`));
      return;
    }
    let settled = false;
    let answer: (() => void) | null = null;
    let killedFor: SpoolError | null = null;
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => {
      if (stderr.length < 8192) stderr += d.toString("utf8");
    });

    const kill = (why: SpoolError) => {
      if (settled || killedFor) return;
      killedFor = why;
      child.kill("SIGKILL");
      // Reject now: the caller must not wait for the exit event of a process it gave up on.
      finish(() => reject(why));
    };
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearInterval(poll);
      signal?.removeEventListener("abort", onAbort);
      fn();
    };
    const onAbort = () => kill(abortError(signal!, what));
    signal?.addEventListener("abort", onAbort, { once: true });

    const timer = setTimeout(() => {
      kill(new JobError("DOCUMENT_TOO_LARGE", `${what} took longer than ${Math.round(limits.timeoutMs / 1000)} s: the document is too large or too complex.`, { details: { reason: "time", timeoutMs: limits.timeoutMs } }));
    }, limits.timeoutMs);
    const poll = setInterval(() => {
      const mb = child.pid ? rssMb(child.pid) : null;
      if (mb != null && mb > limits.maxMemoryMb) {
        kill(new JobError("DOCUMENT_TOO_LARGE", `${what} needed more than ${limits.maxMemoryMb} MB of memory: the document is too large or too complex.`, { details: { reason: "memory", maxMemoryMb: limits.maxMemoryMb } }));
      }
    }, RSS_POLL_MS);

    child.on("message", (msg: WorkerMessage) => {
      if (settled) return;
      if (msg.type === "ready") {
        try {
          child.send({ op, args: { ...args, limits: { maxPages: limits.maxPages, maxPixels: limits.maxPixels, maxImagePixels: limits.maxImagePixels } } });
        } catch {
          // The child died between "ready" and now: its exit event reports it.
        }
      } else if (msg.type === "page") {
        try {
          onPage?.(msg.page, msg.result);
        } catch {
          // A progress callback must not break the operation.
        }
      } else if (msg.type === "done" || msg.type === "error") {
        // Settle on exit, so that no child outlives the promise; the child exits right after
        // answering, and is killed if it lingers.
        answer = msg.type === "done" ? () => resolve(msg.result as T) : () => reject(new JobError(msg.code, msg.message, { details: msg.details }));
        clearTimeout(timer);
        clearInterval(poll);
        setTimeout(() => child.kill("SIGKILL"), 2000).unref();
      }
    });
    child.on("error", (err) => {
      finish(() => reject(new SpoolError("PDF_WORKER_FAILED", `The PDF worker failed: ${err.message}`)));
    });
    // "close", not "exit": it comes after the IPC channel and stderr are drained, so a final
    // message or an out-of-memory report is never missed.
    child.on("close", (code, sig) => {
      if (settled) return;
      if (answer) {
        finish(answer);
        return;
      }
      if (/heap out of memory|Allocation failed|Reached heap limit/i.test(stderr)) {
        finish(() => reject(new JobError("DOCUMENT_TOO_LARGE", `${what} needed more than ${limits.maxHeapMb} MB of heap: the document is too large or too complex.`, { details: { reason: "memory", maxHeapMb: limits.maxHeapMb } })));
        return;
      }
      const tail = stderr.trim().split("\n").slice(-3).join(" | ");
      finish(() => reject(new SpoolError("PDF_WORKER_FAILED", `The PDF worker exited (${sig ?? `code ${code}`}) without an answer${tail ? `: ${tail}` : ""}`)));
    });
  });
}

export function openPdfInfo(path: string, opts?: PdfRunOptions): Promise<PdfInfo> {
  return runInChild<PdfInfo>("info", { path }, opts);
}

/** Text of `pages` (1-based; all pages when omitted), in order; `onPage` fires as each page completes. */
export function extractText(
  path: string,
  opts: PdfRunOptions & { pages?: number[]; onPage?: (page: number, result: PdfPageText) => void } = {},
): Promise<PdfPageText[]> {
  return runInChild<PdfPageText[]>("text", { path, pages: opts.pages }, opts, opts.onPage as (page: number, result: unknown) => void);
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

export type RenderedPage = {
  page: number;
  /** Absolute path: `<outDir>/page-00001.png` (.jpg, .webp). */
  file: string;
  /** Pixels of the image written. */
  width: number;
  height: number;
  /** The page in PDF points at scale 1, /Rotate applied (pixel → point: pageWidth / width). */
  pageWidth: number;
  pageHeight: number;
};
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
    opts.onPage as ((page: number, result: unknown) => void) | undefined,
  );
}

export type ExtractedImage = {
  page: number;
  /** 1-based, in drawing order among the images kept on that page. */
  index: number;
  /** Absolute path: `<outDir>/page-00003-img-01.png`. */
  file: string;
  /** Pixels of the image as stored in the PDF (not as drawn). */
  width: number;
  height: number;
};
export type ExtractImagesResult = {
  images: ExtractedImage[];
  /** True when maxImages was reached and at least one more image was left out (extraction stopped there). */
  truncated: boolean;
};

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
    opts.onPage as ((page: number, result: unknown) => void) | undefined,
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

export type TextStamp = {
  text: string;
  /** Points; default 24. */
  fontSize?: number;
  /** #rrggbb; default black. */
  color?: string;
  /** 0..1; default 1. */
  opacity?: number;
  /** Default "center"; {x, y} is the stamp's top-left in points from the page's top-left. */
  position?: StampPosition;
  /** 1-based; all pages when omitted. */
  pages?: number[];
};
/** Draws text with the built-in Helvetica (WinAnsi characters only; others → INVALID_INPUT). */
export function stampText(input: string, stamp: TextStamp, out: string, opts?: PdfRunOptions): Promise<PdfWriteResult> {
  return runInChild("stampText", { input, stamp, out }, opts);
}

export type ImageStamp = { scale?: number; opacity?: number; position?: StampPosition; pages?: number[] };
/** Draws a PNG or JPEG image; `scale` 1 draws one image pixel per point. */
export function stampImage(input: string, imagePath: string, stamp: ImageStamp, out: string, opts?: PdfRunOptions): Promise<PdfWriteResult> {
  return runInChild("stampImage", { input, imagePath, stamp, out }, opts);
}

/** Sets the given fields of the document information dictionary; the others are kept. */
export function setMetadata(input: string, metadata: PdfMetadataInput, out: string, opts?: PdfRunOptions): Promise<PdfWriteResult> {
  return runInChild("setMetadata", { input, metadata, out }, opts);
}
