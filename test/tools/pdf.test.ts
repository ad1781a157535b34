import { execFile, execFileSync } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import { isAbsolute, join } from "node:path";
import { promisify } from "node:util";
import { createCanvas, loadImage } from "@napi-rs/canvas";
import { PDFDocument } from "pdf-lib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  extractImages,
  extractPages,
  extractText,
  mergePdfs,
  openPdfInfo,
  renderPage,
  renderPages,
  rotatePages,
  setMetadata,
  stampImage,
  stampText,
} from "../../src/tools/pdf/pdf.ts";
import type { PdfPageText } from "../../src/tools/pdf/types.ts";
import { METADATA, SENTENCES, makeFixtures, renderTextPng } from "../documents/fixtures.ts";
import { highDpiScanPdf } from "../documents/scan-fixtures.ts";

let dir: string;
let fx: Awaited<ReturnType<typeof makeFixtures>>;

beforeAll(async () => {
  dir = await mkdtemp(join(os.tmpdir(), "spool-pdf-"));
  fx = await makeFixtures(dir);
}, 120_000);
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function rejection(p: Promise<unknown>): Promise<{ code: string; message: string; details?: Record<string, unknown> }> {
  try {
    await p;
  } catch (err) {
    return err as { code: string; message: string; details?: Record<string, unknown> };
  }
  throw new Error("expected a rejection");
}

function pngSize(buf: Buffer): { width: number; height: number } {
  expect(buf.subarray(1, 4).toString("latin1")).toBe("PNG");
  return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) };
}

/** PIDs of pdf-worker children of this process. */
function workerChildren(): number[] {
  try {
    return execFileSync("ps", ["-o", "pid=,args=", "--ppid", String(process.pid)], { encoding: "utf8" })
      .split("\n")
      .filter((l) => l.includes("pdf-worker.ts"))
      .map((l) => Number(l.trim().split(/\s+/)[0]));
  } catch {
    return []; // ps exits 1 when there is no child at all
  }
}

describe("reading", () => {
  it("reads page count and metadata", async () => {
    const info = await openPdfInfo(fx.metadata);
    expect(info).toEqual({ pageCount: 1, encrypted: false, metadata: METADATA });
    expect((await openPdfInfo(fx.text)).pageCount).toBe(3);
  });

  it("extracts the known sentences with word boxes inside the page, page by page", async () => {
    const seen: number[] = [];
    const pages = await extractText(fx.text, { onPage: (n, r) => seen.push(n) && expect(r.page).toBe(n) });
    expect(seen).toEqual([1, 2, 3]);
    expect(pages).toHaveLength(3);
    pages.forEach((p: PdfPageText, i) => {
      expect(p).toMatchObject({ page: i + 1, width: 612, height: 792 });
      expect(p.text.trim()).toBe(SENTENCES[i]);
      expect(p.words.map((w) => w.text)).toEqual(SENTENCES[i]!.split(" "));
      for (const w of p.words) {
        expect(w.x).toBeGreaterThanOrEqual(0);
        expect(w.y).toBeGreaterThanOrEqual(0);
        expect(w.x + w.width).toBeLessThanOrEqual(p.width);
        expect(w.y + w.height).toBeLessThanOrEqual(p.height);
        expect(w.width).toBeGreaterThan(0);
        // Drawn at baseline 100 pt from the top in 14 pt Helvetica.
        expect(w.y).toBeGreaterThan(80);
        expect(w.y).toBeLessThan(100);
        expect(w.y + w.height).toBeGreaterThan(100);
        expect(w.height).toBeGreaterThan(10);
        expect(w.height).toBeLessThan(20);
      }
      expect(p.words[0]!.x).toBeCloseTo(72, 0);
      // Words run left to right without overlapping.
      for (let k = 1; k < p.words.length; k++) expect(p.words[k]!.x).toBeGreaterThan(p.words[k - 1]!.x + p.words[k - 1]!.width);
    });
    const only2 = await extractText(fx.text, { pages: [2] });
    expect(only2.map((p) => p.page)).toEqual([2]);
    expect(only2[0]!.text.trim()).toBe(SENTENCES[1]);
    expect((await rejection(extractText(fx.text, { pages: [4] }))).code).toBe("INVALID_INPUT");
  });
});

