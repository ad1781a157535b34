// Storing what a media or document job made: each output file (or package folder: HLS, DASH,
// storyboard; its members keep their package's folder) goes to storage under a new asset id, then one transaction — fenced by the attempt — replaces
// the outputs an earlier attempt of the same job stored and inserts the new rows. Files
// are uploaded before their rows and deleted if the transaction fails, as for every
// ingest: a re-run replaces, never duplicates, and a crash leaves at most orphan files.
import { createHash, randomUUID } from "node:crypto";
import { createReadStream } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { JobError } from "../../errors.ts";
import { inTransaction, type Queryable } from "../../engine/queryable.ts";
import type { Job } from "../../engine/types.ts";
import { assetKey, deleteFiles, insertAsset, packageKey, type AssetRow } from "../../services/assets.ts";
import type { AssetKind } from "../../tools/sniff.ts";
import type { MediaDeps } from "./source.ts";

type Common = { role: string; label?: string | null; filename: string; contentType: string; kind: AssetKind; media?: unknown };
/**
 * One file; a package: a folder whose `entry` (master.m3u8, manifest.mpd, storyboard.vtt) is
 * what players open; or a member of a package given in the same call (`dir` is that
 * package's folder, `member` a path in it): stored in the package's folder, so the entry's
 * relative URLs still reach it, but an Asset of its own, whose size the package no longer counts.
 */
export type Output = Common & ({ file: string } | { dir: string; entry: string } | { dir: string; member: string });
type PackageOutput = Common & { dir: string; entry: string };
type MemberOutput = Common & { dir: string; member: string };

export async function sha256Of(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(path.relative(dir, path.join(e.parentPath, e.name)));
  }
  return out.sort();
}

type Uploaded = { assetId: string; key: string; size: number; sha256: string; keys: string[] };

async function upload(deps: MediaDeps, job: Job, out: Common & ({ file: string } | PackageOutput), members: ReadonlySet<string>, signal: AbortSignal): Promise<Uploaded> {
  const assetId = randomUUID();
  if ("file" in out) {
    const key = assetKey(job.organizationId, assetId);
    const { size } = await deps.assets.storage.putFile(key, out.file, { contentType: out.contentType, signal });
    return { assetId, key, size, sha256: await sha256Of(out.file), keys: [key] };
  }
  const keys: string[] = [];
  let size = 0;
  try {
    for (const rel of await filesUnder(out.dir)) {
      const name = rel.split(path.sep).join("/");
      const key = packageKey(job.organizationId, assetId, name);
      keys.push(key);
      const stored = await deps.assets.storage.putFile(key, path.join(out.dir, rel), { signal });
      if (!members.has(name)) size += stored.size;
    }
  } catch (err) {
    await Promise.all(keys.map((k) => deps.assets.storage.delete(k).catch(() => undefined)));
    throw err;
  }
  return { assetId, key: packageKey(job.organizationId, assetId, out.entry), size, sha256: await sha256Of(path.join(out.dir, out.entry)), keys };
}

/** A member's row points into its package's folder; the package uploaded (and cleans up) the file. */
async function memberOf(job: Job, pkg: Uploaded, out: MemberOutput): Promise<Uploaded> {
  const file = path.join(out.dir, out.member);
  return { assetId: randomUUID(), key: packageKey(job.organizationId, pkg.assetId, out.member), size: (await stat(file)).size, sha256: await sha256Of(file), keys: [] };
}

/**
 * Locks the job row and checks this attempt still owns it: writes made in the same transaction
 * cannot land for an attempt that was cancelled or reclaimed meanwhile.
 */
export async function fenceAttempt(tx: Queryable, job: Job, attempt: number): Promise<void> {
  const fence = await tx.query(`select 1 from jobs where id = $1 and attempts = $2 and status = 'RUNNING' for update`, [job.id, attempt]);
  if (!fence.rowCount) throw new JobError("LEASE_LOST", "This attempt no longer owns the job (cancelled or reclaimed).");
}

/** Whose outputs: a Video or a Document (the shape of services/items.ts ownerOf). */
export type OutputOwner = { videoId: string } | { documentId: string };

/** Stores a job's outputs as assets of the Video or Document; returns their rows, in the order given. */
export async function storeOutputs(deps: MediaDeps, job: Job, attempt: number, owner: OutputOwner, outputs: Output[], signal: AbortSignal): Promise<AssetRow[]> {
  const [table, ownerId] = "videoId" in owner ? ["videos", owner.videoId] : ["documents", owner.documentId];
  const uploaded: Uploaded[] = [];
  const packages = new Map<string, Uploaded>();
  try {
    for (const out of outputs) {
      if ("member" in out) {
        const pkg = packages.get(out.dir);
        if (!pkg) throw new Error(`package member ${out.member} is listed before its package`);
        uploaded.push(await memberOf(job, pkg, out));
        continue;
      }
      await stat("file" in out ? out.file : path.join(out.dir, out.entry));
      const members = new Set("file" in out ? [] : outputs.flatMap((o) => ("member" in o && o.dir === out.dir ? [o.member] : [])));
      const u = await upload(deps, job, out, members, signal);
      if (!("file" in out)) packages.set(out.dir, u);
      uploaded.push(u);
    }
    const { rows, oldKeys } = await inTransaction(deps.pool, async (tx) => {
      await fenceAttempt(tx, job, attempt);
      const old = await tx.query<{ key: string }>(`delete from assets where job_id = $1 and organization_id = $2 and origin = 'JOB_OUTPUT' returning key`, [job.id, job.organizationId]);
      const rows: AssetRow[] = [];
      for (const [i, out] of outputs.entries()) {
        const u = uploaded[i]!;
        rows.push(await insertAsset(tx, { assetId: u.assetId, key: u.key, size: u.size, sha256: u.sha256, contentType: out.contentType, kind: out.kind }, {
          organizationId: job.organizationId, origin: "JOB_OUTPUT", jobId: job.id, ...owner, role: out.role, label: out.label ?? null,
          filename: out.filename, media: out.media ?? null,
        }));
      }
      await tx.query(`update ${table} set updated_at = now() where id = $1 and organization_id = $2`, [ownerId, job.organizationId]);
      return { rows, oldKeys: old.rows.map((r) => r.key) };
    });
    await deleteFiles(deps.assets, oldKeys);
    return rows;
  } catch (err) {
    await Promise.all(uploaded.flatMap((u) => u.keys).map((k) => deps.assets.storage.delete(k).catch(() => undefined)));
    throw err;
  }
}
