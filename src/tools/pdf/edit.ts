// Rewriting in the PDF child, with pdf-lib: merge, extract and rotate pages, stamp text or an
// image, set the information dictionary. Each writes a new file and answers its page count and
// size; the input is never modified.
import { readFile, writeFile } from "node:fs/promises";
import type { PDFDocument, PDFPage } from "pdf-lib";
import { checkPages, loadPdfLib, pdfLib, WorkerFailure } from "./open-pdf.ts";
import type { PdfMetadataInput, PdfWriteResult, StampPosition, WorkerLimits } from "./types.ts";

async function save(doc: PDFDocument, out: string): Promise<PdfWriteResult> {
  const bytes = await doc.save();
  await writeFile(out, bytes);
  return { pageCount: doc.getPageCount(), bytes: bytes.byteLength };
}

export async function merge(args: { inputs: string[]; out: string; limits: WorkerLimits }) {
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

export async function extract(args: { input: string; pages: number[]; out: string; limits: WorkerLimits }) {
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

export async function rotate(args: { input: string; pages?: number[]; degrees: number; out: string; limits: WorkerLimits }) {
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

export async function stampText(args: {
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

export async function stampImage(args: {
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

export async function setMetadata(args: {
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