describe("rendering", () => {
  it("renders png, jpg and webp at the requested size", async () => {
    const png = join(dir, "p1.png");
    expect(await renderPage(fx.text, 1, { width: 800, format: "png", out: png })).toEqual({ width: 800, height: 1035 });
    expect(pngSize(await readFile(png))).toEqual({ width: 800, height: 1035 });

    const jpg = join(dir, "p2.jpg");
    expect(await renderPage(fx.text, 2, { width: 306, format: "jpg", quality: 80, out: jpg })).toEqual({ width: 306, height: 396 });
    const img = await loadImage(await readFile(jpg));
    expect([img.width, img.height]).toEqual([306, 396]);
    expect((await readFile(jpg)).subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));

    const webp = join(dir, "p3.webp");
    expect(await renderPage(fx.text, 3, { height: 200, format: "webp", quality: 70, out: webp })).toEqual({ width: 155, height: 200 });
    expect((await readFile(webp)).subarray(8, 12).toString("latin1")).toBe("WEBP");
  });

  it("draws the text (dark pixels where the sentence is)", async () => {
    const png = join(dir, "ink.png");
    await renderPage(fx.text, 1, { width: 612, format: "png", out: png });
    const img = await loadImage(await readFile(png));
    const { createCanvas } = await import("@napi-rs/canvas");
    const c = createCanvas(img.width, img.height);
    const ctx = c.getContext("2d");
    ctx.drawImage(img, 0, 0);
    const dark = (x: number, y: number, w: number, h: number) => {
      const d = ctx.getImageData(x, y, w, h).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i]! < 128) n++;
      return n;
    };
    expect(dark(72, 86, 300, 16)).toBeGreaterThan(200); // the sentence
    expect(dark(72, 300, 300, 100)).toBe(0); // blank paper
  });

  it("refuses a render above maxPixels", async () => {
    const err = await rejection(renderPage(fx.text, 1, { width: 5000, format: "png", out: join(dir, "big.png"), limits: { maxPixels: 4_000_000 } }));
    expect(err.code).toBe("DOCUMENT_TOO_LARGE");
    expect(err.message).toMatch(/pixels/);
  });
});

/** RGBA pixels of an image file. */
async function pixels(file: string): Promise<{ width: number; height: number; data: Uint8ClampedArray }> {
  const img = await loadImage(await readFile(file));
  const c = createCanvas(img.width, img.height);
  const ctx = c.getContext("2d");
  ctx.drawImage(img, 0, 0);
  return { width: img.width, height: img.height, data: ctx.getImageData(0, 0, img.width, img.height).data };
}

async function solidImage(w: number, h: number, color: string, format: "png" | "jpeg"): Promise<Buffer> {
  const c = createCanvas(w, h);
  const ctx = c.getContext("2d");
  ctx.fillStyle = color;
  ctx.fillRect(0, 0, w, h);
  return format === "png" ? c.encode("png") : c.encode("jpeg", 95);
}

