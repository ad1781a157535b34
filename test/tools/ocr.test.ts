// The tesseract.js adapter against real worker threads and the installed English data.
// Images are drawn with @napi-rs/canvas, so the expected text is known exactly.
//
// Offline proof, on three levels:
// 1. For the whole file the main thread's `fetch` and `net.Socket#connect` are replaced by traps
//    that count and throw; afterAll asserts that nothing was attempted (images are read here and
//    passed as bytes, so tesseract's main-thread image loader never fetches).
// 2. The worker threads run behind the adapter's guard that replaces `fetch` and
//    `net.Socket#connect` inside the worker before tesseract's worker script captures them. Every
//    recognition in this file succeeds with that guard in place, so no language data or core came
//    from the network (a blocked fetch fails the worker start).
// 3. The guard is shown to be live: pointed at the jsDelivr CDN (tesseract's default source),
//    the pool fails fast with OCR_FAILED "network access blocked" instead of hanging.
import { createCanvas } from "@napi-rs/canvas";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { SpoolError } from "../../src/errors.ts";
import { installedOcrLanguages } from "../../src/tools/ocr/languages.ts";
import { OcrPool } from "../../src/tools/ocr/pool.ts";
import type { OcrResult } from "../../src/tools/ocr/types.ts";

function render(lines: string[], opts: { width?: number; size?: number; gap?: number } = {}): Buffer {
  const size = opts.size ?? 48;
  const gap = opts.gap ?? Math.round(size * 1.8);
  const width = opts.width ?? 1000;
  const height = 80 + gap * lines.length;
  const canvas = createCanvas(width, height);
  const g = canvas.getContext("2d");
  g.fillStyle = "#ffffff";
  g.fillRect(0, 0, width, height);
  g.fillStyle = "#000000";
  g.font = `${size}px sans-serif`;
  lines.forEach((line, i) => g.fillText(line, 40, 40 + size + i * gap));
  return canvas.toBuffer("image/png");
}
const SIZE_OF = (png: Buffer) => ({ width: png.readUInt32BE(16), height: png.readUInt32BE(20) });

const INVOICE = render(["Spool reads this invoice 2026"]);
const MULTI = render(["Quarterly report for Spool", "Total amount due 4200 euros", "Thank you for your business"]);
// A dense page: takes seconds to recognise, long enough to abort mid-run.
const DENSE = render(
  Array.from({ length: 60 }, (_, i) => `Line ${i} the quick brown fox jumps over the lazy dog again and again`),
  { width: 2400, size: 28, gap: 40 },
);

async function expectCode(p: Promise<unknown>, code: string): Promise<SpoolError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SpoolError);
  expect((err as SpoolError).code).toBe(code);
  return err as SpoolError;
}

const netAttempts: string[] = [];
const realFetch = globalThis.fetch;
const realConnect = net.Socket.prototype.connect;
const pools: OcrPool[] = [];
const newPool = (...args: ConstructorParameters<typeof OcrPool>) => {
  const p = new OcrPool(...args);
  pools.push(p);
  return p;
};
let tmp: string;

beforeAll(() => {
  tmp = mkdtempSync(join(os.tmpdir(), "spool-ocr-test-"));
  globalThis.fetch = (async (input: unknown) => {
    netAttempts.push(`fetch ${String(input)}`);
    throw new Error("network disabled in this test");
  }) as typeof fetch;
  net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
    netAttempts.push(`connect ${JSON.stringify(args[0])}`);
    throw new Error("network disabled in this test");
  } as typeof net.Socket.prototype.connect;
});

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

afterAll(() => {
  globalThis.fetch = realFetch;
  net.Socket.prototype.connect = realConnect;
  rmSync(tmp, { recursive: true, force: true });
  expect(netAttempts).toEqual([]);
});

function expectWordsInside(r: OcrResult, png: Buffer): void {
  const { width, height } = SIZE_OF(png);
  for (const w of r.words) {
    expect(w.bbox.x0).toBeGreaterThanOrEqual(0);
    expect(w.bbox.y0).toBeGreaterThanOrEqual(0);
    expect(w.bbox.x1).toBeLessThanOrEqual(width);
    expect(w.bbox.y1).toBeLessThanOrEqual(height);
    expect(w.bbox.x1).toBeGreaterThan(w.bbox.x0);
    expect(w.bbox.y1).toBeGreaterThan(w.bbox.y0);
  }
}

