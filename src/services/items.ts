// Videos and Documents: the domain objects built from assets. Both have the same shape
// (title, description, tags, metadata, a SOURCE asset, outputs later job types add), so one
// set of use-cases serves both, parameterised by `ItemKind`. Every function takes the
// caller's organization; another organization's item is NOT_FOUND.
import type { Readable } from "node:stream";
import type pg from "pg";
import { z } from "zod";
import { enqueue, type EnqueueOptions } from "../engine/enqueue.ts";
import { SpoolError } from "../errors.ts";
import { inTransaction, type Queryable } from "../engine/queryable.ts";
import { cancelJobs } from "../engine/control.ts";
import type { Job } from "../engine/types.ts";
import type { ProcessorRegistry } from "../engine/registry.ts";
import { checkUrl } from "../tools/http.ts";
import { acceptedKinds, deleteFiles, getAsset, ingest, insertAsset, unsupported, type AssetServices } from "./assets.ts";
import { attachJobWebhook, type JobWebhook } from "./jobs.ts";

export type ItemKind = "video" | "document";

const TABLES = { video: "videos", document: "documents" } as const;
const OWNER = { video: "video_id", document: "document_id" } as const;
const NOUN = { video: "Video", document: "Document" } as const;

export type ItemRow = {
  id: string; organization_id: string; title: string; description: string | null; tags: string[];
  metadata: Record<string, unknown>; ingest_job_id: string | null; created_at: Date; updated_at: Date;
};

/** Exactly one way in. */
export type ItemSource =
  | { file: { stream: Readable; filename: string | null; size?: number } }
  | { assetId: string }
  | { uploadId: string }
  | { inputUrl: string };

const fields = z.object({
  title: z.string().trim().min(1).max(500).optional(),
  description: z.string().max(5_000).nullish(),
  tags: z.array(z.string().trim().min(1).max(64)).max(50).default([]),
  metadata: z.record(z.string(), z.unknown()).default({}).refine((m) => JSON.stringify(m).length <= 16_384, "metadata is at most 16 KB of JSON"),
});
export type ItemFields = z.input<typeof fields>;

function parseFields(input: ItemFields) {
  const parsed = fields.safeParse(input);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new SpoolError("INVALID_INPUT", `${i.path.join(".") || "input"}: ${i.message}`);
  }
  return { ...parsed.data, tags: [...new Set(parsed.data.tags)] };
}

export function ownerOf(kind: ItemKind, itemId: string): { videoId: string } | { documentId: string } {
  return kind === "video" ? { videoId: itemId } : { documentId: itemId };
}

function notFound(kind: ItemKind, id: string) {
  return new SpoolError("NOT_FOUND", `No ${NOUN[kind]} ${id} in your organization.`);
}

async function insertItem(q: Queryable, kind: ItemKind, organizationId: string, f: ReturnType<typeof parseFields>, fallbackTitle: string): Promise<ItemRow> {
  const { rows } = await q.query<ItemRow>(
    `insert into ${TABLES[kind]} (organization_id, title, description, tags, metadata) values ($1, $2, $3, $4, $5) returning *`,
    [organizationId, f.title ?? fallbackTitle, f.description ?? null, f.tags, f.metadata],
  );
  return rows[0]!;
}

