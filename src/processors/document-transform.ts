// document.transform: a PDF Document rewritten by a list of operations (merge other PDFs,
// extract, rotate, stamp text or an image, set the info dictionary, split), each run by the
// PDF adapter's child process on the previous step's file in the job's work folder. The
// result is one new Document — or, after a final split, several — each with its file as
// SOURCE asset, its page count, the job that made it and the Document it came from.
//
// Storing follows storeOutputs (media/outputs.ts): the files are uploaded first, then one
// transaction fenced by the attempt replaces the Documents an earlier attempt of this job
// made and inserts the new ones; uploaded files are deleted if anything fails, so a failed
// or cancelled job leaves neither a Document nor a file.
import { randomUUID } from "node:crypto";
import { rm } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { JobError } from "../errors.ts";
import { inTransaction } from "../engine/queryable.ts";
import { defineJobType, type Job, type JobContext } from "../engine/types.ts";
import { assetKey, deleteFiles, insertAsset, type AssetRow } from "../services/assets.ts";
import type { Storage } from "../tools/storage/storage.ts";
import { extractPages, mergePdfs, openPdfInfo, rotatePages, setMetadata, stampImage, stampText } from "../tools/pdf/pdf.ts";
import type { PdfRunOptions, PdfWriteResult } from "../tools/pdf/types.ts";
import { loadDocument } from "./documents/source.ts";
import { fenceAttempt, sha256Of } from "./media/outputs.ts";
import { loadImageAsset, withWorkDir, type MediaDeps } from "./media/source.ts";
import { planOf, Stages } from "./media/stages.ts";

/** StampPosition of tools/pdf/types.ts: a named anchor, or the stamp's top-left in points from the page's top-left. */
export const STAMP_ANCHORS = ["center", "top-left", "top-center", "top-right", "bottom-left", "bottom-center", "bottom-right"] as const;
/** A split yields at most this many Documents (one PDF child per part). */
export const MAX_SPLIT_PARTS = 100;

const page = z.number().int().min(1).max(100_000);
const pages = z.array(page).min(1).max(5000).optional().describe("1-based page numbers; all pages when omitted");
const position = z.union([
  z.enum(STAMP_ANCHORS),
  z.strictObject({ x: z.number().min(0).max(14_400), y: z.number().min(0).max(14_400) }).describe("the stamp's top-left, in points from the page's top-left"),
]).optional().describe("default center");
const opacity = z.number().min(0).max(1).optional().describe("0..1, default 1");
const infoText = z.string().max(2_000).optional();