describe("OcrPool.recognize", () => {
  it("reads a line of known text with confident words, boxes inside the image, in reading order", async () => {
    const pool = newPool({ size: 1 });
    expect(pool.liveWorkers).toBe(0); // lazy: nothing started until the first request
    const r = await pool.recognize(INVOICE);
    expect(r.text.trim()).toBe("Spool reads this invoice 2026");
    expect(r.confidence).toBeGreaterThan(60);
    expect(r.words.map((w) => w.text)).toEqual(["Spool", "reads", "this", "invoice", "2026"]);
    for (const w of r.words) expect(w.confidence).toBeGreaterThan(60);
    expectWordsInside(r, INVOICE);
    for (let i = 1; i < r.words.length; i++) expect(r.words[i]!.bbox.x0).toBeGreaterThan(r.words[i - 1]!.bbox.x1 - 1);
    expect(r.lines).toHaveLength(1);
    expect(r.hocr).toBeUndefined();
    expect(pool.stats.workersCreated).toBe(1);
  });

  it("reads several lines in order, from an absolute path, with hOCR on request", async () => {
    const file = join(tmp, "multi.png");
    writeFileSync(file, MULTI);
    const pool = newPool({ size: 1 });
    const r = await pool.recognize(file, { hocr: true });
    expect(r.lines.map((l) => l.text)).toEqual([
      "Quarterly report for Spool",
      "Total amount due 4200 euros",
      "Thank you for your business",
    ]);
    for (const want of ["Quarterly", "Spool", "4200", "euros", "business"]) {
      const w = r.words.find((x) => x.text === want);
      expect(w, want).toBeDefined();
      expect(w!.confidence).toBeGreaterThan(60);
    }
    expectWordsInside(r, MULTI);
    for (let i = 1; i < r.lines.length; i++) expect(r.lines[i]!.bbox.y0).toBeGreaterThan(r.lines[i - 1]!.bbox.y1 - 1);
    // Reading order: by line top to bottom, then left to right inside a line.
    for (const line of r.lines) {
      for (let i = 1; i < line.words.length; i++) expect(line.words[i]!.bbox.x0).toBeGreaterThan(line.words[i - 1]!.bbox.x0);
    }
    expect(r.words).toEqual(r.lines.flatMap((l) => l.words));
    expect(r.hocr).toContain("ocrx_word");
    expect(r.hocr).toContain("bbox");
  });

  it("refuses relative paths, missing files and bytes that are no image (INVALID_INPUT)", async () => {
    const pool = newPool({ size: 1 });
    await expectCode(pool.recognize("multi.png"), "INVALID_INPUT");
    await expectCode(pool.recognize("https://example.com/a.png"), "INVALID_INPUT");
    await expectCode(pool.recognize(join(tmp, "missing.png")), "INVALID_INPUT");
    await expectCode(pool.recognize(Buffer.from("this is not an image at all, just text")), "INVALID_INPUT");
    expect(pool.stats.workersCreated).toBe(0);
  });

  it("fails a corrupt image inside tesseract with OCR_FAILED and keeps serving", async () => {
    const pool = newPool({ size: 1 });
    const corrupt = Buffer.concat([INVOICE.subarray(0, 40), Buffer.alloc(400, 7)]);
    const err = await expectCode(pool.recognize(corrupt), "OCR_FAILED");
    expect(err.message).toMatch(/read image/i);
    const r = await pool.recognize(INVOICE);
    expect(r.words.map((w) => w.text)).toContain("invoice");
    expect(pool.liveWorkers).toBe(1);
  });

  it("accepts only installed languages", async () => {
    expect(installedOcrLanguages()).toContain("eng");
    const pool = newPool({ size: 1 });
    const err = await expectCode(pool.recognize(INVOICE, { language: "xyz" }), "INVALID_INPUT");
    expect(err.message).toContain("install @tesseract.js-data/xyz");
    await expectCode(pool.recognize(INVOICE, { language: "../eng" }), "INVALID_INPUT");
    await expectCode(pool.recognize(INVOICE, { language: "eng+deu" }), "INVALID_INPUT");
    expect(pool.stats.workersCreated).toBe(0);
  });
});