describe("renderPages", () => {
  it("renders every page at a dpi, reporting each page before it resolves", async () => {
    const outDir = join(dir, "pages-all");
    const events: string[] = [];
    const pages = await renderPages(fx.text, null, {
      dpi: 100,
      format: "png",
      outDir,
      onPage: (n, r) => {
        expect(r.page).toBe(n);
        events.push(`page ${n}`);
      },
    });
    events.push("resolved");
    expect(events).toEqual(["page 1", "page 2", "page 3", "resolved"]);
    // 612 x 792 pt at 100/72.
    expect(pages).toEqual([1, 2, 3].map((n) => ({ page: n, file: join(outDir, `page-0000${n}.png`), width: 850, height: 1100, pageWidth: 612, pageHeight: 792 })));
    for (const p of pages) {
      expect(isAbsolute(p.file)).toBe(true);
      expect(pngSize(await readFile(p.file))).toEqual({ width: 850, height: 1100 });
    }
    expect((await readdir(outDir)).sort()).toEqual(["page-00001.png", "page-00002.png", "page-00003.png"]); // no temporary left
  });

  it("renders a chosen subset in the order given, by width, and in grayscale", async () => {
    const outDir = join(dir, "pages-some");
    const pages = await renderPages(fx.text, [3, 1], { width: 306, format: "png", grayscale: true, outDir });
    expect(pages.map((p) => [p.page, p.width, p.height])).toEqual([
      [3, 306, 396],
      [1, 306, 396],
    ]);
    const buf = await readFile(join(outDir, "page-00001.png"));
    expect(pngSize(buf)).toEqual({ width: 306, height: 396 });
    expect(buf[25]).toBe(0); // PNG colour type 0: grayscale
    const { data } = await pixels(pages[1]!.file);
    let dark = 0;
    for (let y = 43; y < 51; y++) for (let x = 36; x < 186; x++) if (data[(y * 306 + x) * 4]! < 128) dark++;
    expect(dark).toBeGreaterThan(50); // the sentence, at half scale

    const jpg = await renderPages(fx.text, [2], { dpi: 36, format: "jpg", quality: 80, outDir });
    expect(jpg).toEqual([{ page: 2, file: join(outDir, "page-00002.jpg"), width: 306, height: 396, pageWidth: 612, pageHeight: 792 }]);
    expect((await readFile(jpg[0]!.file)).subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
  });

  it("refuses pages that do not exist and ambiguous sizes", async () => {
    const outDir = join(dir, "pages-bad");
    for (const pages of [[4], [0], [1, 7]]) {
      const err = await rejection(renderPages(fx.text, pages, { dpi: 72, format: "png", outDir }));
      expect(err.code).toBe("INVALID_INPUT");
      expect(err.message).toMatch(/does not exist/);
    }
    expect((await rejection(renderPages(fx.text, [1], { dpi: 72, width: 100, format: "png", outDir }))).code).toBe("INVALID_INPUT");
    expect((await rejection(renderPages(fx.text, [1], { dpi: -5, format: "png", outDir }))).code).toBe("INVALID_INPUT");
  });

  it("scales a page down to maxPixels with fitPixels, and refuses it without", async () => {
    const outDir = join(dir, "pages-fit");
    const limits = { maxPixels: 4_000_000 }; // 300 dpi would be 2550 x 3300 = 8.4 M
    const err = await rejection(renderPages(fx.text, [1], { dpi: 300, format: "png", outDir, limits }));
    expect(err.code).toBe("DOCUMENT_TOO_LARGE");
    expect(err.message).toMatch(/pixels/);
    const [p] = await renderPages(fx.text, [1], { dpi: 300, format: "png", outDir, limits, fitPixels: true });
    expect(p!.width * p!.height).toBeLessThanOrEqual(4_000_000);
    expect(p!.width * p!.height).toBeGreaterThan(3_950_000);
    expect(p!.width / p!.height).toBeCloseTo(612 / 792, 2);
    expect(pngSize(await readFile(p!.file))).toEqual({ width: p!.width, height: p!.height });
    // Pages within the limit are rendered at the asked dpi.
    expect(await renderPages(fx.text, [2], { dpi: 100, format: "png", outDir, limits, fitPixels: true })).toMatchObject([{ width: 850, height: 1100 }]);
  });

  it("draws a scan whose image has more pixels than the render, and refuses one above maxImagePixels instead of a blank page", async () => {
    // 200 dpi: one 1700×2200 (3.7 MP) grey image, on a page rendered at 72 dpi (0.5 MP).
    const scan = await highDpiScanPdf(join(dir, "scan-200dpi.pdf"), [{ text: "Harbour office", size: 40 }], 200);
    const outDir = join(dir, "pages-scan");
    const limits = { maxPixels: 2_000_000 };
    const [p] = await renderPages(scan, [1], { dpi: 72, format: "png", outDir, limits });
    const { data } = await pixels(p!.file);
    let dark = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i]! < 128) dark++;
    expect(dark).toBeGreaterThan(2000); // the words, not white paper
    expect((await extractImages(scan, { outDir: join(dir, "images-scan"), limits })).images).toMatchObject([{ width: 1700, height: 2200 }]);
    const err = await rejection(renderPages(scan, [1], { dpi: 72, format: "png", outDir, limits: { maxImagePixels: 3_000_000 } }));
    expect(err.code).toBe("DOCUMENT_TOO_LARGE");
    expect(err.message).toMatch(/page 1 .*image.* 3 megapixels/i);
    expect(err.details).toMatchObject({ page: 1, maxImagePixels: 3_000_000 });
  });

  it("abort mid-way kills the child at once", async () => {
    const ac = new AbortController();
    let abortedAt = 0;
    const seen: number[] = [];
    const err = await rejection(
      renderPages(fx.manyPages, null, {
        dpi: 72,
        format: "png",
        outDir: join(dir, "pages-abort"),
        signal: ac.signal,
        onPage: (n) => {
          seen.push(n);
          if (n === 3) {
            abortedAt = Date.now();
            ac.abort(new Error("test abort"));
          }
        },
      }),
    );
    expect(err.code).toBe("ABORTED");
    expect(Date.now() - abortedAt).toBeLessThan(100);
    expect(seen.slice(0, 3)).toEqual([1, 2, 3]);
    const deadline = Date.now() + 1000;
    while (workerChildren().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(workerChildren()).toEqual([]);
  });
});

