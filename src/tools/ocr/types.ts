// What callers of the OCR pool see: options, results and counters. Apart from the pool so that
// processors and tests can name these shapes without importing tesseract.js.

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
