// The pool of OCR workers: a fixed number of tesseract.js worker threads (worker.ts), a FIFO
// queue of recognise requests, recycling after N pages or above an RSS ceiling, abort (the
// worker goes: tesseract cannot cancel a page) and shutdown. No database and no job logic here:
// processors call `OcrPool.recognize`. Language data comes from languages.ts, offline.
import os from "node:os";
import type Tesseract from "tesseract.js";
import { abortError, JobError, SpoolError } from "../../errors.ts";
import { LANGUAGE_RE, loadLanguageData, userCacheRoot, type LanguageData } from "./languages.ts";
import type { OcrPoolOptions, OcrPoolStats, OcrRecognizeOptions, OcrResult } from "./types.ts";
import { describe, readImage, startWorker, toResult, wrapperUrl, type Slot } from "./worker.ts";

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
    if (signal?.aborted) throw abortError(signal, "OCR");
    const data = await this.language(language);
    const bytes = await readImage(image);
    if (signal?.aborted) throw abortError(signal, "OCR");
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

  private loadLanguage(code: string): Promise<LanguageData> {
    return loadLanguageData(code, this.langPathOverride, () => (this.cacheRoot ??= userCacheRoot()));
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
    slot.ready = startWorker(slot, data, wrapper, this.startTimeoutMs);
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
    const err = abortError(req.signal, "OCR");
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
