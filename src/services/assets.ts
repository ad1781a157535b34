// Assets: how bytes get into storage and become rows. Every way in (multipart upload, tus
// upload, URL download, job output) goes through `storeBlob`, which streams the bytes to
// storage once while it detects the type from the first bytes, counts them against the
// limit of that type and hashes them. The file is written before its row and deleted if
// the row's transaction fails, so a failed ingest leaves neither a row nor a file; a crash
// in between leaves an orphan file that `sweepOrphanFiles` removes.
import { createHash, randomUUID } from "node:crypto";
import { pipeline, Transform, type Readable } from "node:stream";
import type pg from "pg";
import type { Limits } from "../config.ts";
import { SpoolError, type ErrorCode } from "../errors.ts";
import type { Queryable } from "../engine/queryable.ts";
import type { Logger } from "../log.ts";
import type { OutboundPolicy } from "../tools/http.ts";
import { watchDeclaredLength, type LengthWatch } from "../tools/declared-length.ts";
import { SNIFF_BYTES, sniff, type AssetKind } from "../tools/sniff.ts";
import type { Storage } from "../tools/storage/storage.ts";
import { isUuid } from "../uuid.ts";

/** What the service layer needs to store and hand out assets. Built once in app.ts. */
export type AssetServices = {
  storage: Storage;
  limits: Limits;
  outbound: OutboundPolicy;
  /** HMAC key of /files URLs. */
  filesSecret: string;
  log: Logger;
};

/** What an asset is for decides which kinds are accepted and which codes refuse the rest. */
export type AssetUse = "video" | "document" | "any";

const USES: Record<AssetUse, { kinds: readonly AssetKind[]; unsupported: ErrorCode; tooLarge: ErrorCode; noun: string }> = {
  video: { kinds: ["VIDEO", "AUDIO"], unsupported: "VIDEO_FORMAT_UNSUPPORTED", tooLarge: "VIDEO_TOO_LARGE", noun: "a video or audio file" },
  document: { kinds: ["PDF", "IMAGE"], unsupported: "DOCUMENT_FORMAT_UNSUPPORTED", tooLarge: "DOCUMENT_TOO_LARGE", noun: "a PDF or an image (png, jpeg, webp, tiff, gif)" },
  any: { kinds: ["VIDEO", "AUDIO", "PDF", "IMAGE", "CAPTIONS"], unsupported: "INVALID_INPUT", tooLarge: "INVALID_INPUT", noun: "a video, audio, image, PDF or captions (WebVTT, SRT) file" },
};

export function acceptedKinds(use: AssetUse): readonly AssetKind[] {
  return USES[use].kinds;
}

/** The size limit of one kind; captions are text and never need more than a few MB. */
export function limitFor(kind: AssetKind, limits: Limits): number {
  if (kind === "VIDEO" || kind === "AUDIO") return limits.videoBytes;
  if (kind === "CAPTIONS") return 5 * 1024 * 1024;
  return limits.documentBytes;
}

function tooLargeCode(kind: AssetKind): ErrorCode {
  return kind === "VIDEO" || kind === "AUDIO" ? "VIDEO_TOO_LARGE" : kind === "CAPTIONS" ? "INVALID_INPUT" : "DOCUMENT_TOO_LARGE";
}

/** The error for a kind that is not accepted for this use. */
export function unsupported(use: AssetUse, detected: string | null): SpoolError {
  const u = USES[use];
  return new SpoolError(u.unsupported, `Expected ${u.noun}; the bytes are ${detected ?? "of no supported type"}. The type is detected from the content, not the file name.`, { detected });
}

export type StoredBlob = { assetId: string; key: string; size: number; sha256: string; contentType: string; kind: AssetKind };

export function assetKey(organizationId: string, assetId: string): string {
  return `orgs/${organizationId}/assets/${assetId}`;
}