const operation = z.discriminatedUnion("op", [
  z.strictObject({
    op: z.literal("merge"),
    documentIds: z.array(z.uuid()).min(1).max(50).describe("PDF Documents of yours appended in this order"),
  }).describe("Append other PDF Documents."),
  z.strictObject({
    op: z.literal("extractPages"),
    pages: z.array(page).min(1).max(5000).describe("1-based, in the order wanted; a page may repeat"),
  }).describe("Keep these pages, in this order."),
  z.strictObject({
    op: z.literal("rotate"),
    degrees: z.number().int().multipleOf(90).min(-360).max(360).describe("clockwise; a multiple of 90"),
    pages,
  }).describe("Add a rotation to pages."),
  z.strictObject({
    op: z.literal("stampText"),
    text: z.string().min(1).max(500).describe("drawn in Helvetica: WinAnsi characters only"),
    fontSize: z.number().min(1).max(500).optional().describe("points, default 24"),
    color: z.string().regex(/^#[0-9a-fA-F]{6}$/, "color must be #rrggbb").optional().describe("#rrggbb, default black"),
    opacity,
    position,
    pages,
  }).describe("Draw text on pages."),
  z.strictObject({
    op: z.literal("stampImage"),
    assetId: z.uuid().describe("a PNG or JPEG Asset of yours (uploadAsset)"),
    scale: z.number().positive().max(100).optional().describe("1 draws one image pixel per point (default)"),
    opacity,
    position,
    pages,
  }).describe("Draw an image on pages."),
  z.strictObject({
    op: z.literal("setMetadata"),
    title: infoText,
    author: infoText,
    subject: infoText,
    keywords: z.array(z.string().max(200)).max(100).optional(),
    creator: infoText,
    producer: infoText,
    creationDate: z.iso.datetime({ offset: true }).optional(),
    modificationDate: z.iso.datetime({ offset: true }).optional(),
  }).refine((m) => Object.keys(m).length > 1, "setMetadata needs at least one field").describe("Set fields of the PDF's info dictionary; the others are kept."),
  z.strictObject({
    op: z.literal("split"),
    ranges: z.array(z.strictObject({ from: page, to: page }).refine((r) => r.from <= r.to, "from must not be after to"))
      .min(1).max(MAX_SPLIT_PARTS).optional().describe("one Document per range (1-based, inclusive)"),
    everyPages: z.number().int().min(1).max(5000).optional().describe("one Document per this many pages"),
  }).refine((s) => (s.ranges ? 1 : 0) + (s.everyPages ? 1 : 0) === 1, "split needs exactly one of ranges or everyPages")
    .describe("Only as the last operation: several Documents instead of one."),
]);
export type DocumentOperation = z.infer<typeof operation>;

export const transformInput = z.strictObject({
  documentId: z.uuid().describe("the PDF Document to start from"),
  operations: z.array(operation).min(1).max(20).superRefine((ops, ctx) => {
    ops.forEach((o, i) => {
      if (o.op === "split" && i !== ops.length - 1) ctx.addIssue({ code: "custom", path: [i, "op"], message: "split is only allowed as the last operation" });
    });
  }).describe("applied in order, each to the previous one's PDF"),
  title: z.string().trim().min(1).max(300).optional().describe("default: the source's title + \" (transformed)\"; after a split each part adds \" (part i)\""),
  tags: z.array(z.string().trim().min(1).max(64)).max(50).optional(),
});
export type TransformInput = z.infer<typeof transformInput>;
export type TransformResult = { documentIds: string[]; pageCounts: number[] };

/** One stage per operation; an operation used twice gets its ordinal: rotate[1], rotate[2]. */
export function stageNames(ops: ReadonlyArray<{ op: string }>): string[] {
  const total = new Map<string, number>();
  for (const o of ops) total.set(o.op, (total.get(o.op) ?? 0) + 1);
  const seen = new Map<string, number>();
  return ops.map((o) => {
    const n = (seen.get(o.op) ?? 0) + 1;
    seen.set(o.op, n);
    return total.get(o.op)! > 1 ? `${o.op}[${n}]` : o.op;
  });
}

/** A file name from a title: lowercase ASCII words joined by dashes. */
export function slugOf(title: string): string {
  const slug = title.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
    .replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 80).replace(/-+$/, "");
  return slug || "document";
}

function requirePdf(row: AssetRow, what: string): void {
  if (row.kind !== "PDF") throw new JobError("INVALID_INPUT", `${what} is ${row.content_type}: transform needs a PDF.`);
}


/** Runs fn with a local path for each key (nested withLocalFile: S3 objects are fetched to temp files). */
function withLocalFiles<T>(storage: Storage, keys: readonly string[], fn: (paths: Map<string, string>) => Promise<T>, signal: AbortSignal): Promise<T> {
  const paths = new Map<string, string>();
  const step = (i: number): Promise<T> => {
    if (i === keys.length) return fn(paths);
    return storage.withLocalFile(keys[i]!, (p) => {
      paths.set(keys[i]!, p);
      return step(i + 1);
    }, signal);
  };
  return step(0);
}

/** The pages of each part of a split of a `count`-page PDF. */
function splitParts(op: Extract<DocumentOperation, { op: "split" }>, count: number): number[][] {
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
  if (op.ranges) {
    return op.ranges.map((r) => {
      if (r.to > count) throw new JobError("INVALID_INPUT", `Page ${r.to} does not exist: the PDF has ${count} page${count === 1 ? "" : "s"} at the split.`);
      return range(r.from, r.to);
    });
  }
  const every = op.everyPages!;
  const n = Math.ceil(count / every);
  if (n > MAX_SPLIT_PARTS) {
    throw new JobError("INVALID_INPUT", `Splitting ${count} pages every ${every} would make ${n} Documents; the limit is ${MAX_SPLIT_PARTS}.`);
  }
  return Array.from({ length: n }, (_, i) => range(i * every + 1, Math.min(count, (i + 1) * every)));
}

type Part = { file: string; title: string; pageCount: number };

/** Shares of progress by stage (the definition's `stages`): one per operation. */
const STAGES = { load: 1, merge: 1, extractPages: 1, rotate: 1, stampText: 1, stampImage: 1, setMetadata: 1, split: 1, store: 1 };

