// PDF and image fixtures generated at test time (nothing binary is committed).
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { Readable } from "node:stream";
import { createDeflate } from "node:zlib";
import { createCanvas, GlobalFonts } from "@napi-rs/canvas";
import { beginText, drawObject, endText, popGraphicsState, pushGraphicsState, PDFDocument, setFontAndSize, setTextMatrix, showText, PDFName, StandardFonts, type PDFFont } from "pdf-lib";

export const SENTENCES = [
  "The quick brown fox jumps over the lazy dog.",
  "Pack my box with five dozen liquor jugs.",
  "How vexingly quick daft zebras jump.",
];

/** Three US-letter pages; page i holds SENTENCES[i-1] at (72, 100) from the top-left, 14 pt. */
export async function textPdf(path: string): Promise<string> {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  for (const s of SENTENCES) {
    const page = doc.addPage([612, 792]);
    page.drawText(s, { x: 72, y: 792 - 100, size: 14, font });
  }
  await writeFile(path, await doc.save());
  return path;
}

/**
 * One page whose words are separate show-text operations, most inside their own form XObject
 * (as generators that place each text box write them), so pdf.js gets no chance to join them
 * itself; 10 pt Courier (6 pt a character). Its text, by the positions:
 * "[Function] int asn1_array2tree", "alpha beta", "Spool" (two touching runs, one bold).
 */
export async function separateRunsPdf(path: string): Promise<string> {
  const doc = await PDFDocument.create();
  const page = doc.addPage([612, 792]);
  const regular = await doc.embedFont(StandardFonts.Courier);
  const bold = await doc.embedFont(StandardFonts.CourierBold);
  page.node.setFontDictionary(PDFName.of("R"), regular.ref);
  page.node.setFontDictionary(PDFName.of("B"), bold.ref);
  const show = (font: PDFFont, text: string, x: number, baseline: number) =>
    [beginText(), setFontAndSize(font === bold ? "B" : "R", 10), setTextMatrix(1, 0, 0, 1, x, 792 - baseline), showText(font.encodeText(text)), endText()];
  let forms = 0;
  const inForm = (font: PDFFont, text: string, x: number, baseline: number) => {
    const form = doc.context.register(doc.context.contentStream(show(font, text, x, baseline), {
      Type: "XObject", Subtype: "Form", BBox: [0, 0, 612, 792], Resources: { Font: { R: regular.ref, B: bold.ref } },
    }));
    page.pushOperators(pushGraphicsState(), drawObject(page.node.newXObject(`Fm${++forms}`, form)), popGraphicsState());
  };
  page.pushOperators(...show(bold, "[Function]", 72, 100));
  inForm(regular, "int asn1_array2tree", 72 + 10 * 6 + 6, 100);
  inForm(regular, "alpha", 72, 114);
  inForm(regular, "beta", 72 + 5 * 6 + 6, 114);
  inForm(regular, "Spo", 72, 128);
  inForm(bold, "ol", 72 + 3 * 6, 128);
  await writeFile(path, await doc.save());
  return path;
}

export const METADATA = {
  title: "Spool fixture",
  author: "Ada Lovelace",
  subject: "Metadata round trip",
  creator: "spool tests",
  producer: "pdf-lib fixture",
  creationDate: "2021-03-04T05:06:07.000Z",
  modificationDate: "2022-08-09T10:11:12.000Z",
};

export async function metadataPdf(path: string): Promise<string> {
  const doc = await PDFDocument.create({ updateMetadata: false });
  doc.addPage([300, 300]);
  doc.setTitle(METADATA.title);
  doc.setAuthor(METADATA.author);
  doc.setSubject(METADATA.subject);
  doc.setCreator(METADATA.creator);
  doc.setProducer(METADATA.producer);
  doc.setCreationDate(new Date(METADATA.creationDate));
  doc.setModificationDate(new Date(METADATA.modificationDate));
  await writeFile(path, await doc.save());
  return path;
}