/**
 * A package asset (an HLS or DASH ladder, a storyboard) is a folder of files: its key names
 * the entry file (`…/assets/<id>/master.m3u8`) and its other files sit beside it.
 */
export function packageKey(organizationId: string, assetId: string, entry: string): string {
  return `${assetKey(organizationId, assetId)}/${entry}`;
}

const PACKAGE_KEY = /^(orgs\/[^/]+\/assets\/[^/]+)\/(.+)$/;

/** The folder and entry of a package asset's key; null for a single-file asset. */
export function packageOf(key: string): { dir: string; entry: string } | null {
  const m = PACKAGE_KEY.exec(key);
  return m ? { dir: m[1]!, entry: m[2]! } : null;
}

/** The asset id a stored key belongs to (a file or a package member). */
function assetIdOfKey(key: string): string | null {
  return /^orgs\/[^/]+\/assets\/([^/]+)/.exec(key)?.[1] ?? null;
}

/**
 * Watches bytes on their way to storage: sniffs the first SNIFF_BYTES against the use's
 * allowlist, enforces the size limit of the detected kind, hashes, and checks that a PDF
 * ends with %%EOF and that an mp4 or WebM is as long as its container declares (a truncated
 * upload is refused here rather than by every processor).
 */
class Inspector extends Transform {
  size = 0;
  sniffed: { kind: AssetKind; contentType: string } | null = null;
  private head: Buffer[] = [];
  private headBytes = 0;
  private tail: Buffer = Buffer.alloc(0);
  private readonly hash = createHash("sha256");
  private limit: number;
  private length: LengthWatch | null = null;

  constructor(private readonly use: AssetUse, private readonly limits: Limits, declaredSize?: number) {
    super();
    // Until the kind is known, the largest limit of the use applies.
    this.limit = Math.max(...USES[use].kinds.map((k) => limitFor(k, limits)));
    if (declaredSize !== undefined && declaredSize > this.limit) throw this.tooLarge(USES[use].tooLarge);
  }

  private tooLarge(code: ErrorCode): SpoolError {
    return new SpoolError(code, `The file is larger than the limit of ${this.limit} bytes for this kind of file.`, { limit: this.limit });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null, data?: Buffer) => void) {
    this.size += chunk.length;
    if (this.size > this.limit) return done(this.tooLarge(this.sniffed ? tooLargeCode(this.sniffed.kind) : USES[this.use].tooLarge));
    this.hash.update(chunk);
    this.tail = chunk.length >= 1024 ? chunk.subarray(-1024) : Buffer.concat([this.tail, chunk]).subarray(-1024);
    if (this.sniffed) {
      this.length?.push(chunk);
      return done(null, chunk);
    }
    this.head.push(chunk);
    this.headBytes += chunk.length;
    if (this.headBytes < SNIFF_BYTES) return done();
    this.decide().then((data) => done(null, data), (err) => done(err));
  }

  override _flush(done: (err?: Error | null, data?: Buffer) => void) {
    const finish = async () => {
      if (this.size === 0) throw new SpoolError("INVALID_INPUT", "The file is empty (0 bytes); send the file's content.");
      const data = this.sniffed ? undefined : await this.decide();
      if (data) this.push(data);
      if (this.sniffed?.kind === "PDF" && !this.tail.includes("%%EOF")) {
        throw new SpoolError("DOCUMENT_CORRUPTED", "The PDF is truncated or corrupted: it does not end with %%EOF.");
      }
      const declared = this.length?.missing();
      if (declared) {
        throw new SpoolError("VIDEO_FORMAT_UNSUPPORTED", `The file is truncated: its container declares ${declared} bytes, ${this.size} arrived. Upload the complete file.`, { declared, received: this.size });
      }
    };
    finish().then(() => done(), (err) => done(err));
  }

  private async decide(): Promise<Buffer> {
    const head = Buffer.concat(this.head);
    this.head = [];
    const found = await sniff(head.subarray(0, SNIFF_BYTES));
    if (!found.kind || !USES[this.use].kinds.includes(found.kind)) throw unsupported(this.use, found.contentType);
    this.sniffed = { kind: found.kind, contentType: found.contentType };
    this.length = watchDeclaredLength(found.contentType);
    this.length?.push(head);
    this.limit = limitFor(found.kind, this.limits);
    if (this.size > this.limit) throw this.tooLarge(tooLargeCode(found.kind));
    return head;
  }

  digest(): string {
    return this.hash.digest("hex");
  }
}

