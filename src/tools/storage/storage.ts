// Where asset bytes live: a folder on this machine or an S3-compatible bucket, behind one
// interface. This file holds only the interface and its types, so the backends (local.ts,
// s3.ts) and the factory that picks one (create-storage.ts) all point at it and never at each
// other.
import type { Readable } from "node:stream";

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
