// One tesseract.js worker thread, offline: the wrapper script it runs (network disabled, exit
// when tesseract fails to start), starting it with a deadline, the image bytes handed to it, and
// its page turned into Spool's OcrResult. The pool (pool.ts) decides when workers start and go.
//
// - the WASM core is `require`d by tesseract from node_modules (tesseract.js-core), and the
//   worker script is tesseract's own node script, started through a tiny wrapper that first
//   disables `fetch` and `net.Socket#connect` inside the worker thread, so any network attempt
//   fails at once with a clear message instead of hanging;
// - images are read here and handed over as bytes, so tesseract never resolves a URL.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { isAbsolute } from "node:path";
import { pathToFileURL } from "node:url";
import Tesseract from "tesseract.js";
import { JobError, SpoolError } from "../../errors.ts";
import type { LanguageData } from "./languages.ts";
import type { OcrBbox, OcrLine, OcrResult, OcrWord } from "./types.ts";

const require = createRequire(import.meta.url);

// Worker entry: disable the network inside the worker thread, self-exit when tesseract fails to
// start (otherwise tesseract.js leaves the thread alive and its start promise pending forever),
// then run tesseract's own node worker script from node_modules.
export function wrapperUrl(): URL {
  const script = require.resolve("tesseract.js/src/worker-script/node/index.js");
  const code = `
import { createRequire } from "node:module";
const require = createRequire(${JSON.stringify(pathToFileURL(script).href)});
const blocked = (what) => { throw new Error("Spool OCR worker: network access blocked (" + what + "); OCR must use installed language data only"); };
globalThis.fetch = async (input) => blocked("fetch " + String(input && input.url ? input.url : input));
const net = require("node:net");
net.Socket.prototype.connect = function () { blocked("net.connect"); };
const { parentPort } = require("node:worker_threads");
const post = parentPort.postMessage.bind(parentPort);
parentPort.postMessage = (msg, ...rest) => {
  post(msg, ...rest);
  if (msg && msg.status === "reject" && (msg.action === "load" || msg.action === "loadLanguage" || msg.action === "initialize")) {
    setTimeout(() => process.exit(1), 50);
  }
};
require(${JSON.stringify(script)});
`;
  return new URL(`data:text/javascript,${encodeURIComponent(code)}`);
}

/** One worker of the pool, from the moment it is asked for (it may still be starting). */
export type Slot = {
  id: number;
  language: string;
  worker: Tesseract.Worker | null;
  ready: Promise<Tesseract.Worker>;
  busy: boolean;
  dead: boolean;
  pages: number;
  /** Set while the slot is starting: a start failure reported through tesseract's errorHandler. */
  startFailed?: (reason: unknown) => void;
};

/**
 * Starts the tesseract worker of `slot`: resolves when it is ready, rejects OCR_FAILED (retryable)
 * when it fails or is not ready after `startTimeoutMs`. A worker that arrives after the slot was
 * given up (retired, timed out) is terminated at once.
 */
export function startWorker(slot: Slot, data: LanguageData, wrapper: URL, startTimeoutMs: number): Promise<Tesseract.Worker> {
  return new Promise<Tesseract.Worker>((resolve, reject) => {
    let done = false;
    const fail = (reason: unknown) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(new JobError("OCR_FAILED", `OCR worker failed to start: ${describe(reason)}`, { retryable: true }));
    };
    slot.startFailed = fail;
    const timer = setTimeout(() => fail(`not ready after ${startTimeoutMs} ms`), startTimeoutMs);
    timer.unref();
    Tesseract.createWorker(data.code, Tesseract.OEM.LSTM_ONLY, {
      langPath: data.langPath,
      cachePath: data.cachePath,
      cacheMethod: data.cacheMethod,
      gzip: true,
      // A URL object: node's Worker accepts it; tesseract passes workerPath through untouched.
      workerPath: wrapper as unknown as string,
      logger: () => {},
      // Without it tesseract.js throws every worker-side error on the main thread (uncaught).
      errorHandler: (e: unknown) => slot.startFailed?.(e),
    }).then(
      (w) => {
        slot.worker = w;
        if (done || slot.dead) {
          void w.terminate();
          return;
        }
        done = true;
        clearTimeout(timer);
        slot.startFailed = undefined;
        resolve(w);
      },
      (e: unknown) => fail(e),
    );
  });
}

const IMAGE_SIGNATURES: Array<[number, number[]]> = [
  [0, [0x89, 0x50, 0x4e, 0x47]], // png
  [0, [0xff, 0xd8, 0xff]], // jpeg
  [0, [0x49, 0x49, 0x2a, 0x00]], // tiff LE
  [0, [0x4d, 0x4d, 0x00, 0x2a]], // tiff BE
  [8, [0x57, 0x45, 0x42, 0x50]], // webp (RIFF....WEBP)
  [0, [0x42, 0x4d]], // bmp
  [0, [0x47, 0x49, 0x46, 0x38]], // gif
];
function looksLikeImage(buf: Buffer): boolean {
  return IMAGE_SIGNATURES.some(([at, sig]) => buf.length >= at + sig.length && sig.every((b, i) => buf[at + i] === b));
}

/** The bytes of an image file (absolute path) or Buffer, refused unless it looks like an image tesseract reads. */
export async function readImage(image: string | Buffer): Promise<Buffer> {
  let bytes: Buffer;
  if (Buffer.isBuffer(image)) {
    bytes = image;
  } else {
    if (typeof image !== "string" || !isAbsolute(image)) {
      throw new SpoolError("INVALID_INPUT", "OCR input must be an absolute file path or a Buffer (no URLs)");
    }
    try {
      bytes = await readFile(image);
    } catch (e) {
      throw new SpoolError("INVALID_INPUT", `cannot read image for OCR: ${(e as Error).message}`);
    }
  }
  if (!looksLikeImage(bytes)) {
    throw new SpoolError("INVALID_INPUT", "OCR input is not a PNG, JPEG, TIFF, WebP, BMP or GIF image");
  }
  return bytes;
}

export function describe(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e).replace(/^Error: /, "").slice(0, 500);
}

const round1 = (n: number) => Math.round(n * 10) / 10;
const box = (b: Tesseract.Bbox): OcrBbox => ({ x0: b.x0, y0: b.y0, x1: b.x1, y1: b.y1 });

/** tesseract's page → OcrResult: words in reading order, empty words dropped, confidences to 0.1. */
export function toResult(page: Tesseract.Page, req: { language: string; hocr: boolean; startedAt: number }): OcrResult {
  const lines: OcrLine[] = [];
  const words: OcrWord[] = [];
  for (const block of page.blocks ?? []) {
    for (const para of block.paragraphs) {
      for (const line of para.lines) {
        const lineWords: OcrWord[] = [];
        for (const w of line.words) {
          const text = w.text.trim();
          if (!text) continue;
          lineWords.push({ text, confidence: round1(w.confidence), bbox: box(w.bbox) });
        }
        if (lineWords.length === 0) continue;
        words.push(...lineWords);
        lines.push({ text: line.text.trim(), confidence: round1(line.confidence), bbox: box(line.bbox), words: lineWords });
      }
    }
  }
  const result: OcrResult = {
    text: page.text,
    confidence: round1(page.confidence),
    words,
    lines,
    language: req.language,
    elapsedMs: Date.now() - req.startedAt,
  };
  if (req.hocr && page.hocr) result.hocr = page.hocr;
  return result;
}