/**
 * Streams `body` into storage under a new asset key. Resolves once the bytes are stored
 * (no row yet); rejects with the refusal's code, leaving nothing stored.
 */
export async function storeBlob(
  assets: AssetServices,
  args: { organizationId: string; body: Readable; use: AssetUse; declaredSize?: number; signal?: AbortSignal },
): Promise<StoredBlob> {
  const assetId = randomUUID();
  const key = assetKey(args.organizationId, assetId);
  const inspector = new Inspector(args.use, assets.limits, args.declaredSize);
  // pipeline() destroys both streams on either's error, so a client that goes away mid-upload
  // errors the inspector, which errors the storage write, which removes what it wrote.
  pipeline(args.body, inspector, () => undefined);
  await assets.storage.put(key, inspector, { signal: args.signal, contentType: "application/octet-stream" });
  if (!inspector.sniffed) {
    await assets.storage.delete(key);
    throw unsupported(args.use, null);
  }
  return { assetId, key, size: inspector.size, sha256: inspector.digest(), ...inspector.sniffed };
}

/**
 * Stores a blob, then runs `commit` (which inserts its row in a transaction). If commit
 * fails, the blob is deleted: no file without a row.
 */
export async function ingest<T>(
  assets: AssetServices,
  args: Parameters<typeof storeBlob>[1],
  commit: (blob: StoredBlob) => Promise<T>,
): Promise<T> {
  const blob = await storeBlob(assets, args);
  try {
    return await commit(blob);
  } catch (err) {
    await assets.storage.delete(blob.key).catch((e) => assets.log.warn({ key: blob.key, err: e.message }, "could not delete the file of a failed ingest; system.cleanup will"));
    throw err;
  }
}

export type AssetRow = {
  id: string; organization_id: string; key: string; filename: string | null; size: string; content_type: string; kind: AssetKind;
  sha256: string; origin: "UPLOAD" | "URL" | "JOB_OUTPUT"; source_url: string | null; upload_id: string | null; job_id: string | null;
  video_id: string | null; document_id: string | null; role: string | null; label: string | null; media: unknown; created_at: Date;
};

export type AssetMeta = {
  organizationId: string;
  origin: "UPLOAD" | "URL" | "JOB_OUTPUT";
  filename?: string | null;
  sourceUrl?: string | null;
  uploadId?: string | null;
  jobId?: string | null;
  videoId?: string | null;
  documentId?: string | null;
  role?: string | null;
  label?: string | null;
  /** ffprobe's MediaInfo of an output. */
  media?: unknown;
};

export async function insertAsset(q: Queryable, blob: StoredBlob, meta: AssetMeta): Promise<AssetRow> {
  const { rows } = await q.query<AssetRow>(
    `insert into assets (id, organization_id, key, filename, size, content_type, kind, sha256, origin, source_url, upload_id, job_id, video_id, document_id, role, label, media)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) returning *`,
    [blob.assetId, meta.organizationId, blob.key, cleanFilename(meta.filename), blob.size, blob.contentType, blob.kind, blob.sha256, meta.origin,
      meta.sourceUrl ?? null, meta.uploadId ?? null, meta.jobId ?? null, meta.videoId ?? null, meta.documentId ?? null, meta.role ?? null,
      meta.label ?? null, meta.media == null ? null : JSON.stringify(meta.media)],
  );
  return rows[0]!;
}