describe("extractImages", () => {
  let imagesPdf: string;
  beforeAll(async () => {
    const doc = await PDFDocument.create();
    const p1 = doc.addPage([612, 792]);
    const red = await doc.embedPng(await solidImage(200, 100, "#ff0000", "png"));
    p1.drawImage(red, { x: 50, y: 600, width: 200, height: 100 });
    p1.drawImage(red, { x: 50, y: 400, width: 100, height: 50 }); // the same XObject again
    p1.drawImage(await doc.embedPng(await solidImage(10, 10, "#00ff00", "png")), { x: 300, y: 300 });
    const p2 = doc.addPage([612, 792]);
    p2.drawImage(await doc.embedJpg(await solidImage(120, 80, "#0000ff", "jpeg")), { x: 50, y: 500 });
    imagesPdf = join(dir, "images.pdf");
    await writeFile(imagesPdf, await doc.save());
  });

  const colourOf = async (file: string) => {
    const { data } = await pixels(file);
    let max = 0;
    const first = [data[0]!, data[1]!, data[2]!, data[3]!];
    for (let i = 0; i < data.length; i += 4) for (let k = 0; k < 4; k++) max = Math.max(max, Math.abs(data[i + k]! - first[k]!));
    return { first, spread: max };
  };

  it("writes the embedded images as PNG, once per page, skipping small ones", async () => {
    const outDir = join(dir, "images");
    const seen: [number, number][] = [];
    const res = await extractImages(imagesPdf, { outDir, onPage: (n, imgs) => seen.push([n, imgs.length]) });
    expect(seen).toEqual([
      [1, 1],
      [2, 1],
    ]);
    expect(res).toEqual({
      truncated: false,
      images: [
        { page: 1, index: 1, file: join(outDir, "page-00001-img-01.png"), width: 200, height: 100 },
        { page: 2, index: 1, file: join(outDir, "page-00002-img-01.png"), width: 120, height: 80 },
      ],
    });
    expect(pngSize(await readFile(res.images[0]!.file))).toEqual({ width: 200, height: 100 });
    expect(pngSize(await readFile(res.images[1]!.file))).toEqual({ width: 120, height: 80 });
    expect(await colourOf(res.images[0]!.file)).toEqual({ first: [255, 0, 0, 255], spread: 0 });
    const blue = await colourOf(res.images[1]!.file); // JPEG: close to blue, not exact
    expect(blue.first[0]).toBeLessThan(20);
    expect(blue.first[1]).toBeLessThan(20);
    expect(blue.first[2]).toBeGreaterThan(235);
    expect(blue.spread).toBeLessThan(20);
    expect((await readdir(outDir)).sort()).toEqual(["page-00001-img-01.png", "page-00002-img-01.png"]);
  });

  it("honours pages, minSize and maxImages", async () => {
    const outDir = join(dir, "images-opts");
    expect((await extractImages(imagesPdf, { outDir, pages: [2] })).images.map((i) => i.page)).toEqual([2]);
    const small = await extractImages(imagesPdf, { outDir, pages: [1], minSize: 5 });
    expect(small.images.map((i) => [i.index, i.width, i.height])).toEqual([
      [1, 200, 100],
      [2, 10, 10],
    ]);
    const one = await extractImages(imagesPdf, { outDir: join(dir, "images-one"), maxImages: 1 });
    expect(one).toMatchObject({ truncated: true, images: [{ page: 1, width: 200 }] });
    expect(await readdir(join(dir, "images-one"))).toEqual(["page-00001-img-01.png"]);
    expect((await extractImages(imagesPdf, { outDir, maxImages: 2 })).truncated).toBe(false);
    expect((await rejection(extractImages(imagesPdf, { outDir, pages: [3] }))).code).toBe("INVALID_INPUT");
  });

  it("finds nothing in a text-only PDF", async () => {
    const seen: number[] = [];
    expect(await extractImages(fx.text, { outDir: join(dir, "images-none"), onPage: (n) => seen.push(n) })).toEqual({ images: [], truncated: false });
    expect(seen).toEqual([1, 2, 3]);
  });
});

