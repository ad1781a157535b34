// "Scanned" documents for OCR tests: pages drawn as pictures with known text (no text layer),
// generated at test time with @napi-rs/canvas and wrapped in a PDF by pdf-lib.
import { writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { deflateSync } from "node:zlib";
import { createCanvas, GlobalFonts } from "@napi-rs/canvas";
import { concatTransformationMatrix, drawObject, PDFDocument, popGraphicsState, pushGraphicsState, StandardFonts } from "pdf-lib";

/** A line of a scanned page: its text and font size in pixels at 150 dpi. */
export type ScanLine = { text: string; size?: number };

let fontRegistered = false;
function registerFont() {
  if (fontRegistered) return;
  const root = dirname(createRequire(import.meta.url).resolve("dejavu-fonts-ttf/package.json"));
  GlobalFonts.registerFromPath(join(root, "ttf", "DejaVuSans.ttf"), "DejaVu Sans");
  fontRegistered = true;
}

/** A US-letter page at 150 dpi (1275×1650 px), black text on white from the top-left margin. */
export async function scanPagePng(lines: ScanLine[]): Promise<Buffer> {
  registerFont();
  const canvas = createCanvas(1275, 1650);
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, 1275, 1650);
  ctx.fillStyle = "#000000";
  ctx.textBaseline = "top";
  let y = 150;
  for (const line of lines) {
    const size = line.size ?? 34;
    ctx.font = `${size}px DejaVu Sans`;
    ctx.fillText(line.text, 150, y);
    y += Math.round(size * 1.6);
  }
  return canvas.encode("png");
}

/** A PDF whose pages are pictures only. `textPages` (1-based) get a real text layer instead. */
export async function scannedPdf(path: string, pages: ScanLine[][], textPages: number[] = []): Promise<string> {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  for (const [i, lines] of pages.entries()) {
    const page = doc.addPage([612, 792]);
    if (textPages.includes(i + 1)) {
      let y = 792 - 90;
      for (const l of lines) {
        const size = ((l.size ?? 34) * 72) / 150;
        page.drawText(l.text, { x: 72, y, size, font });
        y -= size * 1.6;
      }
      continue;
    }
    const png = await doc.embedPng(await scanPagePng(lines));
    page.drawImage(png, { x: 0, y: 0, width: 612, height: 792 });
  }
  await writeFile(path, await doc.save());
  return path;
}

/**
 * A one-page US-letter scan at `dpi` as scanners write it: one 8-bit grey image (FlateDecode,
 * DeviceGray) filling the page, dark text on off-white paper. Line sizes are in points, so the
 * text reads the same at any dpi. The image is built in strips: a 700 dpi page (5950×7700,
 * 46 MP) costs this process its 46 MB of grey, not a full RGBA canvas.
 */
export async function highDpiScanPdf(path: string, lines: ScanLine[], dpi: number): Promise<string> {
  registerFont();
  const width = Math.round(8.5 * dpi);
  const height = Math.round(11 * dpi);
  const px = (pt: number) => Math.round((pt * dpi) / 72);
  const grey = new Uint8Array(width * height).fill(0xf2);
  let top = px(72);
  for (const line of lines) {
    const size = px(line.size ?? 16);
    const strip = createCanvas(width, Math.round(size * 1.6));
    const ctx = strip.getContext("2d");
    ctx.fillStyle = "#f2f2f2";
    ctx.fillRect(0, 0, strip.width, strip.height);
    ctx.fillStyle = "#1e1e1e";
    ctx.font = `${size}px DejaVu Sans`;
    ctx.textBaseline = "top";
    ctx.fillText(line.text, px(72), Math.round(size * 0.2));
    const rgba = ctx.getImageData(0, 0, strip.width, strip.height).data;
    for (let i = 0; i < strip.width * strip.height && top * width + i < grey.length; i++) grey[top * width + i] = rgba[i * 4]!;
    top += strip.height;
  }
  const doc = await PDFDocument.create();
  const image = doc.context.register(doc.context.stream(deflateSync(grey), {
    Type: "XObject", Subtype: "Image", Width: width, Height: height, ColorSpace: "DeviceGray", BitsPerComponent: 8, Filter: "FlateDecode",
  }));
  const page = doc.addPage([612, 792]);
  const name = page.node.newXObject("Scan", image);
  page.pushOperators(pushGraphicsState(), concatTransformationMatrix(612, 0, 0, 792, 0, 0), drawObject(name), popGraphicsState());
  await writeFile(path, await doc.save());
  return path;
}

/** A PNG whose header claims width×height but whose data is a few bytes (a "pixel bomb"). */
export function pixelBombPng(width: number, height: number): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (b: Buffer) => {
    let c = 0xffffffff;
    for (const x of b) c = crcTable[(c ^ x) & 0xff]! ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, sum]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", Buffer.from([0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}