/** Assembles a classic-xref PDF from object bodies (object i+1 = bodies[i]); `trailerExtra` goes in the trailer. */
function handPdf(bodies: (string | Buffer)[], trailerExtra = ""): Buffer {
  const parts: Buffer[] = [Buffer.from("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "latin1")];
  const offsets: number[] = [];
  let pos = parts[0]!.length;
  bodies.forEach((body, i) => {
    offsets.push(pos);
    const chunk = Buffer.concat([Buffer.from(`${i + 1} 0 obj\n`), typeof body === "string" ? Buffer.from(body, "latin1") : body, Buffer.from("\nendobj\n")]);
    parts.push(chunk);
    pos += chunk.length;
  });
  const xref =
    `xref\n0 ${bodies.length + 1}\n0000000000 65535 f \n` +
    offsets.map((o) => `${String(o).padStart(10, "0")} 00000 n \n`).join("") +
    `trailer\n<< /Size ${bodies.length + 1} /Root 1 0 R ${trailerExtra} >>\nstartxref\n${pos}\n%%EOF\n`;
  parts.push(Buffer.from(xref, "latin1"));
  return Buffer.concat(parts);
}

/**
 * A one-page PDF with a Standard security handler (RC4 40-bit) whose /U entry does not match the
 * empty user password, so readers must ask for a password. Crafted by hand: pdf-lib cannot encrypt.
 */
export async function encryptedPdf(path: string): Promise<string> {
  const hex32 = (c: string) => "<" + c.repeat(64) + ">";
  const pdf = handPdf(
    [
      "<< /Type /Catalog /Pages 2 0 R >>",
      "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
      "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
      `<< /Filter /Standard /V 1 /R 2 /O ${hex32("a")} /U ${hex32("b")} /P -4 >>`,
    ],
    "/Encrypt 4 0 R /ID [<0123456789abcdef0123456789abcdef> <0123456789abcdef0123456789abcdef>]",
  );
  await writeFile(path, pdf);
  return path;
}

const PASSWORD_PAD = Buffer.from("28bf4e5e4e758a4164004e56fffa01082e2e00b6d0683e802f0ca9fe6453697a", "hex");
function rc4(key: Buffer, data: Buffer): Buffer {
  const S = Array.from({ length: 256 }, (_, i) => i);
  for (let i = 0, j = 0; i < 256; i++) {
    j = (j + S[i]! + key[i % key.length]!) & 255;
    [S[i], S[j]] = [S[j]!, S[i]!];
  }
  const out = Buffer.alloc(data.length);
  for (let k = 0, i = 0, j = 0; k < data.length; k++) {
    i = (i + 1) & 255;
    j = (j + S[i]!) & 255;
    [S[i], S[j]] = [S[j]!, S[i]!];
    out[k] = data[k]! ^ S[(S[i]! + S[j]!) & 255]!;
  }
  return out;
}

/**
 * Encrypted with an owner password only (RC4 40-bit, R2): the empty user password opens it, as
 * with most "protected" PDFs in the wild. /U is computed per the PDF spec (algorithms 3.2, 3.4).
 */
export async function ownerOnlyEncryptedPdf(path: string): Promise<string> {
  const O = Buffer.alloc(32, 0x61);
  const P = -4;
  const id = Buffer.from("0123456789abcdef0123456789abcdef", "hex");
  const p32 = Buffer.alloc(4);
  p32.writeInt32LE(P);
  const key = createHash("md5").update(Buffer.concat([PASSWORD_PAD, O, p32, id])).digest().subarray(0, 5);
  const U = rc4(key, PASSWORD_PAD);
  const pdf = handPdf(
    [
      "<< /Type /Catalog /Pages 2 0 R >>",
      "<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >>",
      "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
      "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
      `<< /Filter /Standard /V 1 /R 2 /O <${O.toString("hex")}> /U <${U.toString("hex")}> /P ${P} >>`,
    ],
    `/Encrypt 5 0 R /ID [<${id.toString("hex")}> <${id.toString("hex")}>]`,
  );
  await writeFile(path, pdf);
  return path;
}

/** The first 60 % of a valid PDF. */
export async function truncatedPdf(source: string, path: string): Promise<string> {
  const bytes = await readFile(source);
  await writeFile(path, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
  return path;
}

export async function garbagePdf(path: string): Promise<string> {
  const bytes = Buffer.alloc(64 * 1024);
  let x = 12345;
  for (let i = 0; i < bytes.length; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    bytes[i] = x & 255;
  }
  await writeFile(path, bytes);
  return path;
}

/**
 * One page whose content stream is FlateDecode of `inflatedBytes` zeros (default 1 GiB; NUL is
 * PDF whitespace, so a reader must decode all of it). About 1 MB on disk.
 */
export async function inflateBombPdf(path: string, inflatedBytes = 1024 ** 3): Promise<string> {
  const zeros = Buffer.alloc(16 * 1024 * 1024);
  const deflated: Buffer[] = [];
  const deflate = createDeflate({ level: 9 });
  deflate.on("data", (d: Buffer) => deflated.push(d));
  async function* chunks() {
    for (let left = inflatedBytes; left > 0; left -= zeros.length) yield left >= zeros.length ? zeros : zeros.subarray(0, left);
  }
  await pipeline(Readable.from(chunks()), deflate);
  const stream = Buffer.concat(deflated);
  const pdf = handPdf([
    "<< /Type /Catalog /Pages 2 0 R >>",
    "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
    Buffer.concat([Buffer.from(`<< /Length ${stream.length} /Filter /FlateDecode >>\nstream\n`), stream, Buffer.from("\nendstream")]),
  ]);
  await writeFile(path, pdf);
  return path;
}

export async function manyPagesPdf(path: string, pages = 5000): Promise<string> {
  const doc = await PDFDocument.create();
  for (let i = 0; i < pages; i++) doc.addPage([200, 200]);
  const out = createWriteStream(path);
  await pipeline(Readable.from([Buffer.from(await doc.save())]), out);
  return path;
}

/** Black `text` on white, sans-serif, vertically centred, as a PNG (for OCR tests). */
let fontRegistered = false;
export async function renderTextPng(text: string, width: number, height: number): Promise<Buffer> {
  if (!fontRegistered) {
    const root = dirname(createRequire(import.meta.url).resolve("dejavu-fonts-ttf/package.json"));
    GlobalFonts.registerFromPath(join(root, "ttf", "DejaVuSans.ttf"), "DejaVu Sans");
    fontRegistered = true;
  }
  const canvas = createCanvas(width, height);
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, width, height);
  ctx.fillStyle = "#000000";
  const size = Math.max(8, Math.floor(height * 0.4));
  ctx.font = `${size}px DejaVu Sans, sans-serif`;
  ctx.textBaseline = "middle";
  ctx.fillText(text, Math.floor(size * 0.5), Math.floor(height / 2), width - size);
  return canvas.encode("png");
}

/** All fixtures in `dir` (the bomb and the 5,000-page PDF included: ~3 s). */
export async function makeFixtures(dir: string) {
  const text = await textPdf(join(dir, "text.pdf"));
  return {
    text,
    metadata: await metadataPdf(join(dir, "metadata.pdf")),
    encrypted: await encryptedPdf(join(dir, "encrypted.pdf")),
    ownerOnlyEncrypted: await ownerOnlyEncryptedPdf(join(dir, "owner-only.pdf")),
    truncated: await truncatedPdf(text, join(dir, "truncated.pdf")),
    garbage: await garbagePdf(join(dir, "garbage.pdf")),
    bomb: await inflateBombPdf(join(dir, "bomb.pdf")),
    manyPages: await manyPagesPdf(join(dir, "many.pdf")),
  };
}
