// Errors with stable codes: the bottom of the house, imported by every layer and importing
// nothing. API errors (`extensions.code`) and job failures (`job.error.code`) share one
// vocabulary; the code is the contract, the message says what to do.
//
// ERROR_CODES is the catalogue: a code not listed here does not type-check, and
// test/architecture/error-codes.test.ts fails when the README's errors tables and this
// list disagree.

export const ERROR_CODES = {
  // Everywhere: the API, the CLI and jobs.
  INVALID_INPUT: "an argument, variable or job input out of range or of the wrong type",
  UNAUTHENTICATED: "no API key, or an unknown, malformed or revoked one",
  FORBIDDEN: "the key lacks the scope the operation needs",
  NOT_FOUND: "no such object in the caller's organization",
  CONFLICT: "the object's state does not allow it",
  RATE_LIMITED: "too many at once: operations on one WebSocket, open uploads",
  UNAVAILABLE: "a part this server needs is down or not running: try again",
  // Limits on GraphQL documents.
  DEPTH_LIMIT_EXCEEDED: "the document is nested too deep",
  ALIAS_LIMIT_EXCEEDED: "the document has too many aliases",
  DIRECTIVE_LIMIT_EXCEEDED: "the document has too many directives",
  TOKEN_LIMIT_EXCEEDED: "the document has too many tokens",
  COST_LIMIT_EXCEEDED: "the answer could hold too many values",
  // Outbound URLs (URL ingest, webhooks).
  URL_NOT_ALLOWED: "a URL Spool will not fetch: private address, port or scheme",
  URL_UNREACHABLE: "a URL that could not be fetched",
  URL_TOO_LARGE: "a download over the size limit",
  // Files: signed downloads and storage.
  URL_EXPIRED: "a signed download URL past its expiry",
  METHOD_NOT_ALLOWED: "an HTTP method a file endpoint does not serve",
  STORAGE_FAILED: "the storage backend could not read or write a file",
  // Jobs, whatever their type.
  JOB_TIMEOUT: "an attempt ran past its type's time limit",
  WORKER_LOST: "the worker running the job stopped renewing its lease, too often",
  LEASE_LOST: "this worker's lease on the job was taken over",
  PROCESSOR_ERROR: "the processor failed in an unexpected way",
  RESULT_TOO_LARGE: "a job result over the size limit",
  BATCH_JOB_FAILED: "a child of the batch failed",
  CANCELLED: "the job was cancelled",
  ABORTED: "a running step was stopped (cancel, timeout, shutdown)",
  // Media.
  VIDEO_FORMAT_UNSUPPORTED: "not a video or audio file ffmpeg can read, or cut short",
  VIDEO_TOO_LARGE: "a video over the size, duration or resolution limit",
  TRANSCODING_FAILED: "ffmpeg failed on the file",
  FFMPEG_UNAVAILABLE: "no usable ffmpeg on this server",
  // Documents.
  DOCUMENT_FORMAT_UNSUPPORTED: "not a PDF or image Spool reads",
  DOCUMENT_CORRUPTED: "a PDF that cannot be read (damaged or encrypted)",
  DOCUMENT_TOO_LARGE: "a document over the page, pixel or memory limit",
  OCR_FAILED: "tesseract could not read a page",
  PDF_WORKER_FAILED: "the PDF child process failed",
  // Starting Spool (the CLI, the embedded Postgres).
  PORT_IN_USE: "PORT is taken by another program",
  PORT_FORBIDDEN: "PORT needs privileges this process lacks",
  HOST_UNAVAILABLE: "HOST is not an address of this machine",
  DATABASE_UNREACHABLE: "DATABASE_URL does not answer",
  DATA_DIR_UNUSABLE: "SPOOL_DATA_DIR cannot be used by the embedded Postgres",
  PORT_BUSY: "the embedded Postgres's port is taken",
  START_FAILED: "the embedded Postgres did not start",
  UNSUPPORTED_PLATFORM: "no embedded Postgres binaries for this platform",
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}

export class SpoolError extends Error {
  override name = "SpoolError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

/**
 * ABORTED for an operation stopped by `signal` (the job was cancelled, its lease lost, the server
 * is stopping), saying what stopped and why. One wording for every adapter that kills a child.
 */
export function abortError(signal: AbortSignal, what: string): SpoolError {
  const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? "aborted");
  return new SpoolError("ABORTED", `${what} stopped: ${reason}`);
}

/**
 * Thrown by a processor to fail its job with a stable code. `retryable: false` (the
 * default) fails the job permanently; `true` lets the engine retry with backoff.
 */
export class JobError extends SpoolError {
  override name = "JobError";
  readonly retryable: boolean;
  constructor(code: ErrorCode, message: string, opts: { retryable?: boolean; details?: Record<string, unknown> } = {}) {
    super(code, message, opts.details);
    this.retryable = opts.retryable ?? false;
  }
}
