// Rendering in the PDF child: one page or many to PNG/JPEG/WebP with pdf.js on an
// @napi-rs/canvas, sized by dpi or by a box, under the pixel limit (or fitted to it), grey for
// OCR. A page whose image pdf.js left out (above maxImagePixels) fails rather than rendering
// white: OCR would find no word on it and the job would still succeed.
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { checkPages, imagesLeftOutSoFar, napiCanvas, openPdfjs, pageName, round, WorkerFailure, type PdfjsPage } from "./open-pdf.ts";
import { encodePng } from "./png.ts";
import type { OnPage, RenderedPage, WorkerLimits } from "./types.ts";

type ImageFormat = "png" | "jpg" | "webp";
type RenderSize = { dpi?: number; width?: number; height?: number };
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
  const leftOut = imagesLeftOutSoFar();
  await page.render({
    canvas: canvas as unknown as HTMLCanvasElement,
    canvasContext: ctx as unknown as CanvasRenderingContext2D,
    viewport,
  }).promise;
  if (imagesLeftOutSoFar() > leftOut) {
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

export async function render(args: {
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

export async function renderPages(
  args: {
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
  },
  onPage: OnPage,
): Promise<RenderedPage[]> {
  const doc = await openPdfjs(args.path, args.limits);
  const pages = [...new Set(checkPages(args.pages, doc.numPages))];
  await mkdir(args.outDir, { recursive: true });
  const { createCanvas } = await napiCanvas();
  const canvas = createCanvas(1, 1);
  const ext = args.format === "jpg" ? "jpg" : args.format === "webp" ? "webp" : "png";
  const all: RenderedPage[] = [];
  for (const n of pages) {
    const page = await doc.getPage(n);
    const file = join(args.outDir, `${pageName(n)}.${ext}`);
    const r = await renderToFile(page, n, canvas, { ...args, out: file, maxPixels: args.limits.maxPixels, maxImagePixels: args.limits.maxImagePixels });
    page.cleanup();
    const result = { page: n, file, ...r };
    onPage(n, result);
    all.push(result);
  }
  canvas.width = canvas.height = 1;
  await doc.destroy();
  return all;
}
