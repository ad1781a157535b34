// Storage in an S3-compatible bucket. Writes stream through lib-storage's Upload (one
// PutObject for small bodies, a multipart upload otherwise), so an object appears whole or
// not at all; a failed multipart upload is aborted so no parts linger (and cost) in the bucket.
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  paginateListObjectsV2,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type S3ClientConfig,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { SpoolError } from "../../errors.ts";
import { contentDisposition } from "./content-disposition.ts";
import { countedBody } from "./counted-body.ts";
import { notFound, storageFailed } from "./failures.ts";
import { assertValidKey, assertValidPrefix, checkRange, isValidKey } from "./keys.ts";
import type { Storage, StorageOptions, StoredObject } from "./storage.ts";

type S3Options = Extract<StorageOptions, { kind: "s3" }>;

/** S3's limit for presigned URLs signed with SigV4: seven days. */
const MAX_PRESIGN_SECONDS = 604_800;

function errorName(err: unknown): string | undefined {
  return (err as { name?: string } | null)?.name;
}

function httpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}

export class S3Storage implements Storage {
  readonly kind = "s3" as const;
  private readonly client: S3Client;
  private readonly bucket: string;
  /** "" or "<prefix>/": every key lives below it in the bucket. */
  private readonly namespace: string;

  constructor(options: S3Options) {
    if (!options.bucket) throw new SpoolError("INVALID_INPUT", "S3 storage needs a bucket.");
    if (!options.region) throw new SpoolError("INVALID_INPUT", "S3 storage needs a region.");
    const prefix = (options.prefix ?? "").replace(/^\/+|\/+$/g, "");
    if (prefix) assertValidKey(prefix);
    this.namespace = prefix ? `${prefix}/` : "";
    this.bucket = options.bucket;
    const config: S3ClientConfig = {
      region: options.region,
      forcePathStyle: options.forcePathStyle ?? false,
      // Without explicit credentials the SDK's default chain applies (env, profile, IMDS...).
      ...(options.credentials ? { credentials: options.credentials } : {}),
      ...(options.endpoint
        ? {
            endpoint: options.endpoint,
            // Many S3-compatible servers reject or mis-store the SDK's default
            // flexible checksums (aws-chunked bodies with trailers): only send them when the
            // operation requires it. Against AWS itself the defaults stay.
            requestChecksumCalculation: "WHEN_REQUIRED" as const,
            responseChecksumValidation: "WHEN_REQUIRED" as const,
          }
        : {}),
    };
    this.client = new S3Client(config);
  }

  async put(key: string, body: Readable, opts: { contentType?: string; signal?: AbortSignal } = {}): Promise<{ size: number }> {
    let objectKey: string;
    try {
      objectKey = this.objectKey(key);
      opts.signal?.throwIfAborted();
    } catch (err) {
      body.destroy();
      throw err;
    }
    return this.upload("put", key, objectKey, body, opts);
  }

  async putFile(key: string, source: string, opts: { contentType?: string; signal?: AbortSignal } = {}): Promise<{ size: number }> {
    const objectKey = this.objectKey(key);
    opts.signal?.throwIfAborted();
    // The caller's file: a missing or unreadable source is the caller's error, unchanged.
    const info = await stat(source);
    if (!info.isFile()) throw new SpoolError("INVALID_INPUT", `putFile: ${source} is not a regular file.`);
    // A known length lets Upload pick a part size that fits S3's 10,000-part limit.
    return this.upload("putFile", key, objectKey, createReadStream(source), opts, info.size);
  }

