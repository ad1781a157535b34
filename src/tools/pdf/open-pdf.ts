// What every operation of the PDF child shares: the failure it answers with, opening a file
// with pdf.js (reading) or pdf-lib (rewriting) under the page limit, checking page numbers, and
// counting the images pdf.js leaves out. Runs only in the child (pdf-worker.ts).
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import type { PDFDocument } from "pdf-lib";
import type { ErrorCode } from "../../errors.ts";
import type { WorkerLimits } from "./types.ts";

/** An expected failure: the child answers it as { type: "error", code, message, details }. */
export class WorkerFailure extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** pdf.js's package folder and the data it reads with fs, resolved on first use (not at import). */
type PdfjsAssets = { root: string; standardFonts: string; cmaps: string; wasm: string };
let assets: PdfjsAssets | undefined;
function pdfjsAssets(): PdfjsAssets {
  if (!assets) {
    const root = dirname(createRequire(import.meta.url).resolve("pdfjs-dist/package.json"));
    // pdf.js in Node reads these with fs: plain paths ending in "/".
    assets = { root, standardFonts: join(root, "standard_fonts") + "/", cmaps: join(root, "cmaps") + "/", wasm: join(root, "wasm") + "/" };
  }
  return assets;
}

// Loaded on demand: a child only pays for the libraries its operation uses.
export const pdfLib = () => import("pdf-lib");
export const napiCanvas = () => import("@napi-rs/canvas");

export type Pdfjs = typeof import("pdfjs-dist/legacy/build/pdf.mjs");
let pdfjsPromise: Promise<Pdfjs> | undefined;
export function pdfjs(): Promise<Pdfjs> {
  pdfjsPromise ??= import(pathToFileURL(join(pdfjsAssets().root, "legacy/build/pdf.mjs")).href) as Promise<Pdfjs>;
  return pdfjsPromise;
}

async function readPdfBytes(path: string): Promise<Uint8Array> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new WorkerFailure("NOT_FOUND", `Cannot read ${path}: ${(err as Error).message}`);
  }
  // Same rule as uploads (src/services/assets.ts): a PDF that does not end with %%EOF is truncated.
  // pdf.js would otherwise "recover" a cut file and silently return fewer pages.
  const head = bytes.subarray(0, 1024).toString("latin1");
  if (!head.includes("%PDF-")) throw new WorkerFailure("DOCUMENT_CORRUPTED", "The file is not a PDF: no %PDF- header.");
  const tail = bytes.subarray(Math.max(0, bytes.length - 1024)).toString("latin1");
  if (!tail.includes("%%EOF")) throw new WorkerFailure("DOCUMENT_CORRUPTED", "The PDF is truncated or corrupted: it does not end with %%EOF.");
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

// pdf.js leaves an image above maxImageSize out of the page with nothing but a warning, and the
// page then renders without it: a scan comes out white and OCR finds no word, yet the job
// succeeds. Its warnings go to console.warn; this child counts that one and drops the rest.
let imagesLeftOut = 0;
export function watchPdfjsWarnings() {
  console.warn = (...args: unknown[]) => {
    if (String(args[0]).includes("Image exceeded maximum allowed size")) imagesLeftOut++;
  };
}

/** How many images pdf.js has left out so far: a render compares it before and after. */
export function imagesLeftOutSoFar(): number {
  return imagesLeftOut;
}

type PdfjsDoc = Awaited<ReturnType<Pdfjs["getDocument"]>["promise"]>;
export type PdfjsPage = Awaited<ReturnType<PdfjsDoc["getPage"]>>;

export async function openPdfjs(path: string, limits: WorkerLimits): Promise<PdfjsDoc> {
  const lib = await pdfjs();
  const data = await readPdfBytes(path);
  const task = lib.getDocument({
    data,
    standardFontDataUrl: pdfjsAssets().standardFonts,
    cMapUrl: pdfjsAssets().cmaps,
    cMapPacked: true,
    wasmUrl: pdfjsAssets().wasm,
    isEvalSupported: false,
    disableFontFace: true,
    useSystemFonts: false,
    maxImageSize: limits.maxImagePixels,
    // Warnings on, for watchPdfjsWarnings: that is how a dropped image is noticed.
    verbosity: 1,
  });
  let doc: PdfjsDoc;
  try {
    doc = await task.promise;
  } catch (err) {
    const e = err as Error;
    if (e?.name === "PasswordException") {
      throw new WorkerFailure("DOCUMENT_CORRUPTED", "The PDF is encrypted with a password; Spool cannot open it. Upload an unencrypted copy.", { encrypted: true });
    }
    throw new WorkerFailure("DOCUMENT_CORRUPTED", `The PDF cannot be parsed: ${e?.message ?? String(err)}`);
  }
  if (doc.numPages > limits.maxPages) {
    throw new WorkerFailure("DOCUMENT_TOO_LARGE", `The PDF has ${doc.numPages} pages; the limit is ${limits.maxPages}.`, {
      pages: doc.numPages,
      maxPages: limits.maxPages,
    });
  }
  return doc;
}

export async function loadPdfLib(path: string, limits: WorkerLimits): Promise<PDFDocument> {
  const { PDFDocument } = await pdfLib();
  const bytes = await readPdfBytes(path);
  let doc: PDFDocument;
  try {
    doc = await PDFDocument.load(bytes, { updateMetadata: false });
  } catch (err) {
    const e = err as Error;
    if (e?.name === "EncryptedPDFError" || /encrypted/i.test(e?.message ?? "")) {
      throw new WorkerFailure("DOCUMENT_CORRUPTED", "The PDF is encrypted; Spool cannot modify it. Upload an unencrypted copy.", { encrypted: true });
    }
    throw new WorkerFailure("DOCUMENT_CORRUPTED", `The PDF cannot be parsed: ${e?.message ?? String(err)}`);
  }
  if (doc.isEncrypted) {
    throw new WorkerFailure("DOCUMENT_CORRUPTED", "The PDF is encrypted; Spool cannot modify it. Upload an unencrypted copy.", { encrypted: true });
  }
  const count = doc.getPageCount();
  if (count > limits.maxPages) {
    throw new WorkerFailure("DOCUMENT_TOO_LARGE", `The PDF has ${count} pages; the limit is ${limits.maxPages}.`, { pages: count, maxPages: limits.maxPages });
  }
  return doc;
}

export function checkPages(pages: number[] | undefined, count: number): number[] {
  if (!pages) return Array.from({ length: count }, (_, i) => i + 1);
  for (const p of pages) {
    if (!Number.isInteger(p) || p < 1 || p > count) {
      throw new WorkerFailure("INVALID_INPUT", `Page ${p} does not exist: the PDF has ${count} pages (numbered from 1).`);
    }
  }
  return pages;
}

/** File name stem of page n's outputs: page-00001 (zero-padded so that names sort in page order). */
export const pageName = (n: number) => `page-${String(n).padStart(5, "0")}`;

/** To 1/100 of a point: finer than any renderer places text, and keeps results small. */
export function round(n: number): number {
  return Math.round(n * 100) / 100;
}