/** The last path segment of a tus upload URL, or the id itself. */
export function uploadIdFrom(value: string): string {
  const id = value.replace(/[?#].*$/, "").replace(/\/+$/, "").split("/").pop() ?? "";
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(id)) throw new SpoolError("INVALID_INPUT", "uploadId must be a tus upload id or its URL.");
  return id;
}

/**
 * Creates a Video or Document from one way in:
 * - file: streamed into storage now; the item and its SOURCE asset are inserted in one transaction;
 * - assetId / uploadId: an existing asset of the caller's (a finished tus upload) becomes the SOURCE;
 * - inputUrl: checked now (scheme, port, literal address), downloaded by an `asset.ingest` job
 *   enqueued in the same transaction as the item.
 */
export async function createItem(
  assets: AssetServices, pool: pg.Pool, registry: ProcessorRegistry,
  kind: ItemKind, organizationId: string, input: ItemFields & { source: ItemSource },
): Promise<ItemRow> {
  const f = parseFields(input);
  const source = input.source;
  if ("file" in source) {
    return ingest(assets, { organizationId, body: source.file.stream, use: kind, declaredSize: source.file.size }, (blob) =>
      inTransaction(pool, async (tx) => {
        const item = await insertItem(tx, kind, organizationId, f, source.file.filename ?? "Untitled");
        await insertAsset(tx, blob, { organizationId, origin: "UPLOAD", filename: source.file.filename, ...ownerOf(kind, item.id), role: "SOURCE" });
        return item;
      }));
  }
  if ("inputUrl" in source) {
    const url = checkUrl(source.inputUrl, assets.outbound);
    return inTransaction(pool, async (tx) => {
      const item = await insertItem(tx, kind, organizationId, f, decodeURIComponent(url.pathname.split("/").pop() || url.hostname));
      const { job } = await enqueue(tx, registry, { organizationId, type: "asset.ingest", input: { url: url.toString(), kind, itemId: item.id } });
      const { rows } = await tx.query<ItemRow>(`update ${TABLES[kind]} set ingest_job_id = $2 where id = $1 returning *`, [item.id, job.id]);
      return rows[0]!;
    });
  }
  return inTransaction(pool, async (tx) => {
    const asset = "assetId" in source
      ? await getAsset(tx, organizationId, source.assetId)
      : await assetOfUpload(tx, organizationId, uploadIdFrom(source.uploadId));
    if (!acceptedKinds(kind).includes(asset.kind)) throw unsupported(kind, asset.content_type);
    const item = await insertItem(tx, kind, organizationId, f, asset.filename ?? "Untitled");
    // The row lock and the owner check in one statement: two items racing for one asset cannot both win.
    const { rowCount } = await tx.query(
      `update assets set ${OWNER[kind]} = $3, role = 'SOURCE' where id = $1 and organization_id = $2 and video_id is null and document_id is null`,
      [asset.id, organizationId, item.id],
    );
    if (!rowCount) throw new SpoolError("CONFLICT", `Asset ${asset.id} already belongs to a Video or Document; upload it again to use it twice.`);
    return item;
  });
}

async function assetOfUpload(q: Queryable, organizationId: string, uploadId: string) {
  const { rows } = await q.query<{ id: string }>(`select id from assets where upload_id = $1 and organization_id = $2`, [uploadId, organizationId]);
  if (!rows[0]) throw new SpoolError("NOT_FOUND", `No finished upload ${uploadId} in your organization. Finish the tus upload first (its last PATCH answers with Spool-Asset-Id).`);
  return getAsset(q, organizationId, rows[0].id);
}

export async function getItem(q: Queryable, kind: ItemKind, organizationId: string, id: string): Promise<ItemRow> {
  if (!/^[0-9a-f-]{36}$/i.test(id)) throw notFound(kind, id);
  const { rows } = await q.query<ItemRow>(`select * from ${TABLES[kind]} where id = $1 and organization_id = $2`, [id, organizationId]);
  if (!rows[0]) throw notFound(kind, id);
  return rows[0];
}

export async function updateItem(pool: pg.Pool, kind: ItemKind, organizationId: string, id: string, input: ItemFields): Promise<ItemRow> {
  const f = parseFields(input);
  const { rows } = await pool.query<ItemRow>(
    `update ${TABLES[kind]} set title = coalesce($3, title), description = case when $4::boolean then $5 else description end,
       tags = case when $6::boolean then $7::text[] else tags end, metadata = case when $8::boolean then $9::jsonb else metadata end, updated_at = now()
     where id = $1 and organization_id = $2 returning *`,
    [id, organizationId, f.title ?? null, input.description !== undefined, f.description ?? null, input.tags !== undefined, f.tags, input.metadata !== undefined, f.metadata],
  );
  if (!rows[0]) throw notFound(kind, id);
  return rows[0];
}

/**
 * Deletes a Video or Document with all its assets, then their files. A running ingest is
 * cancelled in the same transaction; if it still gets to its commit, the asset's foreign
 * key to the deleted item fails it and its file is removed (see asset.ingest).
 */
export async function deleteItem(assets: AssetServices, pool: pg.Pool, kind: ItemKind, organizationId: string, id: string): Promise<ItemRow> {
  const { item, keys } = await inTransaction(pool, async (tx) => {
    const item = await getItem(tx, kind, organizationId, id);
    if (item.ingest_job_id) await cancelJobs(tx, { organizationId, id: item.ingest_job_id });
    const { rows } = await tx.query<{ key: string }>(`delete from assets where ${OWNER[kind]} = $1 returning key`, [id]);
    await tx.query(`delete from ${TABLES[kind]} where id = $1 and organization_id = $2`, [id, organizationId]);
    return { item, keys: rows.map((r) => r.key) };
  });
  await deleteFiles(assets, keys);
  return item;
}

/**
 * Submits a job on a Video or Document: in one transaction the item is locked (it cannot be
 * deleted meanwhile), checked to be the caller's and READY, and the job enqueued with the
 * item's id in its input (`videoId` / `documentId`) and metadata.
 */
export async function submitItemJob(
  pool: pg.Pool, registry: ProcessorRegistry, organizationId: string,
  req: { kind: ItemKind; type: string; itemId: string; input: Record<string, unknown>; webhook?: JobWebhook } & Pick<EnqueueOptions, "priority" | "idempotencyKey" | "metadata">,
): Promise<Job> {
  if (!registry.get(req.type)) throw new SpoolError("UNAVAILABLE", `This server does not run ${req.type} jobs.`);
  const idField = `${req.kind}Id`;
  return inTransaction(pool, async (tx) => {
    const item = await tx.query(`select id from ${TABLES[req.kind]} where id = $1 and organization_id = $2 for share`, [req.itemId, organizationId]);
    if (!item.rowCount) throw notFound(req.kind, req.itemId);
    const src = await tx.query(`select 1 from assets where ${OWNER[req.kind]} = $1 and role = 'SOURCE'`, [req.itemId]);
    if (!src.rowCount) throw new SpoolError("CONFLICT", `The ${NOUN[req.kind]} has no source yet (status PENDING or FAILED); wait until it is READY.`);
    const { job, created } = await enqueue(tx, registry, {
      organizationId, type: req.type, input: { ...req.input, [idField]: req.itemId },
      ...(req.priority ? { priority: req.priority } : {}),
      ...(req.idempotencyKey ? { idempotencyKey: req.idempotencyKey } : {}),
      metadata: { ...req.metadata, [idField]: req.itemId },
    });
    if (req.webhook && created) await attachJobWebhook(tx, organizationId, job.id, req.webhook);
    return job;
  });
}