/** A display name only (Content-Disposition, listings): no paths, no control characters, bounded. */
export function cleanFilename(name: string | null | undefined): string | null {
  if (!name) return null;
  const base = name.split(/[/\\]/).pop()!.replace(/[\u0000-\u001f\u007f]/g, "").trim().slice(0, 255);
  return base || null;
}


export async function getAsset(pool: Queryable, organizationId: string, id: string): Promise<AssetRow> {
  if (!isUuid(id)) throw new SpoolError("NOT_FOUND", `No asset ${id} in your organization.`);
  const { rows } = await pool.query<AssetRow>(`select * from assets where id = $1 and organization_id = $2`, [id, organizationId]);
  if (!rows[0]) throw new SpoolError("NOT_FOUND", `No asset ${id} in your organization.`);
  return rows[0];
}

/**
 * Deletes stored files whose rows are gone (a package: every file in its folder). Failures
 * are logged: the orphan sweep retries them.
 */
export async function deleteFiles(assets: AssetServices, keys: readonly string[]): Promise<void> {
  const deleteOne = async (key: string) => {
    const pkg = packageOf(key);
    if (!pkg) return assets.storage.delete(key);
    const members: string[] = [];
    for await (const o of assets.storage.list(`${pkg.dir}/`)) members.push(o.key);
    await Promise.all(members.map((k) => assets.storage.delete(k)));
  };
  await Promise.all(keys.map((key) => deleteOne(key).catch((err) => assets.log.warn({ key, err: err.message }, "could not delete a stored file; system.cleanup will"))));
}

/**
 * Deletes an asset that belongs to no Video or Document (those go with their owner).
 * Returns the deleted row.
 */
export async function deleteAsset(assets: AssetServices, pool: pg.Pool, organizationId: string, id: string): Promise<AssetRow> {
  const row = await getAsset(pool, organizationId, id);
  if (row.video_id || row.document_id) {
    throw new SpoolError("CONFLICT", `Asset ${id} belongs to a ${row.video_id ? "Video" : "Document"}; delete that instead.`);
  }
  const { rowCount } = await pool.query(`delete from assets where id = $1 and organization_id = $2 and video_id is null and document_id is null`, [id, organizationId]);
  if (!rowCount) throw new SpoolError("CONFLICT", `Asset ${id} was attached or deleted meanwhile.`);
  await deleteFiles(assets, [row.key]);
  return row;
}

/**
 * Removes stored files under `prefix` (an organization's `orgs/<id>/`) that no asset row
 * names and that are older than `graceMs` (a file is written just before its row, so a
 * young file may be mid-ingest).
 */
export async function sweepOrphanFiles(assets: AssetServices, pool: Queryable, opts: { prefix: string; graceMs: number; dryRun?: boolean; signal?: AbortSignal }): Promise<{ scanned: number; orphans: string[] }> {
  const cutoff = Date.now() - opts.graceMs;
  const orphans: string[] = [];
  let scanned = 0;
  let batch: string[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    // A file belongs to the asset named in its key (package members share their asset's id).
    const ids = [...new Set(batch.map(assetIdOfKey).filter((id): id is string => isUuid(id)))];
    const { rows } = await pool.query<{ id: string }>(`select id::text from assets where id = any($1::uuid[])`, [ids]);
    const known = new Set(rows.map((r) => r.id));
    const missing = batch.filter((k) => !known.has(assetIdOfKey(k) ?? ""));
    if (!opts.dryRun) await Promise.all(missing.map((k) => assets.storage.delete(k)));
    orphans.push(...missing);
    batch = [];
  };
  for await (const obj of assets.storage.list(opts.prefix)) {
    if (opts.signal?.aborted) break;
    scanned++;
    if (obj.modifiedAt.getTime() > cutoff) continue;
    batch.push(obj.key);
    if (batch.length >= 500) await flush();
  }
  await flush();
  return { scanned, orphans };
}
