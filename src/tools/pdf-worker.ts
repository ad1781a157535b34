// Child-process entry for src/tools/pdf.ts: the only code that parses untrusted PDFs.
// It runs one operation per process (`node --import tsx --max-old-space-size=… pdf-worker.ts`),
// receives `{ op, args }` over IPC and answers with plain data:
//   { type: "page", page, result }   progress (extractText, renderPages, extractImages)
//   { type: "done", result }
//   { type: "error", code, message, details }
// The parent enforces memory (RSS watch + V8 heap cap) and wall time by killing this process;
// nothing here needs to be trusted to stop on its own.
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { crc32, deflateSync } from "node:zlib";
import type { ErrorCode } from "../errors.ts";
import type { PDFDocument, PDFPage } from "pdf-lib";
import type { ExtractedImage, PdfMetadataInput } from "./pdf.ts";
import { pageText } from "./pdf-text.ts";

export type WorkerLimits = { maxPages: number; maxPixels: number; maxImagePixels: number };
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
    readonly code: ErrorCode,
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

// pdf.js leaves an image above maxImageSize out of the page with nothing but a warning, and the
// page then renders without it: a scan comes out white and OCR finds no word, yet the job
// succeeds. Its warnings go to console.warn; this child counts that one and drops the rest.
let imagesLeftOut = 0;
function watchPdfjsWarnings() {
  console.warn = (...args: unknown[]) => {
    if (String(args[0]).includes("Image exceeded maximum allowed size")) imagesLeftOut++;
  };
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

async function text(args: { path: string; pages?: number[]; limits: WorkerLimits }) {
  const doc = await openPdfjs(args.path, args.limits);
  const pages = checkPages(args.pages, doc.numPages);
  const all = [];
  for (const n of pages) {
    const page = await doc.getPage(n);
    const viewport = page.getViewport({ scale: 1 });
    const content = await page.getTextContent();
    const result = { page: n, width: round(viewport.width), height: round(viewport.height), ...pageText(content.items, content.styles, viewport.transform) };
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

type ImageFormat = "png" | "jpg" | "webp";
type RenderSize = { dpi?: number; width?: number; height?: number };
type PdfjsPage = Awaited<ReturnType<PdfjsDoc["getPage"]>>;
type Canvas = import("@napi-rs/canvas").Canvas;

function scaleFor(base: { width: number; height: number }, size: RenderSize): number {
  if (size.dpi != null && (size.width || size.height)) throw new WorkerFailure("INVALID_INPUT", "Give dpi or width/height, not both.");
  let scale = 1;
  if (size.dpi != null) scale = size.dpi / 72;
  else if (size.width && size.height) scale = Math.min(size.width / base.width, size.height / base.height);
  else if (size.width) scale = size.width / base.width;
  else if (size.height) scale = size.height / base.height;
  if (!(scale > 0) || !Number.isFinite(scale)) throw new WorkerFailure("INVALID_INPUT", "dpi, width and height must be positive numbers.");
  return scale;
}

/**
 * Renders one page to `out` (written to a temporary name, then renamed, so a file that exists is
 * complete). `canvas` is reused from page to page: resizing it frees the previous surface.
 */
async function renderToFile(
  page: PdfjsPage,
  n: number,
  canvas: Canvas,
  o: RenderSize & { format: ImageFormat; quality?: number; out: string; fitPixels?: boolean; grayscale?: boolean; maxPixels: number; maxImagePixels: number },
) {
  if (o.format !== "png" && o.format !== "jpg" && o.format !== "webp") {
    throw new WorkerFailure("INVALID_INPUT", `Unknown image format ${String(o.format)}: use png, jpg or webp.`);
  }
  const base = page.getViewport({ scale: 1 });
  let scale = scaleFor(base, o);
  const dims = (s: number) => [Math.max(1, Math.round(base.width * s)), Math.max(1, Math.round(base.height * s))] as const;
  let [w, h] = dims(scale);
  if (w * h > o.maxPixels) {
    if (!o.fitPixels) {
      throw new WorkerFailure("DOCUMENT_TOO_LARGE", `Rendering page ${n} at ${w}x${h} exceeds the limit of ${o.maxPixels} pixels.`, {
        width: w,
        height: h,
        maxPixels: o.maxPixels,
      });
    }
    scale *= Math.sqrt(o.maxPixels / (w * h));
    [w, h] = dims(scale);
    for (let i = 0; i < 50 && w * h > o.maxPixels; i++) {
      scale *= 0.995; // rounding: a pixel too many on a side
      [w, h] = dims(scale);
    }
    if (w * h > o.maxPixels) {
      throw new WorkerFailure("DOCUMENT_TOO_LARGE", `Page ${n} cannot be fitted in ${o.maxPixels} pixels.`, { maxPixels: o.maxPixels });
    }
  }
  const viewport = page.getViewport({ scale });
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, w, h);
  const leftOut = imagesLeftOut;
  await page.render({
    canvas: canvas as unknown as HTMLCanvasElement,
    canvasContext: ctx as unknown as CanvasRenderingContext2D,
    viewport,
  }).promise;
  if (imagesLeftOut > leftOut) {
    throw new WorkerFailure("DOCUMENT_TOO_LARGE", `Page ${n} holds an image above ${o.maxImagePixels / 1e6} megapixels, more than Spool decodes (the page would render without it). Scan at a lower resolution: 600 dpi is plenty for OCR.`, {
      page: n,
      maxImagePixels: o.maxImagePixels,
    });
  }
  const quality = Math.min(100, Math.max(1, Math.round(o.quality ?? 85)));
  let buf: Buffer;
  if (o.grayscale) {
    const img = ctx.getImageData(0, 0, w, h);
    const rgba = img.data;
    const gray = new Uint8Array(w * h);
    for (let i = 0, j = 0; j < gray.length; i += 4, j++) {
      // Rec. 601 luma, integer weights (sum 1024).
      gray[j] = (rgba[i]! * 306 + rgba[i + 1]! * 601 + rgba[i + 2]! * 117) >> 10;
    }
    if (o.format === "png") buf = encodePng(w, h, gray, "gray", "none");
    else {
      for (let i = 0, j = 0; j < gray.length; i += 4, j++) rgba[i] = rgba[i + 1] = rgba[i + 2] = gray[j]!;
      ctx.putImageData(img, 0, 0);
      buf = o.format === "jpg" ? await canvas.encode("jpeg", quality) : await canvas.encode("webp", quality);
    }
  } else {
    buf = o.format === "png" ? await canvas.encode("png") : o.format === "jpg" ? await canvas.encode("jpeg", quality) : await canvas.encode("webp", quality);
  }
  const tmp = `${o.out}.${process.pid}.tmp`;
  await writeFile(tmp, buf);
  await rename(tmp, o.out);
  return { width: w, height: h, pageWidth: round(base.width), pageHeight: round(base.height) };
}

async function render(args: {
  path: string;
  page: number;
  width?: number;
  height?: number;
  format: ImageFormat;
  quality?: number;
  out: string;
  limits: WorkerLimits;
}) {
  const doc = await openPdfjs(args.path, args.limits);
  checkPages([args.page], doc.numPages);
  const page = await doc.getPage(args.page);
  const { createCanvas } = await napiCanvas();
  const r = await renderToFile(page, args.page, createCanvas(1, 1), {
    width: args.width,
    height: args.height,
    format: args.format,
    quality: args.quality,
    out: args.out,
    maxPixels: args.limits.maxPixels,
    maxImagePixels: args.limits.maxImagePixels,
  });
  await doc.destroy();
  return { width: r.width, height: r.height };
}

const pageName = (n: number) => `page-${String(n).padStart(5, "0")}`;

async function renderPages(args: {
  path: string;
  pages?: number[];
  dpi?: number;
  width?: number;
  height?: number;
  format: ImageFormat;
  quality?: number;
  outDir: string;
  fitPixels?: boolean;
  grayscale?: boolean;
  limits: WorkerLimits;
}) {
  const doc = await openPdfjs(args.path, args.limits);
  const pages = [...new Set(checkPages(args.pages, doc.numPages))];
  await mkdir(args.outDir, { recursive: true });
  const { createCanvas } = await napiCanvas();
  const canvas = createCanvas(1, 1);
  const ext = args.format === "jpg" ? "jpg" : args.format === "webp" ? "webp" : "png";
  const all = [];
  for (const n of pages) {
    const page = await doc.getPage(n);
    const file = join(args.outDir, `${pageName(n)}.${ext}`);
    const r = await renderToFile(page, n, canvas, { ...args, out: file, maxPixels: args.limits.maxPixels, maxImagePixels: args.limits.maxImagePixels });
    page.cleanup();
    const result = { page: n, file, ...r };
    send({ type: "page", page: n, result });
    all.push(result);
  }
  canvas.width = canvas.height = 1;
  await doc.destroy();
  return all;
}

// PNG written by hand: 8-bit grayscale (rendered pages for OCR) and the decoded pdf.js images
// as they come (1-bit gray, RGB, RGBA), with no RGBA expansion and no canvas.
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
function pngChunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "latin1");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(data, crc32(head.subarray(4))), 0);
  return Buffer.concat([head, data, crc]);
}
const PNG_TYPES = { gray1: [1, 0, 1 / 8], gray: [8, 0, 1], rgb: [8, 2, 3], rgba: [8, 6, 4] } as const;
/** `sub` suits photos (extracted images); `none` came out ~15% smaller on rendered text pages. */
function encodePng(width: number, height: number, data: Uint8Array | Uint8ClampedArray, type: keyof typeof PNG_TYPES, filter: "none" | "sub"): Buffer {
  const [depth, colorType, bpp] = PNG_TYPES[type];
  const rowBytes = Math.ceil(width * bpp);
  if (data.length < rowBytes * height) throw new Error(`image data too short (${data.length} < ${rowBytes * height})`);
  const step = Math.max(1, Math.floor(bpp)); // "Sub" filter distance in bytes
  const raw = Buffer.alloc((rowBytes + 1) * height);
  for (let y = 0; y < height; y++) {
    const src = y * rowBytes;
    const dst = y * (rowBytes + 1);
    if (depth === 1 || filter === "none") {
      raw.set(data.subarray(src, src + rowBytes), dst + 1); // filter 0 (None)
      continue;
    }
    raw[dst] = 1; // filter 1 (Sub)
    for (let i = 0; i < rowBytes; i++) raw[dst + 1 + i] = (data[src + i]! - (i >= step ? data[src + i - step]! : 0)) & 0xff;
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = depth;
  ihdr[9] = colorType; // compression, filter, interlace: 0
  return Buffer.concat([PNG_SIGNATURE, pngChunk("IHDR", ihdr), pngChunk("IDAT", deflateSync(raw)), pngChunk("IEND", new Uint8Array(0))]);
}

type DecodedImage = { width: number; height: number; kind?: number; data?: Uint8Array | Uint8ClampedArray; bitmap?: unknown; ref?: unknown };

function objectOf(page: PdfjsPage, objId: string): Promise<DecodedImage | null> {
  // Images shared by several pages live in the document's commonObjs ("g_…" ids).
  const objs = objId.startsWith("g_") ? page.commonObjs : page.objs;
  return new Promise((resolve) => objs.get(objId, (data: unknown) => resolve((data as DecodedImage | null) ?? null)));
}

async function images(args: { path: string; pages?: number[]; outDir: string; minSize?: number; maxImages?: number; limits: WorkerLimits }) {
  const lib = await pdfjs();
  const { OPS, ImageKind } = lib;
  const minSize = args.minSize ?? 32;
  const maxImages = args.maxImages ?? 200;
  if (!(minSize >= 0) || !Number.isInteger(maxImages) || maxImages < 0) throw new WorkerFailure("INVALID_INPUT", "minSize must be ≥ 0 and maxImages a whole number ≥ 0.");
  const doc = await openPdfjs(args.path, args.limits);
  const pages = [...new Set(checkPages(args.pages, doc.numPages))];
  await mkdir(args.outDir, { recursive: true });
  const all: ExtractedImage[] = [];
  let truncated = false;
  for (const n of pages) {
    const page = await doc.getPage(n);
    const ops = await page.getOperatorList();
    const seen = new Set<string>();
    const found: ExtractedImage[] = [];
    for (let i = 0; i < ops.fnArray.length; i++) {
      const fn = ops.fnArray[i];
      const opArgs = ops.argsArray[i] as unknown[];
      let img: DecodedImage | null;
      if (fn === OPS.paintImageXObject || fn === OPS.paintImageXObjectRepeat) {
        const objId = opArgs[0] as string;
        if (seen.has(objId)) continue;
        seen.add(objId);
        img = await objectOf(page, objId);
      } else if (fn === OPS.paintInlineImageXObject) {
        img = opArgs[0] as DecodedImage;
      } else continue;
      // null: pdf.js could not decode it. Images above maxImagePixels never get here: pdf.js
      // (maxImageSize) drops them from the operator list.
      if (!img || !img.data || !img.width || !img.height) continue;
      if (img.width < minSize || img.height < minSize) continue;
      const type = img.kind === ImageKind.GRAYSCALE_1BPP ? "gray1" : img.kind === ImageKind.RGB_24BPP ? "rgb" : img.kind === ImageKind.RGBA_32BPP ? "rgba" : null;
      if (!type) continue;
      if (all.length + found.length >= maxImages) {
        truncated = true;
        break;
      }
      const index = found.length + 1;
      const file = join(args.outDir, `${pageName(n)}-img-${String(index).padStart(2, "0")}.png`);
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, encodePng(img.width, img.height, img.data, type, "sub"));
      await rename(tmp, file);
      found.push({ page: n, index, file, width: img.width, height: img.height });
    }
    page.cleanup();
    send({ type: "page", page: n, result: found });
    all.push(...found);
    if (truncated) break;
  }
  await doc.destroy();
  return { images: all, truncated };
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
  renderPages,
  images,
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
  watchPdfjsWarnings();
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