  async get(key: string, range?: { start: number; end?: number }): Promise<Readable> {
    const objectKey = this.objectKey(key);
    if (range) checkRange(key, range);
    try {
      const res = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: objectKey,
          ...(range ? { Range: `bytes=${range.start}-${range.end ?? ""}` } : {}),
        }),
      );
      if (!(res.Body instanceof Readable)) throw new Error("GetObject returned no stream body");
      return res.Body;
    } catch (err) {
      throw this.failed("get", key, err);
    }
  }

  async stat(key: string): Promise<StoredObject | null> {
    const objectKey = this.objectKey(key);
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: objectKey }));
      return { key, size: res.ContentLength ?? 0, modifiedAt: res.LastModified ?? new Date(0) };
    } catch (err) {
      // HEAD responses have no body, so a missing bucket is also a bare 404 here; get/put
      // are the ones that tell the two apart.
      if (errorName(err) === "NotFound" || errorName(err) === "NoSuchKey" || httpStatus(err) === 404) return null;
      throw this.failed("stat", key, err);
    }
  }

  async delete(key: string): Promise<void> {
    const objectKey = this.objectKey(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: objectKey }));
    } catch (err) {
      if (errorName(err) === "NoSuchKey") return;
      throw this.failed("delete", key, err);
    }
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    assertValidPrefix(prefix);
    const pages = paginateListObjectsV2({ client: this.client }, { Bucket: this.bucket, Prefix: this.namespace + prefix });
    try {
      for await (const page of pages) {
        for (const obj of page.Contents ?? []) {
          const key = obj.Key?.slice(this.namespace.length);
          // Objects put there by other tools ("folder/" markers, odd names) are not ours to address.
          if (!key || !isValidKey(key)) continue;
          yield { key, size: obj.Size ?? 0, modifiedAt: obj.LastModified ?? new Date(0) };
        }
      }
    } catch (err) {
      throw this.failed("list", prefix || null, err);
    }
  }

  async presignGet(key: string, opts: { expiresIn: number; filename?: string; contentType?: string; inline?: boolean }): Promise<string | null> {
    const objectKey = this.objectKey(key);
    if (typeof opts.expiresIn !== "number" || Number.isNaN(opts.expiresIn)) {
      throw new SpoolError("INVALID_INPUT", "presignGet: expiresIn must be a number of seconds.");
    }
    const expiresIn = Math.min(MAX_PRESIGN_SECONDS, Math.max(1, Math.floor(opts.expiresIn)));
    const command = new GetObjectCommand({
      Bucket: this.bucket,
      Key: objectKey,
      ResponseContentDisposition: contentDisposition(opts.filename, opts.inline),
      ...(opts.contentType ? { ResponseContentType: opts.contentType } : {}),
    });
    try {
      return await getSignedUrl(this.client, command, { expiresIn });
    } catch (err) {
      throw this.failed("presignGet", key, err);
    }
  }

  async withLocalFile<T>(key: string, fn: (path: string) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const objectKey = this.objectKey(key);
    signal?.throwIfAborted();
    let dir: string;
    try {
      dir = await mkdtemp(path.join(os.tmpdir(), "spool-s3-"));
    } catch (err) {
      throw storageFailed("s3", "withLocalFile (temp folder)", key, err);
    }
    try {
      const file = path.join(dir, key.slice(key.lastIndexOf("/") + 1));
      try {
        const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: objectKey }), signal ? { abortSignal: signal } : {});
        if (!(res.Body instanceof Readable)) throw new Error("GetObject returned no stream body");
        await pipeline(res.Body, createWriteStream(file, { flags: "wx", mode: 0o600 }), signal ? { signal } : {});
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        throw this.failed("withLocalFile", key, err);
      }
      return await fn(file);
    } finally {
      // Never let a failed cleanup hide fn's own result or error.
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private objectKey(key: string): string {
    assertValidKey(key);
    return this.namespace + key;
  }

  private async upload(
    operation: string,
    key: string,
    objectKey: string,
    body: Readable,
    opts: { contentType?: string; signal?: AbortSignal },
    contentLength?: number,
  ): Promise<{ size: number }> {
    const { signal } = opts;
    const counted = countedBody(body, signal);
    const source = Readable.from(counted.stream);
    try {
      const upload = new Upload({
        client: this.clientFor(signal),
        // The default, spelled out: a failed multipart upload is aborted, not left behind.
        leavePartsOnError: false,
        params: {
          Bucket: this.bucket,
          Key: objectKey,
          Body: source,
          ...(opts.contentType ? { ContentType: opts.contentType } : {}),
          ...(contentLength !== undefined ? { ContentLength: contentLength } : {}),
        },
      });
      await upload.done();
      return { size: counted.size() };
    } catch (err) {
      // Upload stops reading on a backend failure; release the caller's stream.
      source.destroy();
      if (!body.destroyed) body.destroy();
      if (signal?.aborted) throw signal.reason;
      const input = counted.inputError();
      // Upload may report the abort of the multipart upload instead (if that failed too):
      // the input's own error is the one the caller must see.
      if (input) throw input.error;
      throw this.failed(operation, key, err);
    } finally {
      counted.detach();
    }
  }

  /**
   * The client as Upload sees it: the requests that carry bytes (UploadPart, PutObject) also
   * carry `signal`, so an abort stops them mid-transfer instead of waiting for them. The
   * control requests do not: a CreateMultipartUpload cut off after the server acted would
   * leave an upload whose id we never learn, a cut-off CompleteMultipartUpload may still
   * complete, and the AbortMultipartUpload that cleans up must go out after the abort.
   */
  private clientFor(signal: AbortSignal | undefined): S3Client {
    if (!signal) return this.client;
    const client = this.client;
    const scoped = Object.create(client) as S3Client;
    Object.defineProperty(scoped, "send", {
      value: (command: unknown, options?: Record<string, unknown>) =>
        (client.send as (c: unknown, o?: Record<string, unknown>) => Promise<unknown>).call(
          client,
          command,
          command instanceof UploadPartCommand || command instanceof PutObjectCommand ? { ...options, abortSignal: signal } : options,
        ),
    });
    return scoped;
  }

  private failed(operation: string, key: string | null, err: unknown): SpoolError {
    if (err instanceof SpoolError) return err;
    const name = errorName(err);
    if (key && (name === "NoSuchKey" || name === "NotFound")) return notFound(key);
    if (name === "InvalidRange" || httpStatus(err) === 416) {
      return new SpoolError("INVALID_INPUT", `The byte range starts past the end of ${key}.`);
    }
    return storageFailed("s3", operation, key, err);
  }
}