describe("pdf-lib transforms", () => {
  it("merges and extracts pages", async () => {
    const merged = join(dir, "merged.pdf");
    expect(await mergePdfs([fx.text, fx.metadata], merged)).toMatchObject({ pageCount: 4 });
    expect((await openPdfInfo(merged)).pageCount).toBe(4);

    const picked = join(dir, "picked.pdf");
    expect(await extractPages(fx.text, [3, 1], picked)).toMatchObject({ pageCount: 2 });
    const text = await extractText(picked);
    expect(text.map((p) => p.text.trim())).toEqual([SENTENCES[2], SENTENCES[0]]);
    expect((await rejection(extractPages(fx.text, [0], join(dir, "x.pdf")))).code).toBe("INVALID_INPUT");
  });

  it("rotates pages", async () => {
    const out = join(dir, "rotated.pdf");
    await rotatePages(fx.text, [2], 90, out);
    const doc = await PDFDocument.load(await readFile(out));
    expect(doc.getPages().map((p) => p.getRotation().angle)).toEqual([0, 90, 0]);
    const pages = await extractText(out);
    expect(pages.map((p) => [p.width, p.height])).toEqual([
      [612, 792],
      [792, 612],
      [612, 792],
    ]);
    // Rotated words stay inside the rotated page.
    for (const w of pages[1]!.words) expect(w.x + w.width).toBeLessThanOrEqual(792);
    const back = join(dir, "rotated-back.pdf");
    await rotatePages(out, null, -90, back);
    const doc2 = await PDFDocument.load(await readFile(back));
    expect(doc2.getPages().map((p) => p.getRotation().angle)).toEqual([270, 0, 270]);
    expect((await rejection(rotatePages(fx.text, null, 45, join(dir, "x.pdf")))).code).toBe("INVALID_INPUT");
  });

  it("stamps text and an image", async () => {
    const out = join(dir, "stamped.pdf");
    await stampText(fx.text, { text: "CONFIDENTIAL", fontSize: 30, color: "#cc0000", opacity: 0.5, position: "center", pages: [1, 3] }, out);
    const pages = await extractText(out);
    expect(pages.map((p) => p.text.includes("CONFIDENTIAL"))).toEqual([true, false, true]);
    const w = pages[0]!.words.find((x) => x.text === "CONFIDENTIAL")!;
    expect(w.x + w.width / 2).toBeCloseTo(306, -1);
    expect(w.y + w.height / 2).toBeCloseTo(396, -1);

    const pngPath = join(dir, "stamp.png");
    await writeFile(pngPath, await renderTextPng("APPROVED", 200, 60));
    const out2 = join(dir, "stamped-img.pdf");
    expect(await stampImage(fx.text, pngPath, { scale: 1, opacity: 1, position: { x: 300, y: 600 } }, out2)).toMatchObject({ pageCount: 3 });
    const png = join(dir, "stamped-img.png");
    await renderPage(out2, 2, { width: 612, format: "png", out: png });
    const img = await loadImage(await readFile(png));
    const { createCanvas } = await import("@napi-rs/canvas");
    const c = createCanvas(img.width, img.height);
    c.getContext("2d").drawImage(img, 0, 0);
    const d = c.getContext("2d").getImageData(300, 600, 200, 60).data;
    let darkPixels = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i]! < 128) darkPixels++;
    expect(darkPixels).toBeGreaterThan(300);
  });

  it("sets metadata and keeps the fields not given", async () => {
    const out = join(dir, "meta2.pdf");
    await setMetadata(fx.metadata, { title: "New title", author: "Grace Hopper", modificationDate: "2024-01-02T03:04:05Z" }, out);
    const info = await openPdfInfo(out);
    expect(info.metadata).toEqual({ ...METADATA, title: "New title", author: "Grace Hopper", modificationDate: "2024-01-02T03:04:05.000Z" });
  });
});