describe("OcrPool workers", () => {
  it("never runs more workers than its size under 10 concurrent requests", async () => {
    const pool = newPool({ size: 2 });
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => pool.recognize(i % 2 ? INVOICE : MULTI)));
    for (const [i, r] of results.entries()) expect(r.text).toContain(i % 2 ? "invoice" : "Quarterly");
    expect(pool.stats.maxLiveWorkers).toBe(2);
    expect(pool.stats.workersCreated).toBe(2);
    expect(pool.stats.pages).toBe(10);
    expect(pool.liveWorkers).toBe(2);
    expect(pool.queueLength).toBe(0);
  });

  it("warm() starts the whole pool up front", async () => {
    const pool = newPool({ size: 2 });
    await pool.warm();
    expect(pool.liveWorkers).toBe(2);
    await pool.recognize(INVOICE);
    expect(pool.stats.workersCreated).toBe(2);
  });

  it("recycles a worker after N pages", async () => {
    const pool = newPool({ size: 1, pagesPerWorker: 2 });
    for (let i = 0; i < 5; i++) expect((await pool.recognize(INVOICE)).text).toContain("invoice");
    // pages 1-2 on worker 1, 3-4 on worker 2, 5 on worker 3
    expect(pool.stats.recycled).toBe(2);
    expect(pool.stats.workersCreated).toBe(3);
    expect(pool.stats.workersTerminated).toBe(2);
    expect(pool.stats.maxLiveWorkers).toBe(1);
  });

  it("recycles after a page when the process RSS is over the threshold", async () => {
    const pool = newPool({ size: 1, maxRssBytes: 1 });
    await pool.recognize(INVOICE);
    await pool.recognize(INVOICE);
    expect(pool.stats.recycled).toBe(2);
    expect(pool.stats.workersCreated).toBe(2);
  });

  it("drops a queued request at once on abort", async () => {
    const pool = newPool({ size: 1 });
    await pool.warm();
    const first = pool.recognize(MULTI);
    const ac = new AbortController();
    const second = pool.recognize(INVOICE, { signal: ac.signal });
    await new Promise((r) => setTimeout(r, 20));
    expect(pool.queueLength).toBe(1);
    const t0 = Date.now();
    ac.abort(new Error("user cancelled"));
    const err = await expectCode(second, "ABORTED");
    expect(Date.now() - t0).toBeLessThan(200);
    expect(err.message).toContain("user cancelled");
    expect(pool.queueLength).toBe(0);
    expect((await first).text).toContain("Quarterly");
    expect(pool.stats.workersTerminated).toBe(0); // the running worker was not touched
    await expectCode(pool.recognize(INVOICE, { signal: AbortSignal.abort() }), "ABORTED");
  });

  it("terminates and replaces the worker when a running request is aborted", async () => {
    const pool = newPool({ size: 1 });
    await pool.warm();
    // Calibrate: the dense page must take clearly longer than the abort delay.
    const t = Date.now();
    await pool.recognize(DENSE);
    const denseMs = Date.now() - t;
    expect(denseMs).toBeGreaterThan(400);

    const ac = new AbortController();
    const running = pool.recognize(DENSE, { signal: ac.signal });
    const queued = pool.recognize(INVOICE);
    await new Promise((r) => setTimeout(r, 100));
    expect(pool.runningCount).toBe(1);
    const t0 = Date.now();
    ac.abort();
    await expectCode(running, "ABORTED");
    expect(Date.now() - t0).toBeLessThan(200);
    // The queued request runs on the replacement worker and does not wait for the dense page.
    const r = await queued;
    expect(r.text).toContain("invoice");
    expect(Date.now() - t0).toBeLessThan(denseMs + 2_000);
    expect(pool.stats.workersTerminated).toBe(1);
    expect(pool.stats.workersCreated).toBe(2);
    expect(pool.liveWorkers).toBe(1);
    expect(pool.stats.maxLiveWorkers).toBe(1);
  });

  it("close() terminates every worker and rejects queued and running requests", async () => {
    const pool = newPool({ size: 2 });
    await pool.warm();
    const pending = Array.from({ length: 4 }, () => pool.recognize(DENSE).then(() => "done", (e: SpoolError) => e.code));
    await new Promise((r) => setTimeout(r, 200));
    expect(pool.runningCount).toBe(2);
    expect(pool.queueLength).toBe(2);
    await pool.close();
    expect(await Promise.all(pending)).toEqual(["UNAVAILABLE", "UNAVAILABLE", "UNAVAILABLE", "UNAVAILABLE"]);
    expect(pool.liveWorkers).toBe(0);
    expect(pool.stats.workersTerminated).toBe(pool.stats.workersCreated);
    await expectCode(pool.recognize(INVOICE), "UNAVAILABLE");
    await pool.close(); // idempotent
  });
});

describe("offline", () => {
  it("the worker's network guard is live: CDN language data fails fast instead of hanging", async () => {
    const pool = newPool({ size: 1, langPath: "https://cdn.jsdelivr.net/npm/@tesseract.js-data/eng/4.0.0_best_int", startTimeoutMs: 20_000 });
    const t0 = Date.now();
    const err = await expectCode(pool.recognize(INVOICE), "OCR_FAILED");
    expect(err.message).toContain("network access blocked");
    expect(err.message).toContain("cdn.jsdelivr.net");
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(pool.liveWorkers).toBe(0);
  });

  it("a local langPath without any cache works with the guard in place", async () => {
    const { dirname } = await import("node:path");
    const { createRequire } = await import("node:module");
    const dir = join(dirname(createRequire(import.meta.url).resolve("@tesseract.js-data/eng/package.json")), "4.0.0_best_int");
    const pool = newPool({ size: 1, langPath: dir });
    const r = await pool.recognize(INVOICE);
    expect(r.words.map((w) => w.text)).toContain("invoice");
  });
});
