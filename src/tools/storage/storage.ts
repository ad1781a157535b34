// Where asset bytes live: a folder on this machine or an S3-compatible bucket, behind one
// interface. Keys are always made by Spool, but they are checked here anyway: a key reaches
// a filesystem path or a bucket, and a bug upstream must not turn into a path traversal.
import type { Readable } from "node:stream";
import { SpoolError } from "../../errors.ts";
import { LocalStorage } from "./local.ts";
import { S3Storage } from "./s3.ts";

export type StorageOptions =
  | { kind: "local"; root: string }
  | {
      kind: "s3";
      bucket: string;
      region: string;
      endpoint?: string;
      forcePathStyle?: boolean;
      credentials?: { accessKeyId: string; secretAccessKey: string };
      prefix?: string;
    };

export type StoredObject = { key: string; size: number; modifiedAt: Date };

export interface Storage {
  readonly kind: "local" | "s3";
  /**
   * Streams `body` to `key` (no whole-file buffering). Resolves with the bytes written. On a
   * stream error or abort nothing remains at `key` (and no temp file / incomplete multipart
   * upload is left behind), and the error is rethrown as is (on abort: `signal.reason`). An
   * existing object at key is replaced atomically. `body` is consumed: on failure it is
   * destroyed. An abort that arrives after the body has ended still cancels the write unless
   * the backend has already committed it (then put resolves: the object is complete).
   */
  put(key: string, body: Readable, opts?: { contentType?: string; signal?: AbortSignal }): Promise<{ size: number }>;
  /**
   * A stream of the object, or of the inclusive byte range [start, end] (`end` past the last
   * byte reads to the end). Throws SpoolError("NOT_FOUND") when missing and
   * SpoolError("INVALID_INPUT") when the range is malformed or starts past the last byte.
   */
  get(key: string, range?: { start: number; end?: number }): Promise<Readable>;
  stat(key: string): Promise<StoredObject | null>;
  /** Idempotent: deleting a missing key is fine. */
  delete(key: string): Promise<void>;
  /**
   * Every object whose key starts with `prefix` (a plain string prefix, as in S3: "a/b"
   * matches "a/b/c" and "a/bc"; "" lists everything), in key order.
   */
  list(prefix: string): AsyncIterable<StoredObject>;
  /**
   * S3: a presigned GET URL valid expiresIn seconds (clamped to [1, 604800]), with
   * response-content-disposition (attachment or inline; filename RFC 6266/5987-encoded) and
   * response-content-type when given. Local: null (Spool serves local files itself under /files).
   */
  presignGet(key: string, opts: { expiresIn: number; filename?: string; contentType?: string; inline?: boolean }): Promise<string | null>;
  /**
   * Run fn with a path to a local file holding the object (tools like ffmpeg need a path).
   * Local: the real file, no copy — fn must not modify it. S3: streamed to a temp file under
   * os.tmpdir() (keeping the key's last segment as file name, so extensions survive) that is
   * removed after fn settles (success or error). NOT_FOUND when missing.
   */
  withLocalFile<T>(key: string, fn: (path: string) => Promise<T>, signal?: AbortSignal): Promise<T>;
  /**
   * Upload an existing local file (processor outputs); same atomicity as put. Errors reading
   * `path` itself (missing, unreadable) are rethrown as is, like errors of put's body.
   */
  putFile(key: string, path: string, opts?: { contentType?: string; signal?: AbortSignal }): Promise<{ size: number }>;
  /**
   * Local only: the absolute path of the file for `key` (which may not exist), for serving it
   * directly. Throws INVALID_INPUT for an invalid key.
   */
  localPath?(key: string): string;
  close(): Promise<void>;
}

export function createStorage(options: StorageOptions): Storage {
  switch (options.kind) {
    case "local":
      return new LocalStorage(options.root);
    case "s3":
      return new S3Storage(options);
    default:
      throw new SpoolError("INVALID_INPUT", `Unknown storage kind ${String((options as { kind?: unknown }).kind)}.`);
  }
}

export const MAX_KEY_LENGTH = 512;

/** The local backend stages writes in `<root>/.tmp`, so no key may live there. */
export const RESERVED_SEGMENT = ".tmp";

const SEGMENT = /^[A-Za-z0-9._-]+$/;

function keyProblem(key: string): string | null {
  if (typeof key !== "string" || key.length === 0) return "it is empty";
  if (key.length > MAX_KEY_LENGTH) return `it is longer than ${MAX_KEY_LENGTH} characters`;
  const segments = key.split("/");
  for (const s of segments) {
    if (s === "") return "it has an empty segment (a leading, trailing or doubled /)";
    if (s === "." || s === "..") return "it has a . or .. segment";
    if (!SEGMENT.test(s)) return "segments may hold only letters, digits, '.', '_' and '-'";
  }
  if (segments[0] === RESERVED_SEGMENT) return `${RESERVED_SEGMENT}/ is reserved`;
  return null;
}