describe("hostile and broken input", () => {
  it("reports truncated and garbage files as DOCUMENT_CORRUPTED", async () => {
    for (const f of [fx.truncated, fx.garbage]) {
      expect((await rejection(openPdfInfo(f))).code).toBe("DOCUMENT_CORRUPTED");
      expect((await rejection(extractText(f))).code).toBe("DOCUMENT_CORRUPTED");
      expect((await rejection(rotatePages(f, null, 90, join(dir, "x.pdf")))).code).toBe("DOCUMENT_CORRUPTED");
    }
  });

  it("reports a password-protected PDF as DOCUMENT_CORRUPTED saying it is encrypted", async () => {
    for (const run of [() => openPdfInfo(fx.encrypted), () => extractText(fx.encrypted), () => mergePdfs([fx.encrypted], join(dir, "x.pdf"))]) {
      const err = await rejection(run());
      expect(err.code).toBe("DOCUMENT_CORRUPTED");
      expect(err.message).toMatch(/encrypted/);
      expect(err.details).toMatchObject({ encrypted: true });
    }
  });

  it("opens a PDF encrypted with an owner password only, and refuses to rewrite it", async () => {
    expect(await openPdfInfo(fx.ownerOnlyEncrypted)).toMatchObject({ pageCount: 2, encrypted: true });
    expect((await extractText(fx.ownerOnlyEncrypted)).map((p) => p.words)).toEqual([[], []]);
    const err = await rejection(rotatePages(fx.ownerOnlyEncrypted, null, 90, join(dir, "x.pdf")));
    expect(err.code).toBe("DOCUMENT_CORRUPTED");
    expect(err.message).toMatch(/encrypted/);
  });

  it("refuses more pages than maxPages", async () => {
    const limits = { maxPages: 1000 };
    for (const run of [
      () => openPdfInfo(fx.manyPages, { limits }),
      () => extractText(fx.manyPages, { limits }),
      () => extractPages(fx.manyPages, [1], join(dir, "x.pdf"), { limits }),
    ]) {
      const err = await rejection(run());
      expect(err.code).toBe("DOCUMENT_TOO_LARGE");
      expect(err.message).toMatch(/5000 pages/);
    }
    expect((await openPdfInfo(fx.manyPages)).pageCount).toBe(5000); // the default limit allows it
  });

  it("bounds a 1 GB inflate bomb in the child, not in this process", async () => {
    const before = process.memoryUsage().rss;
    const t0 = Date.now();
    const text = await rejection(extractText(fx.bomb));
    const tText = Date.now() - t0;
    expect(text.code).toBe("DOCUMENT_TOO_LARGE");
    expect(text.details).toMatchObject({ reason: "memory" });
    const render = await rejection(renderPage(fx.bomb, 1, { width: 200, format: "png", out: join(dir, "bomb.png"), limits: { maxMemoryMb: 400 } }));
    expect(render.code).toBe("DOCUMENT_TOO_LARGE");
    // Rewriting it with pdf-lib copies the stream without inflating it.
    expect(await mergePdfs([fx.bomb, fx.text], join(dir, "bomb-merged.pdf"))).toMatchObject({ pageCount: 4 });
    const grown = (process.memoryUsage().rss - before) / 1024 ** 2;
    expect(grown).toBeLessThan(300);
    console.info(`inflate bomb: extractText refused in ${tText} ms; this process grew ${grown.toFixed(0)} MB`);
    expect(workerChildren()).toEqual([]);
  });

  it("reports a V8 heap overflow in the child as DOCUMENT_TOO_LARGE", async () => {
    const err = await rejection(extractText(fx.manyPages, { limits: { maxHeapMb: 24 } }));
    expect(err.code).toBe("DOCUMENT_TOO_LARGE");
    expect(err.details).toMatchObject({ reason: "memory", maxHeapMb: 24 });
  });

  it("stops on the wall-time limit", async () => {
    const t0 = Date.now();
    const err = await rejection(extractText(fx.bomb, { limits: { timeoutMs: 1000, maxMemoryMb: 4096, maxHeapMb: 512 } }));
    expect(err.code).toBe("DOCUMENT_TOO_LARGE");
    expect(err.details).toMatchObject({ reason: "time" });
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it("abort mid-extraction kills the child at once", async () => {
    const ac = new AbortController();
    let abortedAt = 0;
    const p = extractText(fx.manyPages, {
      signal: ac.signal,
      onPage: (n) => {
        if (n === 3) {
          abortedAt = Date.now();
          ac.abort(new Error("test abort"));
        }
      },
    });
    const err = await rejection(p);
    expect(err.code).toBe("ABORTED");
    expect(Date.now() - abortedAt).toBeLessThan(100);
    // SIGKILL was sent; the process is reaped within moments.
    const deadline = Date.now() + 1000;
    while (workerChildren().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(workerChildren()).toEqual([]);
    // Already aborted: refused without starting a child.
    expect((await rejection(openPdfInfo(fx.text, { signal: AbortSignal.abort() }))).code).toBe("ABORTED");
  });
});

describe("outside vitest", () => {
  it("works from plain `node --import tsx`", async () => {
    const src = new URL("../../src/tools/pdf/pdf.ts", import.meta.url).href;
    const script = `import { openPdfInfo } from ${JSON.stringify(src)}; console.log(JSON.stringify(await openPdfInfo(${JSON.stringify(fx.text)})));`;
    const file = join(dir, "outside.mts");
    await writeFile(file, script);
    const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", file], { cwd: new URL("../..", import.meta.url).pathname });
    expect(JSON.parse(stdout).pageCount).toBe(3);
  });
});
