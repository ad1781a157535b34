// Child-process entry for src/tools/pdf.ts: the only code that parses untrusted PDFs.
// It runs one operation per process (`node --import tsx --max-old-space-size=… pdf-worker.ts`),
// receives `{ op, args }` over IPC and answers with plain data:
//   { type: "page", page, result }   progress (extractText)
//   { type: "done", result }
//   { type: "error", code, message, details }
// The parent enforces memory (RSS watch + V8 heap cap) and wall time by killing this process;
// nothing here needs to be trusted to stop on its own.
import { readFile, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import type { PDFDocument, PDFPage } from "pdf-lib";
import type { PdfMetadataInput } from "./pdf.ts";

export type WorkerLimits = { maxPages: number; maxPixels: number };
export type StampPosition =
  | "center"
  | "top-left"
  | "top-center"
  | "top-right"
  | "bottom-left"
  | "bottom-center"
  | "bottom-right"
  | { x: number; y: number };
export type WorkerRequest = { op: string; args: Record<string, unknown> & { limits: WorkerLimits } };

class WorkerFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

const require = createRequire(import.meta.url);
const pdfjsRoot = dirname(require.resolve("pdfjs-dist/package.json"));
// pdf.js in Node reads these with fs: plain paths ending in "/".
const STANDARD_FONTS = join(pdfjsRoot, "standard_fonts") + "/";
const CMAPS = join(pdfjsRoot, "cmaps") + "/";
const WASM = join(pdfjsRoot, "wasm") + "/";

// Loaded on demand: a child only pays for the libraries its operation uses.
const pdfLib = () => import("pdf-lib");
const napiCanvas = () => import("@napi-rs/canvas");

type Pdfjs = typeof import("pdfjs-dist/legacy/build/pdf.mjs");
let pdfjsPromise: Promise<Pdfjs> | undefined;
function pdfjs(): Promise<Pdfjs> {
  pdfjsPromise ??= import(pathToFileURL(join(pdfjsRoot, "legacy/build/pdf.mjs")).href) as Promise<Pdfjs>;
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

type PdfjsDoc = Awaited<ReturnType<Pdfjs["getDocument"]>["promise"]>;

async function openPdfjs(path: string, limits: WorkerLimits): Promise<PdfjsDoc> {
  const lib = await pdfjs();
  const data = await readPdfBytes(path);
  const task = lib.getDocument({
    data,
    standardFontDataUrl: STANDARD_FONTS,
    cMapUrl: CMAPS,
    cMapPacked: true,
    wasmUrl: WASM,
    isEvalSupported: false,
    disableFontFace: true,
    useSystemFonts: false,
    maxImageSize: limits.maxPixels,
    verbosity: 0,
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

async function loadPdfLib(path: string, limits: WorkerLimits): Promise<PDFDocument> {
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

function pdfDateToIso(lib: Pdfjs, value: unknown): string | null {
  if (typeof value !== "string" || !value) return null;
  const d = lib.PDFDateString.toDateObject(value);
  return d && !Number.isNaN(d.getTime()) ? d.toISOString() : null;
}

function str(value: unknown): string | null {
  return typeof value === "string" && value.length > 0 ? value : null;
}

async function info(args: { path: string; limits: WorkerLimits }) {
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

function checkPages(pages: number[] | undefined, count: number): number[] {
  if (!pages) return Array.from({ length: count }, (_, i) => i + 1);
  for (const p of pages) {
    if (!Number.isInteger(p) || p < 1 || p > count) {
      throw new WorkerFailure("INVALID_INPUT", `Page ${p} does not exist: the PDF has ${count} pages (numbered from 1).`);
    }
  }
  return pages;
}

type Word = { text: string; x: number; y: number; width: number; height: number };

async function text(args: { path: string; pages?: number[]; limits: WorkerLimits }) {
  const lib = await pdfjs();
  const doc = await openPdfjs(args.path, args.limits);
  const pages = checkPages(args.pages, doc.numPages);
  const all = [];
  for (const n of pages) {
    const page = await doc.getPage(n);
    const viewport = page.getViewport({ scale: 1 });
    const content = await page.getTextContent();
    let pageText = "";
    const words: Word[] = [];
    for (const item of content.items) {
      if (!("str" in item)) continue;
      pageText += item.str + (item.hasEOL ? "\n" : "");
      if (!item.str.trim()) continue;
      const style = content.styles[item.fontName];
      const ascent = style?.ascent ?? 0.8;
      const descent = style?.descent ?? -0.2;
      // Text space → page space with origin top-left (viewport at scale 1, page /Rotate applied).
      const m = lib.Util.transform(viewport.transform, item.transform) as number[];
      const [a, b, c, d, e, f] = m as [number, number, number, number, number, number];
      const fontHeight = Math.hypot(c, d);
      const len = Math.hypot(a, b) || 1;
      const ux = a / len;
      const uy = b / len; // unit vector along the baseline (y down)
      const vx = -uy;
      const vy = ux; // unit vector "down" from the baseline
      const total = item.str.length;
      // pdf.js gives runs, not words: split on whitespace and share the run's width by characters.
      for (const match of item.str.matchAll(/\S+/g)) {
        const start = (match.index / total) * item.width;
        const w = (match[0].length / total) * item.width;
        const top = -ascent * fontHeight;
        const bottom = -descent * fontHeight;
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
        words.push({
          text: match[0],
          x: round(x0),
          y: round(y0),
          width: round(Math.max(...xs) - x0),
          height: round(Math.max(...ys) - y0),
        });
      }
    }
    const result = { page: n, width: round(viewport.width), height: round(viewport.height), text: pageText, words };
    page.cleanup();
    send({ type: "page", page: n, result });
    all.push(result);
  }
  await doc.destroy();
  return all;
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

async function render(args: {
  path: string;
  page: number;
  width?: number;
  height?: number;
  format: "png" | "jpg" | "webp";
  quality?: number;
  out: string;
  limits: WorkerLimits;
}) {
  const doc = await openPdfjs(args.path, args.limits);
  checkPages([args.page], doc.numPages);
  const page = await doc.getPage(args.page);
  const base = page.getViewport({ scale: 1 });
  let scale = 1;
  if (args.width && args.height) scale = Math.min(args.width / base.width, args.height / base.height);
  else if (args.width) scale = args.width / base.width;
  else if (args.height) scale = args.height / base.height;
  if (!(scale > 0) || !Number.isFinite(scale)) throw new WorkerFailure("INVALID_INPUT", "width and height must be positive numbers.");
  const viewport = page.getViewport({ scale });
  const w = Math.max(1, Math.round(viewport.width));
  const h = Math.max(1, Math.round(viewport.height));
  if (w * h > args.limits.maxPixels) {
    throw new WorkerFailure("DOCUMENT_TOO_LARGE", `Rendering page ${args.page} at ${w}x${h} exceeds the limit of ${args.limits.maxPixels} pixels.`, {
      width: w,
      height: h,
      maxPixels: args.limits.maxPixels,
    });
  }
  const { createCanvas } = await napiCanvas();
  const canvas = createCanvas(w, h);
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, w, h);
  await page.render({
    canvas: canvas as unknown as HTMLCanvasElement,
    canvasContext: ctx as unknown as CanvasRenderingContext2D,
    viewport,
  }).promise;
  const quality = Math.min(100, Math.max(1, Math.round(args.quality ?? 85)));
  const buf =
    args.format === "png"
      ? await canvas.encode("png")
      : args.format === "jpg"
        ? await canvas.encode("jpeg", quality)
        : args.format === "webp"
          ? await canvas.encode("webp", quality)
          : null;
  if (!buf) throw new WorkerFailure("INVALID_INPUT", `Unknown image format ${String(args.format)}: use png, jpg or webp.`);
  await writeFile(args.out, buf);
  await doc.destroy();
  return { width: w, height: h };
}

async function save(doc: PDFDocument, out: string) {
  const bytes = await doc.save();
  await writeFile(out, bytes);
  return { pageCount: doc.getPageCount(), bytes: bytes.byteLength };
}

async function merge(args: { inputs: string[]; out: string; limits: WorkerLimits }) {
  if (args.inputs.length === 0) throw new WorkerFailure("INVALID_INPUT", "Merging needs at least one PDF.");
  const { PDFDocument } = await pdfLib();
  const out = await PDFDocument.create();
  let total = 0;
  for (const input of args.inputs) {
    const src = await loadPdfLib(input, args.limits);
    total += src.getPageCount();
    if (total > args.limits.maxPages) {
      throw new WorkerFailure("DOCUMENT_TOO_LARGE", `The merged PDF would have more than ${args.limits.maxPages} pages.`, { maxPages: args.limits.maxPages });
    }
    const copied = await out.copyPages(src, src.getPageIndices());
    for (const p of copied) out.addPage(p);
  }
  return save(out, args.out);
}

async function extract(args: { input: string; pages: number[]; out: string; limits: WorkerLimits }) {
  const src = await loadPdfLib(args.input, args.limits);
  const pages = checkPages(args.pages, src.getPageCount());
  if (pages.length === 0) throw new WorkerFailure("INVALID_INPUT", "Extracting needs at least one page.");
  const { PDFDocument } = await pdfLib();
  const out = await PDFDocument.create();
  const copied = await out.copyPages(
    src,
    pages.map((p) => p - 1),
  );
  for (const p of copied) out.addPage(p);
  return save(out, args.out);
}

async function rotate(args: { input: string; pages?: number[]; degrees: number; out: string; limits: WorkerLimits }) {
  if (!Number.isInteger(args.degrees) || args.degrees % 90 !== 0) throw new WorkerFailure("INVALID_INPUT", "Rotation must be a multiple of 90 degrees.");
  const doc = await loadPdfLib(args.input, args.limits);
  const { degrees } = await pdfLib();
  const pages = checkPages(args.pages, doc.getPageCount());
  for (const n of pages) {
    const page = doc.getPage(n - 1);
    const angle = (((page.getRotation().angle + args.degrees) % 360) + 360) % 360;
    page.setRotation(degrees(angle));
  }
  return save(doc, args.out);
}

const MARGIN = 36;
function place(page: PDFPage, w: number, h: number, position: StampPosition): { x: number; y: number } {
  const { width: pw, height: ph } = page.getSize();
  if (typeof position === "object") return { x: position.x, y: ph - position.y - h }; // given from the top-left
  const col = position.endsWith("left") ? "left" : position.endsWith("right") ? "right" : "center";
  const row = position.startsWith("top") ? "top" : position.startsWith("bottom") ? "bottom" : "middle";
  const x = col === "left" ? MARGIN : col === "right" ? pw - MARGIN - w : (pw - w) / 2;
  const y = row === "bottom" ? MARGIN : row === "top" ? ph - MARGIN - h : (ph - h) / 2;
  return { x, y };
}

function parseColor(hex: string | undefined, rgb: typeof import("pdf-lib").rgb) {
  const m = /^#?([0-9a-f]{6})$/i.exec(hex ?? "#000000");
  if (!m) throw new WorkerFailure("INVALID_INPUT", `Color ${hex} is not #rrggbb.`);
  const n = parseInt(m[1]!, 16);
  return rgb(((n >> 16) & 255) / 255, ((n >> 8) & 255) / 255, (n & 255) / 255);
}

async function stampText(args: {
  input: string;
  out: string;
  limits: WorkerLimits;
  stamp: { text: string; fontSize?: number; color?: string; opacity?: number; position?: StampPosition; pages?: number[] };
}) {
  const doc = await loadPdfLib(args.input, args.limits);
  const s = args.stamp;
  const { rgb, StandardFonts } = await pdfLib();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  const size = s.fontSize ?? 24;
  let textWidth: number;
  try {
    textWidth = font.widthOfTextAtSize(s.text, size);
  } catch (err) {
    throw new WorkerFailure("INVALID_INPUT", `The stamp text cannot be drawn with the built-in font: ${(err as Error).message}`);
  }
  const textHeight = font.heightAtSize(size, { descender: false });
  const color = parseColor(s.color, rgb);
  for (const n of checkPages(s.pages, doc.getPageCount())) {
    const page = doc.getPage(n - 1);
    const { x, y } = place(page, textWidth, textHeight, s.position ?? "center");
    page.drawText(s.text, { x, y, size, font, color, opacity: s.opacity ?? 1 });
  }
  return save(doc, args.out);
}

async function stampImage(args: {
  input: string;
  imagePath: string;
  out: string;
  limits: WorkerLimits;
  stamp: { scale?: number; opacity?: number; position?: StampPosition; pages?: number[] };
}) {
  const doc = await loadPdfLib(args.input, args.limits);
  const img = await readFile(args.imagePath);
  const isPng = img.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  const isJpg = img[0] === 0xff && img[1] === 0xd8;
  if (!isPng && !isJpg) throw new WorkerFailure("INVALID_INPUT", "The stamp image must be a PNG or a JPEG.");
  // pdf-lib decodes a PNG in full: check its declared size first (a JPEG is embedded undecoded).
  if (isPng && img.length >= 24 && img.readUInt32BE(16) * img.readUInt32BE(20) > args.limits.maxPixels) {
    throw new WorkerFailure("DOCUMENT_TOO_LARGE", `The stamp image has more than ${args.limits.maxPixels} pixels.`);
  }
  let embedded;
  try {
    embedded = isPng ? await doc.embedPng(img) : await doc.embedJpg(img);
  } catch (err) {
    throw new WorkerFailure("INVALID_INPUT", `The stamp image cannot be read: ${(err as Error).message}`);
  }
  if (embedded.width * embedded.height > args.limits.maxPixels) {
    throw new WorkerFailure("DOCUMENT_TOO_LARGE", `The stamp image has more than ${args.limits.maxPixels} pixels.`);
  }
  const s = args.stamp;
  const dims = embedded.scale(s.scale ?? 1);
  for (const n of checkPages(s.pages, doc.getPageCount())) {
    const page = doc.getPage(n - 1);
    const { x, y } = place(page, dims.width, dims.height, s.position ?? "center");
    page.drawImage(embedded, { x, y, width: dims.width, height: dims.height, opacity: s.opacity ?? 1 });
  }
  return save(doc, args.out);
}

async function setMetadata(args: {
  input: string;
  out: string;
  limits: WorkerLimits;
  metadata: PdfMetadataInput;
}) {
  const doc = await loadPdfLib(args.input, args.limits);
  const m = args.metadata;
  const date = (v: string, name: string) => {
    const d = new Date(v);
    if (Number.isNaN(d.getTime())) throw new WorkerFailure("INVALID_INPUT", `${name} is not a date: ${v}`);
    return d;
  };
  if (m.title !== undefined) doc.setTitle(m.title);
  if (m.author !== undefined) doc.setAuthor(m.author);
  if (m.subject !== undefined) doc.setSubject(m.subject);
  if (m.keywords !== undefined) doc.setKeywords(m.keywords);
  if (m.creator !== undefined) doc.setCreator(m.creator);
  if (m.producer !== undefined) doc.setProducer(m.producer);
  if (m.creationDate !== undefined) doc.setCreationDate(date(m.creationDate, "creationDate"));
  if (m.modificationDate !== undefined) doc.setModificationDate(date(m.modificationDate, "modificationDate"));
  return save(doc, args.out);
}

const OPS: Record<string, (args: any) => Promise<unknown>> = {
  info,
  text,
  render,
  merge,
  extract,
  rotate,
  stampText,
  stampImage,
  setMetadata,
};

function send(msg: unknown) {
  process.send?.(msg);
}

if (process.send) {
  // The parent is gone (crash, kill -9): nothing left to answer to.
  process.on("disconnect", () => process.exit(1));
  process.once("message", (req: WorkerRequest) => {
    const op = OPS[req.op];
    const run = op ? op(req.args) : Promise.reject(new WorkerFailure("INVALID_INPUT", `Unknown PDF operation ${req.op}`));
    const finish = (msg: unknown) => process.send!(msg, () => process.exit(0));
    run.then(
      (result) => finish({ type: "done", result }),
      (err: unknown) => {
        const e = err as Partial<WorkerFailure> & { code?: unknown };
        if (err instanceof WorkerFailure) finish({ type: "error", code: e.code, message: e.message, details: e.details });
        else finish({ type: "error", code: "DOCUMENT_CORRUPTED", message: `The PDF could not be processed: ${e?.message ?? String(err)}` });
      },
    );
  });
  send({ type: "ready" });
}
