// The one place Spool runs tesseract.js. A fixed pool of OCR workers (worker threads running
// tesseract's WASM core), a FIFO queue of recognise requests, recycling, abort and shutdown.
// No database and no job logic here: processors call `OcrPool.recognize`.
//
// Offline by construction (tesseract.js fetches language data from a CDN by default and then
// hangs forever without network):
// - language data comes only from installed `@tesseract.js-data/<lang>` packages; it is
//   gunzipped once into a per-user cache folder under os.tmpdir() (atomic rename), and workers
//   read it from there (`cacheMethod: "readOnly"`), falling back to the package's local folder;
// - the WASM core is `require`d by tesseract from node_modules (tesseract.js-core), and the
//   worker script is tesseract's own node script, started through a tiny wrapper that first
//   disables `fetch` and `net.Socket#connect` inside the worker thread, so any network attempt
//   fails at once with a clear message instead of hanging;
// - images are read here and handed over as bytes, so tesseract never resolves a URL.
import { constants as fsConstants, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync } from "node:fs";
import { open, readFile, rename, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import os from "node:os";
import { dirname, isAbsolute, join } from "node:path";
import { pathToFileURL } from "node:url";
import { gunzipSync } from "node:zlib";
import Tesseract from "tesseract.js";
import { JobError, SpoolError } from "../errors.ts";

const require = createRequire(import.meta.url);

export type OcrBbox = { x0: number; y0: number; x1: number; y1: number };
export type OcrWord = { text: string; confidence: number; bbox: OcrBbox };
export type OcrLine = { text: string; confidence: number; bbox: OcrBbox; words: OcrWord[] };
export type OcrResult = {
  text: string;
  /** Mean word confidence of the page, 0..100. */
  confidence: number;
  /** Words in reading order (block → paragraph → line → word), pixel boxes of the input image. */
  words: OcrWord[];
  lines: OcrLine[];
  /** Only when asked for with `{ hocr: true }`. */
  hocr?: string;
  language: string;
  elapsedMs: number;
};
export type OcrRecognizeOptions = { language?: string; signal?: AbortSignal; hocr?: boolean };
export type OcrPoolOptions = {
  /** Number of worker threads, fixed. Default os.availableParallelism(). */
  size?: number;
  /** A worker is terminated and replaced after this many pages. Default 200. */
  pagesPerWorker?: number;
  /** After a page, if the process RSS is above this, the worker that ran it is replaced. Default 1.5 GiB. */
  maxRssBytes?: number;
  /** A worker that is not ready after this long fails its request (OCR_FAILED). Default 60 s. */
  startTimeoutMs?: number;
  /**
   * Testing / custom data only: read language data from this folder or URL instead of the
   * installed package, with no cache. URLs are refused by the worker's network guard.
   */
  langPath?: string;
};
export type OcrPoolStats = {
  workersCreated: number;
  workersTerminated: number;
  recycled: number;
  /** Highest number of workers alive (starting or ready) at the same time. */
  maxLiveWorkers: number;
  pages: number;
};

const LANGUAGE_RE = /^[a-z]{3}(?:_[a-z]+)?$/i;
const DATA_VARIANT = "4.0.0_best_int"; // LSTM-only integer models, what tesseract.js uses by default

/** Languages whose `@tesseract.js-data/<lang>` package (with LSTM data) is installed. */
export function installedOcrLanguages(): string[] {
  const found = new Set<string>();
  for (const base of require.resolve.paths("@tesseract.js-data/eng") ?? []) {
    const scope = join(base, "@tesseract.js-data");
    let names: string[] = [];
    try {
      names = readdirSync(scope);
    } catch {
      continue;
    }
    for (const name of names) {
      if (LANGUAGE_RE.test(name) && existsSync(join(scope, name, DATA_VARIANT, `${name}.traineddata.gz`))) found.add(name);
    }
  }
  return [...found].sort();
}

type LanguageData = { code: string; langPath: string; cachePath: string; cacheMethod: "readOnly" | "none" };

function languagePackage(lang: string): { dir: string; version: string } | null {
  try {
    const pkgJson = require.resolve(`@tesseract.js-data/${lang}/package.json`);
    const version = String((require(pkgJson) as { version?: string }).version ?? "0");
    const dir = dirname(pkgJson);
    return existsSync(join(dir, DATA_VARIANT, `${lang}.traineddata.gz`)) ? { dir, version } : null;
  } catch {
    return null;
  }
}

/** A cache folder only this user can write: per-user folder under tmpdir, else a fresh mkdtemp. */
function userCacheRoot(): string {
  const uid = typeof process.getuid === "function" ? process.getuid() : null;
  const root = join(os.tmpdir(), `spool-ocr-cache-${uid ?? "user"}`);
  try {
    mkdirSync(root, { recursive: true, mode: 0o700 });
    const st = lstatSync(root);
    const ownedAndPrivate = st.isDirectory() && !st.isSymbolicLink() && (uid === null || st.uid === uid) && (st.mode & 0o077) === 0;
    if (ownedAndPrivate) return root;
  } catch {
    // fall through
  }
  return mkdtempSync(join(os.tmpdir(), "spool-ocr-cache-"));
}

/** Gunzips `<lang>.traineddata.gz` once into the cache (tmp file + rename, so readers never see half a file). */
async function prepareCache(lang: string, gzPath: string, cachePath: string): Promise<void> {
  const target = join(cachePath, `${lang}.traineddata`);
  const gz = await readFile(gzPath);
  const expected = gz.readUInt32LE(gz.length - 4); // gzip ISIZE: uncompressed size mod 2^32
  try {
    const fh = await open(target, fsConstants.O_RDONLY);
    try {
      if ((await fh.stat()).size % 2 ** 32 === expected) return;
    } finally {
      await fh.close();
    }
  } catch {
    // missing: write it
  }
  const tmp = `${target}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, gunzipSync(gz), { mode: 0o600 });
  await rename(tmp, target);
}

// Worker entry: disable the network inside the worker thread, self-exit when tesseract fails to
// start (otherwise tesseract.js leaves the thread alive and its start promise pending forever),
// then run tesseract's own node worker script from node_modules.
function wrapperUrl(): URL {
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

type Slot = {
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

type Request = {
  image: Buffer;
  language: string;
  hocr: boolean;
  signal?: AbortSignal;
  onAbort?: () => void;
  slot: Slot | null;
  settled: boolean;
  startedAt: number;
  resolve: (r: OcrResult) => void;
  reject: (e: Error) => void;
};

function abortError(signal: AbortSignal): SpoolError {
  const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? "aborted");
  return new SpoolError("ABORTED", `OCR stopped: ${reason}`);
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

export class OcrPool {
  readonly size: number;
  readonly pagesPerWorker: number;
  readonly maxRssBytes: number;
  readonly startTimeoutMs: number;
  readonly stats: OcrPoolStats = { workersCreated: 0, workersTerminated: 0, recycled: 0, maxLiveWorkers: 0, pages: 0 };
  private readonly langPathOverride: string | undefined;
  private slots: Slot[] = [];
  private queue: Request[] = [];
  private languages = new Map<string, Promise<LanguageData>>();
  private resolvedLanguages = new Map<string, LanguageData>();
  private runningRequests: Request[] = [];
  private nextSlotId = 1;
  private closed = false;
  private warmedLanguage: string | null = null;
  private wrapper: URL | null = null;
  private cacheRoot: string | null = null;

  constructor(opts: OcrPoolOptions = {}) {
    this.size = Math.max(1, Math.floor(opts.size ?? os.availableParallelism()));
    this.pagesPerWorker = Math.max(1, Math.floor(opts.pagesPerWorker ?? 200));
    this.maxRssBytes = opts.maxRssBytes ?? 1.5 * 1024 ** 3;
    this.startTimeoutMs = opts.startTimeoutMs ?? 60_000;
    this.langPathOverride = opts.langPath;
  }

  /** Workers alive now (starting or ready). */
  get liveWorkers(): number {
    return this.slots.length;
  }
  get queueLength(): number {
    return this.queue.length;
  }
  /** Requests handed to a worker (starting or recognising). */
  get runningCount(): number {
    return this.runningRequests.length;
  }

  /** Starts every worker now (for a server that knows it will OCR) and waits until they are ready. */
  async warm(language = "eng"): Promise<void> {
    this.assertOpen();
    const data = await this.language(language);
    this.warmedLanguage = language;
    while (this.slots.length < this.size) this.startSlot(data);
    await Promise.all(this.slots.map((s) => s.ready));
  }

  async recognize(image: string | Buffer, opts: OcrRecognizeOptions = {}): Promise<OcrResult> {
    this.assertOpen();
    const language = opts.language ?? "eng";
    const { signal } = opts;
    if (signal?.aborted) throw abortError(signal);
    const data = await this.language(language);
    const bytes = await readImage(image);
    if (signal?.aborted) throw abortError(signal);
    this.assertOpen();
    return new Promise<OcrResult>((resolve, reject) => {
      const req: Request = {
        image: bytes,
        language: data.code,
        hocr: opts.hocr ?? false,
        slot: null,
        settled: false,
        startedAt: 0,
        resolve: (r) => {
          if (req.settled) return;
          req.settled = true;
          if (req.onAbort) signal?.removeEventListener("abort", req.onAbort);
          resolve(r);
        },
        reject: (e) => {
          if (req.settled) return;
          req.settled = true;
          if (req.onAbort) signal?.removeEventListener("abort", req.onAbort);
          reject(e);
        },
      };
      if (signal) {
        req.signal = signal;
        req.onAbort = () => this.abort(req);
        signal.addEventListener("abort", req.onAbort, { once: true });
      }
      this.queue.push(req);
      this.dispatch();
    });
  }

  /** Terminates every worker and rejects queued and running requests (UNAVAILABLE). Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    const err = new SpoolError("UNAVAILABLE", "the OCR pool is closed (server shutting down)");
    for (const req of this.queue.splice(0)) req.reject(err);
    await Promise.all([...this.slots].map((s) => this.retire(s, err)));
  }

  private assertOpen(): void {
    if (this.closed) throw new SpoolError("UNAVAILABLE", "the OCR pool is closed (server shutting down)");
  }

  private language(lang: string): Promise<LanguageData> {
    if (!LANGUAGE_RE.test(lang)) {
      return Promise.reject(
        new SpoolError("INVALID_INPUT", `OCR language "${lang}" is not a tesseract language code (e.g. "eng", "deu", "chi_sim"); one language per request`),
      );
    }
    const code = lang.toLowerCase();
    let p = this.languages.get(code);
    if (!p) {
      p = this.loadLanguage(code);
      this.languages.set(code, p);
      p.then(
        (d) => this.resolvedLanguages.set(code, d),
        () => this.languages.delete(code),
      );
    }
    return p;
  }

  private async loadLanguage(code: string): Promise<LanguageData> {
    const pkg = languagePackage(code);
    if (!pkg) {
      const installed = installedOcrLanguages();
      throw new SpoolError(
        "INVALID_INPUT",
        `OCR language "${code}" is not installed (installed: ${installed.join(", ") || "none"}); install @tesseract.js-data/${code}`,
        { language: code, installed },
      );
    }
    if (this.langPathOverride !== undefined) {
      // cacheMethod "none": tesseract neither reads nor writes cachePath.
      return { code, langPath: this.langPathOverride, cachePath: os.tmpdir(), cacheMethod: "none" };
    }
    this.cacheRoot ??= userCacheRoot();
    const cachePath = join(this.cacheRoot, `${code}-${pkg.version}-${DATA_VARIANT}`);
    mkdirSync(cachePath, { recursive: true, mode: 0o700 });
    const langPath = join(pkg.dir, DATA_VARIANT);
    try {
      await prepareCache(code, join(langPath, `${code}.traineddata.gz`), cachePath);
    } catch {
      // Not fatal: with no cache file tesseract reads the .gz from langPath (still local).
    }
    return { code, langPath, cachePath, cacheMethod: "readOnly" };
  }

  private startSlot(data: LanguageData): Slot {
    const slot: Slot = {
      id: this.nextSlotId++,
      language: data.code,
      worker: null,
      ready: Promise.resolve(null as unknown as Tesseract.Worker),
      busy: false,
      dead: false,
      pages: 0,
    };
    this.wrapper ??= wrapperUrl();
    const wrapper = this.wrapper;
    slot.ready = new Promise<Tesseract.Worker>((resolve, reject) => {
      let done = false;
      const fail = (reason: unknown) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        reject(new JobError("OCR_FAILED", `OCR worker failed to start: ${describe(reason)}`, { retryable: true }));
      };
      slot.startFailed = fail;
      const timer = setTimeout(() => fail(`not ready after ${this.startTimeoutMs} ms`), this.startTimeoutMs);
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
    slot.ready.catch(() => {}); // observed by whoever awaits it
    this.slots.push(slot);
    this.stats.workersCreated++;
    this.stats.maxLiveWorkers = Math.max(this.stats.maxLiveWorkers, this.slots.length);
    return slot;
  }

  /** Terminates a slot's worker (if it ever started) and forgets it; fails its running request. */
  private async retire(slot: Slot, err?: Error): Promise<void> {
    if (slot.dead) return;
    slot.dead = true;
    this.slots = this.slots.filter((s) => s !== slot);
    this.stats.workersTerminated++;
    slot.startFailed?.("terminated");
    if (err) for (const req of this.runningRequests.filter((r) => r.slot === slot)) req.reject(err);
    this.runningRequests = this.runningRequests.filter((r) => r.slot !== slot);
    if (slot.worker) await slot.worker.terminate().catch(() => {});
  }

  private abort(req: Request): void {
    if (req.settled || !req.signal) return;
    const err = abortError(req.signal);
    const queued = this.queue.indexOf(req);
    if (queued >= 0) {
      this.queue.splice(queued, 1);
      req.reject(err);
      return;
    }
    // Running: tesseract cannot cancel a recognise, so the worker goes and a new one is started.
    const slot = req.slot;
    req.reject(err);
    if (slot) {
      void this.retire(slot).then(() => {
        this.replaceIfWarm();
        this.dispatch();
      });
    }
  }

  private replaceIfWarm(): void {
    if (this.closed || this.warmedLanguage === null || this.slots.length >= this.size) return;
    const data = this.resolvedLanguages.get(this.warmedLanguage);
    if (data) this.startSlot(data);
  }

  private dispatch(): void {
    while (!this.closed && this.queue.length > 0) {
      const req = this.queue[0]!;
      let slot = this.slots.find((s) => !s.busy && !s.dead && s.language === req.language);
      if (!slot && this.slots.length >= this.size) {
        // Full: an idle worker of another language makes room.
        const other = this.slots.find((s) => !s.busy && !s.dead);
        if (!other) return;
        void this.retire(other);
      }
      if (!slot) {
        // recognize() resolved the language before queueing the request.
        const data = this.resolvedLanguages.get(req.language);
        if (!data) return;
        slot = this.startSlot(data);
      }
      this.queue.shift();
      void this.run(slot, req);
    }
  }

  private async run(slot: Slot, req: Request): Promise<void> {
    slot.busy = true;
    req.slot = slot;
    req.startedAt = Date.now();
    this.runningRequests.push(req);
    try {
      const worker = await slot.ready;
      if (req.settled || slot.dead) return;
      const res = await worker.recognize(req.image, {}, { text: true, blocks: true, hocr: req.hocr });
      if (slot.dead) return;
      slot.pages++;
      this.stats.pages++;
      req.resolve(toResult(res.data, req));
    } catch (e) {
      if (slot.dead) return;
      req.reject(e instanceof SpoolError ? e : new JobError("OCR_FAILED", `OCR failed: ${describe(e)}`, { details: { language: req.language } }));
      // A worker that failed may be in a bad state (or never started): replace it.
      await this.retire(slot);
      this.replaceIfWarm();
      this.dispatch();
      return;
    } finally {
      this.runningRequests = this.runningRequests.filter((r) => r !== req);
    }
    slot.busy = false;
    if (slot.pages >= this.pagesPerWorker || process.memoryUsage.rss() > this.maxRssBytes) {
      this.stats.recycled++;
      await this.retire(slot);
      this.replaceIfWarm();
    }
    this.dispatch();
  }
}

async function readImage(image: string | Buffer): Promise<Buffer> {
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

function describe(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e).replace(/^Error: /, "").slice(0, 500);
}

const round1 = (n: number) => Math.round(n * 10) / 10;
const box = (b: Tesseract.Bbox): OcrBbox => ({ x0: b.x0, y0: b.y0, x1: b.x1, y1: b.y1 });

function toResult(page: Tesseract.Page, req: Request): OcrResult {
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

/** Removes the per-user language cache (tests, `spool clean`-like tools). Not needed in normal use. */
export async function removeOcrCache(): Promise<void> {
  const uid = typeof process.getuid === "function" ? process.getuid() : "user";
  await rm(join(os.tmpdir(), `spool-ocr-cache-${uid}`), { recursive: true, force: true });
}