export const documentTransform = defineJobType<MediaDeps, TransformInput, TransformResult>({
  type: "document.transform",
  description: "A new PDF Document (or several, after a final split) from a PDF Document and a list of operations: merge, extractPages, rotate, stampText, stampImage, setMetadata, split.",
  mutation: { name: "transformDocument", description: "Make new PDF Documents from a PDF Document: merge, extract, rotate, stamp, set properties, split. Runs a document.transform job; the result is on job.outputDocuments." },
  stages: STAGES,
  input: transformInput,
  timeoutMs: 30 * 60_000,
  async run(job: Job<TransformInput>, ctx: JobContext, deps): Promise<TransformResult> {
    const input = job.input;
    const names = stageNames(input.operations);
    const stages = new Stages(ctx, planOf(STAGES, ["load", ...names, "store"]));

    // Everything the operations read is checked before any PDF is opened.
    await stages.enter("load");
    const source = await loadDocument(deps, job, input.documentId);
    requirePdf(source, `Document ${input.documentId}`);
    const { rows: [doc] } = await deps.pool.query<{ title: string }>(`select title from documents where id = $1 and organization_id = $2`, [input.documentId, job.organizationId]);
    if (!doc) throw new JobError("NOT_FOUND", `No Document ${input.documentId} in your organization.`);
    const docs = new Map<string, AssetRow>();
    const images = new Map<string, AssetRow>();
    for (const op of input.operations) {
      if (op.op === "merge") {
        for (const id of op.documentIds) {
          if (docs.has(id)) continue;
          const row = await loadDocument(deps, job, id);
          requirePdf(row, `Document ${id}`);
          docs.set(id, row);
        }
      } else if (op.op === "stampImage" && !images.has(op.assetId)) {
        images.set(op.assetId, await loadImageAsset(deps, job, op.assetId, "stampImage"));
      }
    }
    const keys = [...new Set([source.key, ...[...docs.values()].map((d) => d.key), ...[...images.values()].map((i) => i.key)])];
    const title = input.title ?? `${doc.title.slice(0, 480)} (transformed)`;
    const maxBytes = deps.assets.limits.documentBytes;
    const pdf: PdfRunOptions = { signal: ctx.signal, limits: { maxPages: deps.assets.limits.documentPages } };

    return withWorkDir(job, ctx.attempt, (dir) => withLocalFiles(deps.assets.storage, keys, async (local) => {
      let current = local.get(source.key)!;
      let pageCount: number | null = null;
      let parts: Part[] | null = null;
      const written = (r: PdfWriteResult, out: string, what: string) => {
        if (r.bytes > maxBytes) throw new JobError("DOCUMENT_TOO_LARGE", `After ${what} the PDF is ${r.bytes} bytes; the largest Document is ${maxBytes} bytes.`);
        ctx.logLine(`${what}: ${r.pageCount} page${r.pageCount === 1 ? "" : "s"}, ${r.bytes} bytes`);
        return { file: out, pageCount: r.pageCount };
      };

      /** One pdf-lib operation (all but split) from `from` to `out`, in the PDF child. */
      const applyOperation = (op: Exclude<DocumentOperation, { op: "split" }>, from: string, out: string): Promise<PdfWriteResult> => {
        switch (op.op) {
          case "merge": return mergePdfs([from, ...op.documentIds.map((id) => local.get(docs.get(id)!.key)!)], out, pdf);
          case "extractPages": return extractPages(from, op.pages, out, pdf);
          case "rotate": return rotatePages(from, op.pages ?? null, op.degrees, out, pdf);
          case "stampText": {
            const { op: _op, ...stamp } = op;
            return stampText(from, stamp, out, pdf);
          }
          case "stampImage": {
            const { op: _op, assetId, ...stamp } = op;
            return stampImage(from, local.get(images.get(assetId)!.key)!, stamp, out, pdf);
          }
          case "setMetadata": {
            const { op: _op, ...metadata } = op;
            return setMetadata(from, metadata, out, pdf);
          }
        }
      };

      for (const [i, op] of input.operations.entries()) {
        await stages.enter(names[i]!);
        const out = path.join(dir, `step-${String(i + 1).padStart(2, "0")}.pdf`);
        if (op.op === "split") {
          const count = pageCount ?? (await openPdfInfo(current, pdf)).pageCount;
          const ranges = splitParts(op, count);
          parts = [];
          for (const [k, pagesOf] of ranges.entries()) {
            const partOut = path.join(dir, `part-${String(k + 1).padStart(3, "0")}.pdf`);
            const r = written(await extractPages(current, pagesOf, partOut, pdf), partOut, `${names[i]} part ${k + 1}`);
            parts.push({ ...r, title: `${title} (part ${k + 1})` });
            stages.update((k + 1) / ranges.length);
          }
          continue;
        }
        const next = written(await applyOperation(op, current, out), out, names[i]!);
        // The previous step's file is not needed any more (the source is never touched).
        if (current.startsWith(dir + path.sep)) await rm(current, { force: true });
        current = next.file;
        pageCount = next.pageCount;
      }

      await stages.enter("store");
      const made = parts ?? [{ file: current, title, pageCount: pageCount! }];
      const ids = await storeDocuments(deps, job, ctx.attempt, made, { derivedFromId: input.documentId, tags: [...new Set(input.tags ?? [])] }, ctx.signal);
      return { documentIds: ids, pageCounts: made.map((p) => p.pageCount) };
    }, ctx.signal));
  },
});

