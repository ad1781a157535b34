// Image extraction in the PDF child: the raster images drawn on each page, as pdf.js decoded
// them, written as PNG without a canvas (png.ts). Image XObjects are kept once per page however
// often they are drawn.
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { checkPages, openPdfjs, pageName, pdfjs, WorkerFailure, type PdfjsPage } from "./open-pdf.ts";
import { encodePng } from "./png.ts";
import type { ExtractedImage, ExtractImagesResult, OnPage, WorkerLimits } from "./types.ts";

type DecodedImage = { width: number; height: number; kind?: number; data?: Uint8Array | Uint8ClampedArray; bitmap?: unknown; ref?: unknown };

function objectOf(page: PdfjsPage, objId: string): Promise<DecodedImage | null> {
  // Images shared by several pages live in the document's commonObjs ("g_…" ids).
  const objs = objId.startsWith("g_") ? page.commonObjs : page.objs;
  return new Promise((resolve) => objs.get(objId, (data: unknown) => resolve((data as DecodedImage | null) ?? null)));
}

export async function images(
  args: { path: string; pages?: number[]; outDir: string; minSize?: number; maxImages?: number; limits: WorkerLimits },
  onPage: OnPage,
): Promise<ExtractImagesResult> {
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
    onPage(n, found);
    all.push(...found);
    if (truncated) break;
  }
  await doc.destroy();
  return { images: all, truncated };
}