export function isValidKey(key: string): boolean {
  return keyProblem(key) === null;
}

/** Throws SpoolError("INVALID_INPUT") unless `key` is a well-formed storage key. */
export function assertValidKey(key: string): void {
  const problem = keyProblem(key);
  // The key itself is echoed only when it is short: it may be garbage of any size.
  if (problem) throw new SpoolError("INVALID_INPUT", `Invalid storage key${typeof key === "string" && key.length <= 100 ? ` ${JSON.stringify(key)}` : ""}: ${problem}.`);
}

/**
 * A list prefix is "" or a key with an optional trailing "/" (its last segment may be
 * partial: "orgs/ab" matches "orgs/abc/..."). Throws INVALID_INPUT otherwise.
 */
export function assertValidPrefix(prefix: string): void {
  if (prefix === "") return;
  assertValidKey(prefix.endsWith("/") ? prefix.slice(0, -1) : prefix);
}

/** Inclusive range checks shared by both backends; `size` is the object's size. */
export function checkRange(key: string, range: { start: number; end?: number }, size?: number): void {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || start < 0 || (end !== undefined && (!Number.isSafeInteger(end) || end < start))) {
    throw new SpoolError("INVALID_INPUT", `Invalid byte range ${start}-${end ?? ""}: start and end are integers with 0 <= start <= end.`);
  }
  if (size !== undefined && start >= size) {
    throw new SpoolError("INVALID_INPUT", `Byte range starts at ${start} but ${key} holds ${size} bytes.`, { size });
  }
}

/** A backend failure, named by backend and operation; `cause` keeps the original for logs. */
export function storageFailed(backend: "local" | "s3", operation: string, key: string | null, err: unknown): SpoolError {
  const e = err as { name?: string; code?: string; message?: string } | null | undefined;
  const what = e?.code ?? e?.name ?? "Error";
  const detail = !e?.message ? what : e.message.startsWith(what) ? e.message : `${what}: ${e.message}`;
  const error = new SpoolError(
    "STORAGE_FAILED",
    `${backend} storage: ${operation}${key ? ` of ${key}` : ""} failed (${detail}).`,
    { backend, operation },
  );
  error.cause = err;
  return error;
}

export function notFound(key: string): SpoolError {
  return new SpoolError("NOT_FOUND", `No stored object ${key}.`);
}

/**
 * RFC 6266 Content-Disposition with an ASCII fallback `filename` and an RFC 5987
 * `filename*` for the real (UTF-8) name.
 */
export function contentDisposition(filename: string | undefined, inline: boolean | undefined): string {
  const type = inline ? "inline" : "attachment";
  if (!filename) return type;
  // Paths and control characters never belong in a download name (and CR/LF would split headers).
  const clean = filename.replace(/[\u0000-\u001f\u007f/\\]/g, "_");
  // The fallback is for old clients: a quote would end the quoted-string, and some clients
  // percent-decode plain filenames.
  const ascii = clean.replace(/[^\x20-\x7e]/g, "_").replace(/["%]/g, "_");
  const encoded = encodeURIComponent(clean).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return ascii === clean
    ? `${type}; filename="${ascii}"`
    : `${type}; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

/** Input errors are the caller's and travel unchanged; everything else is the backend's. */
export type CountedBody = { readonly stream: AsyncIterable<Buffer>; size(): number; inputError(): { error: unknown } | null };

/**
 * Wraps `body` so the bytes are counted and an error thrown by `body` itself is recorded
 * (a failure of the destination never passes through here). An abort destroys `body`
 * with `signal.reason`, which then surfaces as an input error.
 */
export function countedBody(body: Readable, signal: AbortSignal | undefined): CountedBody & { detach(): void } {
  let size = 0;
  let failure: { error: unknown } | null = null;
  const onAbort = () => body.destroy(toError(signal!.reason));
  signal?.addEventListener("abort", onAbort, { once: true });
  async function* stream(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of body) {
        const buf = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
        size += buf.length;
        yield buf;
      }
    } catch (err) {
      failure = { error: err };
      throw err;
    }
  }
  return {
    stream: stream(),
    size: () => size,
    inputError: () => failure,
    detach: () => signal?.removeEventListener("abort", onAbort),
  };
}

// destroy() wants an Error; a non-Error abort reason is rethrown from the signal anyway.
function toError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error(String(reason));
}