/**
 * Uploads each part, then in one transaction fenced by the attempt deletes the Documents an
 * earlier attempt of this job made and inserts a Document and its SOURCE asset per part.
 * Returns the new Documents' ids, in the order of `parts`.
 */
async function storeDocuments(
  deps: MediaDeps, job: Job, attempt: number, parts: Part[], meta: { derivedFromId: string; tags: string[] }, signal: AbortSignal,
): Promise<string[]> {
  const uploaded: Array<{ assetId: string; key: string; size: number; sha256: string }> = [];
  try {
    for (const part of parts) {
      const assetId = randomUUID();
      const key = assetKey(job.organizationId, assetId);
      const { size } = await deps.assets.storage.putFile(key, part.file, { contentType: "application/pdf", signal });
      uploaded.push({ assetId, key, size, sha256: await sha256Of(part.file) });
    }
    const { ids, oldKeys } = await inTransaction(deps.pool, async (tx) => {
      await fenceAttempt(tx, job, attempt);
      const earlier = await tx.query<{ id: string }>(`select id from documents where created_by_job_id = $1 and organization_id = $2 for update`, [job.id, job.organizationId]);
      const earlierIds = earlier.rows.map((r) => r.id);
      let oldKeys: string[] = [];
      if (earlierIds.length > 0) {
        const old = await tx.query<{ key: string }>(`delete from assets where document_id = any($1::uuid[]) returning key`, [earlierIds]);
        await tx.query(`delete from documents where id = any($1::uuid[]) and organization_id = $2`, [earlierIds, job.organizationId]);
        oldKeys = old.rows.map((r) => r.key);
      }
      const ids: string[] = [];
      for (const [i, part] of parts.entries()) {
        const u = uploaded[i]!;
        let id: string;
        try {
          // Parts are 1 ms apart: listings ordered by creation time show them in part order.
          const { rows } = await tx.query<{ id: string }>(
            `insert into documents (organization_id, title, tags, page_count, created_by_job_id, derived_from_id, created_at, updated_at)
             values ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7::float8 / 1000), now() + make_interval(secs => $7::float8 / 1000)) returning id`,
            [job.organizationId, part.title, meta.tags, part.pageCount, job.id, meta.derivedFromId, i],
          );
          id = rows[0]!.id;
        } catch (err) {
          // The source Document was deleted while the job ran (the derived_from foreign key).
          if ((err as { code?: string }).code === "23503") throw new JobError("NOT_FOUND", `Document ${meta.derivedFromId} was deleted while the job ran.`);
          throw err;
        }
        await insertAsset(tx, { assetId: u.assetId, key: u.key, size: u.size, sha256: u.sha256, contentType: "application/pdf", kind: "PDF" }, {
          organizationId: job.organizationId, origin: "JOB_OUTPUT", jobId: job.id, documentId: id, role: "SOURCE", filename: `${slugOf(part.title)}.pdf`,
        });
        ids.push(id);
      }
      return { ids, oldKeys };
    });
    await deleteFiles(deps.assets, oldKeys);
    return ids;
  } catch (err) {
    await Promise.all(uploaded.map((u) => deps.assets.storage.delete(u.key).catch(() => undefined)));
    throw err;
  }
}
