// document.preview: chosen pages of a Document rendered to images. A PDF page is rendered by
// pdf.js in the PDF adapter's child process (memory, time and pixel limits); an image
// document is scaled by ffmpeg (its decoders run out of process too, demuxer forced). Each
// preview is an Asset of the Document (role PREVIEW, label page-N) with a signed URL.
import path from "node:path";
import { z } from "zod";
import { JobError } from "../errors.ts";
import { defineJobType, type Job, type JobContext } from "../engine/types.ts";
import type { AssetRow } from "../services/assets.ts";
import { demuxerFor } from "../tools/ffmpeg/demuxers.ts";
import { openPdfInfo, renderPage } from "../tools/pdf/pdf.ts";
import { IMAGE_ENCODERS, encoderFor } from "./media/inputs.ts";
import { imageDimensions, loadDocument } from "./documents/source.ts";
import { storeOutputs, type Output } from "./media/outputs.ts";
import { runStage, withWorkDir, type MediaDeps } from "./media/source.ts";
import { planOf, Stages } from "./media/stages.ts";

export const PREVIEW_FORMATS = ["png", "jpg", "webp"] as const;
export const PREVIEW_CONTENT_TYPES = { png: "image/png", jpg: "image/jpeg", webp: "image/webp" } as const;

export const previewInput = z.strictObject({
  documentId: z.uuid(),
  pages: z.array(z.number().int().min(1).max(100_000)).min(1).max(50).default([1]).describe("1-based page numbers"),
  width: z.number().int().min(16).max(4096).optional().describe("default 1024 when neither width nor height is given"),
  height: z.number().int().min(16).max(4096).optional(),
  format: z.enum(PREVIEW_FORMATS).default("png"),
  quality: z.number().int().min(1).max(100).default(85).describe("jpg and webp"),
});
type PreviewInput = z.infer<typeof previewInput>;
export type PreviewResult = { pageCount: number; previews: Array<{ page: number; assetId: string; width: number; height: number }> };


/** Shares of progress by stage (the definition's `stages`); render's is per page. */
const STAGES = { inspect: 1, render: 2, store: 1 };

export const documentPreview = defineJobType<MediaDeps, PreviewInput, PreviewResult>({
  type: "document.preview",
  description: "Chosen pages of a PDF (or an image document) rendered to png/jpg/webp at a width or height.",
  mutation: { name: "createDocumentPreviews", description: "Render chosen pages to images. Runs a document.preview job." },
  stages: STAGES,
  input: previewInput,
  timeoutMs: 30 * 60_000,
  async run(job: Job<PreviewInput>, ctx: JobContext, deps): Promise<PreviewResult> {
    const input = job.input;
    const source = await loadDocument(deps, job, input.documentId);
    const pages = [...new Set(input.pages)];
    const stages = new Stages(ctx, planOf(STAGES, ["inspect", ["render", pages.length], "store"]));
    const size = input.width === undefined && input.height === undefined ? { width: 1024 } : { width: input.width, height: input.height };
    return withWorkDir(job, ctx.attempt, (dir) => deps.assets.storage.withLocalFile(source.key, async (local) => {
      await stages.enter("inspect");
      let pageCount = 1;
      if (source.kind === "PDF") {
        pageCount = (await openPdfInfo(local, { signal: ctx.signal })).pageCount;
      }
      const beyond = pages.find((p) => p > pageCount);
      if (beyond !== undefined) throw new JobError("INVALID_INPUT", `Page ${beyond} does not exist: the document has ${pageCount} page${pageCount === 1 ? "" : "s"}.`);

      await stages.enter("render");
      const outputs: Output[] = [];
      const made: Array<{ page: number; width: number; height: number }> = [];
      for (const [i, page] of pages.entries()) {
        const out = path.join(dir, `page-${String(page).padStart(5, "0")}.${input.format}`);
        let dims: { width: number; height: number };
        if (source.kind === "PDF") {
          dims = await renderPage(local, page, { ...size, format: input.format, quality: input.quality, out, signal: ctx.signal });
        } else {
          dims = await scaleImage(deps, ctx, stages, source, local, out, size, input);
        }
        ctx.logLine(`page ${page}: ${dims.width}×${dims.height}`);
        made.push({ page, ...dims });
        const media = await deps.ffmpeg.probe(out, { format: demuxerFor(PREVIEW_CONTENT_TYPES[input.format]) ?? undefined, signal: ctx.signal });
        outputs.push({ file: out, role: "PREVIEW", label: `page-${page}`, filename: path.basename(out), contentType: PREVIEW_CONTENT_TYPES[input.format], kind: "IMAGE", media });
        stages.update((i + 1) / pages.length);
      }

      await stages.enter("store");
      const rows = await storeOutputs(deps, job, ctx.attempt, { documentId: input.documentId }, outputs, ctx.signal);
      return { pageCount, previews: made.map((m, i) => ({ ...m, assetId: rows[i]!.id })) };
    }, ctx.signal));
  },
});

/** An image document's preview: ffmpeg scales it (aspect kept) and writes the format asked. */
export async function scaleImage(
  deps: MediaDeps, ctx: JobContext, stages: Stages, source: AssetRow, local: string, out: string,
  size: { width?: number; height?: number }, input: Pick<PreviewInput, "format" | "quality">,
): Promise<{ width: number; height: number }> {
  const format = demuxerFor(source.content_type);
  if (!format) throw new JobError("INVALID_INPUT", `Cannot preview a ${source.content_type} document.`);
  await imageDimensions(local);
  const encoder = encoderFor(IMAGE_ENCODERS, input.format, deps.ffmpeg.capabilities);
  if (!encoder) throw new JobError("INVALID_INPUT", `This server cannot write ${input.format} previews.`);
  const scale = size.width && size.height
    ? `scale=${size.width}:${size.height}:force_original_aspect_ratio=decrease`
    : size.width ? `scale=${size.width}:-2` : `scale=-2:${size.height}`;
  const quality = input.format === "jpg" ? ["-q:v", String(Math.round(31 - (input.quality / 100) * 29))] : input.format === "webp" ? ["-quality", String(input.quality)] : [];
  await runStage(deps, ctx, stages, {
    inputs: [{ path: local, format }],
    outputs: [{ path: out, args: ["-map", "0:v:0", "-vf", scale, "-frames:v", "1", "-c:v", encoder, ...quality, "-f", "image2", "-update", "1"] }],
  }, { durationSec: null, maxOutputBytes: deps.assets.limits.documentBytes });
  const info = await deps.ffmpeg.probe(out, { format: demuxerFor(PREVIEW_CONTENT_TYPES[input.format]) ?? undefined, signal: ctx.signal });
  if (!info.video) throw new JobError("DOCUMENT_CORRUPTED", "The image could not be decoded.");
  return { width: info.video.width, height: info.video.height };
}
