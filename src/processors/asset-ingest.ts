// asset.ingest: downloads a createVideo/createDocument inputUrl through the SSRF-safe client
// (tools/http.ts re-checks the resolved address at connect time and every redirect), streams
// it into storage through the same inspector as uploads, and makes it the item's SOURCE.
// The commit is fenced by the attempt: a cancelled job or a worker that lost its lease
// cannot attach an asset, and its file is deleted.
import type pg from "pg";
import { z } from "zod";
import { JobError, SpoolError } from "../errors.ts";
import { inTransaction } from "../engine/queryable.ts";
import { defineJobType } from "../engine/types.ts";
import { deleteFiles, ingest, insertAsset, type AssetServices } from "../services/assets.ts";
import { ownerOf } from "../services/items.ts";
import { request } from "../tools/http.ts";

const input = z.object({
  url: z.string().max(8_192),
  kind: z.enum(["video", "document"]),
  itemId: z.uuid(),
});

/** What asset.ingest is bound with (app.ts). */
export type IngestDeps = { assets: AssetServices; pool: pg.Pool };

export type IngestResult = { assetId: string; size: number; contentType: string; sha256: string };

/** Statuses worth another attempt; any other non-2xx answer is final. */
const RETRYABLE_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

function filenameFrom(disposition: string | string[] | undefined, url: string): string | null {
  const header = Array.isArray(disposition) ? disposition[0] : disposition;
  const star = header && /filename\*\s*=\s*UTF-8''([^;]+)/i.exec(header);
  if (star) return safeDecode(star[1]!);
  const plain = header && /filename\s*=\s*"?([^";]+)"?/i.exec(header);
  if (plain) return plain[1]!;
  return safeDecode(new URL(url).pathname.split("/").pop() ?? "") || null;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export const assetIngest = defineJobType<IngestDeps, z.infer<typeof input>, IngestResult>({
  type: "asset.ingest",
  description: "Download a URL (public addresses only) into storage and make it the SOURCE of a Video or Document.",
  input,
  maxAttempts: 3,
  timeoutMs: (deps) => deps.assets.outbound.timeoutMs + 60_000,
  async run(job, ctx, deps) {
    const { assets, pool } = deps;
    const { url, kind, itemId } = job.input;
    // The job may come from submitJob too: the item must be the job's organization's.
    const owned = await pool.query(`select 1 from ${kind}s where id = $1 and organization_id = $2`, [itemId, job.organizationId]);
    if (!owned.rowCount) throw new JobError("NOT_FOUND", `No ${kind} ${itemId} in your organization.`);
    await ctx.stage("download");
    let res;
    try {
      res = await request(url, { policy: assets.outbound, redirect: "follow", signal: ctx.signal });
    } catch (err) {
      if (err instanceof SpoolError) throw new JobError(err.code, err.message, { retryable: err.code === "URL_UNREACHABLE" });
      throw err;
    }
    if (res.status < 200 || res.status > 299) {
      res.body.destroy();
      throw new JobError("URL_UNREACHABLE", `The URL answered HTTP ${res.status}.`, { retryable: RETRYABLE_STATUS.has(res.status) });
    }
    const length = Number(res.headers["content-length"]);
    const declaredSize = Number.isFinite(length) && length > 0 ? length : undefined;
    if (declaredSize) {
      let received = 0;
      res.body.on("data", (chunk: Buffer) => ctx.progress(Math.min(0.99, (received += chunk.length) / declaredSize)));
    }
    try {
      const asset = await ingest(assets, { organizationId: job.organizationId, body: res.body, use: kind, declaredSize, signal: ctx.signal }, (blob) =>
        inTransaction(pool, async (tx) => {
          const fence = await tx.query(`select 1 from jobs where id = $1 and attempts = $2 and status = 'RUNNING' for update`, [job.id, ctx.attempt]);
          if (!fence.rowCount) throw new JobError("LEASE_LOST", "This attempt no longer owns the job (cancelled or reclaimed).");
          // A re-run replaces the source a previous attempt attached, never adds a second one.
          const old = await tx.query<{ key: string }>(
            `delete from assets where ${kind}_id = $1 and organization_id = $2 and role = 'SOURCE' returning key`, [itemId, job.organizationId]);
          const row = await insertAsset(tx, blob, {
            organizationId: job.organizationId, origin: "URL", sourceUrl: res.url, filename: filenameFrom(res.headers["content-disposition"], res.url),
            jobId: job.id, ...ownerOf(kind, itemId), role: "SOURCE",
          }).catch((err) => {
            // The item was deleted while we downloaded.
            if ((err as { code?: string }).code === "23503") throw new JobError("NOT_FOUND", `The ${kind} was deleted during the download.`);
            throw err;
          });
          // A new source invalidates what media jobs cached about the old one.
          await tx.query(`update ${kind}s set updated_at = now()${kind === "video" ? ", media = null" : ""} where id = $1 and organization_id = $2`, [itemId, job.organizationId]);
          return { row, oldKeys: old.rows.map((r) => r.key) };
        }));
      await deleteFiles(assets, asset.oldKeys);
      ctx.progress(1);
      return { assetId: asset.row.id, size: Number(asset.row.size), contentType: asset.row.content_type, sha256: asset.row.sha256 };
    } catch (err) {
      if (err instanceof JobError) throw err;
      // Refusals of the content (type, size, truncation) are final; a broken connection is worth a retry.
      if (err instanceof SpoolError) throw new JobError(err.code, err.message, { retryable: err.code === "URL_UNREACHABLE" });
      if (ctx.signal.aborted) throw err;
      throw new JobError("URL_UNREACHABLE", `The download failed: ${(err as Error).message}`, { retryable: true });
    }
  },
});
