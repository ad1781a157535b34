// The data that crosses the IPC channel between src/tools/pdf/pdf.ts (this process) and
// pdf-worker.ts (the child that parses the PDF): requests, answers and the shapes of results.
// In a file of its own so that the parent and the child's operations both point at it and never
// at each other.
import type { ErrorCode } from "../../errors.ts";

/** The limits the child enforces itself (the parent enforces memory and time by killing it). */
export type WorkerLimits = { maxPages: number; maxPixels: number; maxImagePixels: number };
export type WorkerRequest = { op: string; args: Record<string, unknown> & { limits: WorkerLimits } };
export type WorkerMessage =
  | { type: "ready" }
  | { type: "page"; page: number; result: unknown }
  | { type: "done"; result: unknown }
  | { type: "error"; code: ErrorCode; message: string; details?: Record<string, unknown> };
/** How an operation reports one finished page (sent as a "page" message). */
export type OnPage = (page: number, result: unknown) => void;

export type PdfLimits = {
  /** Documents with more pages are refused (DOCUMENT_TOO_LARGE). */
  maxPages?: number;
  /** A rendered page (and a stamp image) may not exceed this many pixels. */
  maxPixels?: number;
  /**
   * An image in the PDF may not decode to more pixels than this (pdf.js maxImageSize); a page
   * that draws a larger one fails DOCUMENT_TOO_LARGE rather than rendering without it.
   */
  maxImagePixels?: number;
  /** Whole-process RSS of the child; above it the child is killed (DOCUMENT_TOO_LARGE). */
  maxMemoryMb?: number;
  /** V8 old-generation cap of the child (--max-old-space-size). */
  maxHeapMb?: number;
  /** Wall time of one operation, child start included (DOCUMENT_TOO_LARGE). */
  timeoutMs?: number;
};
export type PdfRunOptions = { signal?: AbortSignal; limits?: PdfLimits };

export type StampPosition =
  | "center"
  | "top-left"
  | "top-center"
  | "top-right"
  | "bottom-left"
  | "bottom-center"
  | "bottom-right"
  | { x: number; y: number };

export type PdfInfo = {
  pageCount: number;
  /** True for a PDF encrypted without a user password (opens, but carries an /Encrypt dictionary). */
  encrypted: boolean;
  metadata: {
    title: string | null;
    author: string | null;
    subject: string | null;
    creator: string | null;
    producer: string | null;
    /** ISO 8601, or null when absent or unreadable. */
    creationDate: string | null;
    modificationDate: string | null;
  };
};
/** Positions in PDF points, origin at the top-left of the page as displayed (/Rotate applied). */
export type PdfWord = { text: string; x: number; y: number; width: number; height: number };
export type PdfPageText = { page: number; width: number; height: number; text: string; words: PdfWord[] };
export type PdfWriteResult = { pageCount: number; bytes: number };
export type PdfMetadataInput = {
  title?: string;
  author?: string;
  subject?: string;
  keywords?: string[];
  creator?: string;
  producer?: string;
  /** Anything `new Date()` parses. */
  creationDate?: string;
  modificationDate?: string;
};

export type RenderedPage = {
  page: number;
  /** Absolute path: `<outDir>/page-00001.png` (.jpg, .webp). */
  file: string;
  /** Pixels of the image written. */
  width: number;
  height: number;
  /** The page in PDF points at scale 1, /Rotate applied (pixel → point: pageWidth / width). */
  pageWidth: number;
  pageHeight: number;
};
export type ExtractedImage = {
  page: number;
  /** 1-based, in drawing order among the images kept on that page. */
  index: number;
  /** Absolute path: `<outDir>/page-00003-img-01.png`. */
  file: string;
  /** Pixels of the image as stored in the PDF (not as drawn). */
  width: number;
  height: number;
};
export type ExtractImagesResult = {
  images: ExtractedImage[];
  /** True when maxImages was reached and at least one more image was left out (extraction stopped there). */
  truncated: boolean;
};

export type TextStamp = {
  text: string;
  /** Points; default 24. */
  fontSize?: number;
  /** #rrggbb; default black. */
  color?: string;
  /** 0..1; default 1. */
  opacity?: number;
  /** Default "center"; {x, y} is the stamp's top-left in points from the page's top-left. */
  position?: StampPosition;
  /** 1-based; all pages when omitted. */
  pages?: number[];
};
/** Draws text with the built-in Helvetica (WinAnsi characters only; others → INVALID_INPUT). */
export type ImageStamp = { scale?: number; opacity?: number; position?: StampPosition; pages?: number[] };
