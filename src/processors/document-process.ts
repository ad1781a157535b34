// document.process: a PDF or an image turned into what an integration wants to keep — plain
// text, Markdown and HTML (headings, paragraphs and lists recovered from the positioned words,
// whether they came from the text layer or OCR), page previews and, when asked, the images
// embedded in the PDF. The per-page text is stored on the Document as document.extractText does.
// Progress: inspect → text → ocr (page by page) → assemble → preview → images → store.
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { defineJobType, type Job, type JobContext } from "../engine/types.ts";
import type { AssetRow } from "../services/assets.ts";
import { demuxerFor } from "../tools/ffmpeg/demuxers.ts";
import { extractImages, renderPages } from "../tools/pdf/pdf.ts";
import { PREVIEW_CONTENT_TYPES, PREVIEW_FORMATS, scaleImage } from "./document-preview.ts";
import { loadDocument } from "./documents/source.ts";
import { ocrLanguage, ocrMode } from "./documents/inputs.ts";
import { analyzeLayout, toHtml, toMarkdown, toText } from "./documents/layout.ts";
import { savePages } from "./documents/pages.ts";
import { readDocument, READ_SHARE, summaryOf, type DocumentDeps, type ReadResult, type ReadSummary } from "./documents/read.ts";
import { storeOutputs, type Output } from "./media/outputs.ts";
import { withWorkDir } from "./media/source.ts";
import { planOf, Stages } from "./media/stages.ts";

const OUTPUTS = ["text", "markdown", "html", "preview"] as const;
type OutputKind = (typeof OUTPUTS)[number];
/** Embedded images kept per job; more is a sign of a scan-per-page PDF, already in the previews. */
const MAX_EXTRACTED_IMAGES = 200;

export const processInput = z.strictObject({
  documentId: z.uuid(),
  outputs: z.array(z.enum(OUTPUTS)).min(1).max(OUTPUTS.length).default(["text", "markdown", "html", "preview"]),
  ocr: ocrMode,
  language: ocrLanguage,
  extractImages: z.boolean().default(false),
  preserveFormatting: z.boolean().default(false).describe("keep the page's line breaks and spacing instead of reflowing paragraphs"),
  previewPages: z.number().int().min(1).max(200).default(20).describe("previews of the first N pages"),
  previewWidth: z.number().int().min(16).max(4096).default(1024),
  previewFormat: z.enum(PREVIEW_FORMATS).default("png"),
});
type ProcessInput = z.infer<typeof processInput>;
export type ProcessResult = ReadSummary & {
  outputs: Array<{ role: string; assetId: string; label: string | null }>;
  imagesTruncated: boolean;
};

const TEXT_OUTPUTS = {
  text: { role: "TEXT", ext: "txt", contentType: "text/plain; charset=utf-8" },
  markdown: { role: "MARKDOWN", ext: "md", contentType: "text/markdown; charset=utf-8" },
  html: { role: "HTML", ext: "html", contentType: "text/html; charset=utf-8" },
} as const;

/** Shares of progress by stage (the definition's `stages`); reading is READ_SHARE of the whole. */
const STAGES = { read: 100 * READ_SHARE, assemble: 2, preview: 5, images: 2, store: 1 };

export const documentProcess = defineJobType<DocumentDeps, ProcessInput, ProcessResult>({
  type: "document.process",
  description: "A PDF or image to text, Markdown, HTML and page previews (OCR where there is no text layer), optionally with its embedded images.",
  mutation: { name: "processDocument", description: "Text, Markdown, HTML and previews of a PDF or image, with OCR where there is no text layer. Runs a document.process job; progress per page." },
  stages: STAGES,
  input: processInput,
  timeoutMs: 60 * 60_000,
  async run(job: Job<ProcessInput>, ctx: JobContext, deps): Promise<ProcessResult> {
    const input = job.input;
    const wants = new Set<OutputKind>(input.outputs);
    const source = await loadDocument(deps, job, input.documentId);
    const images = input.extractImages && source.kind === "PDF";
    // Reading is READ_SHARE of the progress; the stages below share the rest.
    const stages = new Stages(ctx, planOf(STAGES, ["read", "assemble", wants.has("preview") && "preview", images && "images", "store"]));
    return withWorkDir(job, ctx.attempt, (dir) => deps.assets.storage.withLocalFile(source.key, async (local) => {
      const read = await readDocument(deps, ctx, { source, local, dir, ocr: input.ocr, language: input.language });
      const base = baseName(source);
      const outputs: Output[] = [];

      await stages.enter("assemble");
      const layout = analyzeLayout(read.pages);
      const title = read.properties?.title || source.filename || "Document";
      const rendered: Record<keyof typeof TEXT_OUTPUTS, () => string> = {
        text: () => toText(layout, { preserveFormatting: input.preserveFormatting }),
        markdown: () => toMarkdown(layout, { preserveFormatting: input.preserveFormatting }),
        html: () => toHtml(layout, { title, preserveFormatting: input.preserveFormatting, lang: htmlLang(read) }),
      };
      for (const kind of ["text", "markdown", "html"] as const) {
        if (!wants.has(kind)) continue;
        const spec = TEXT_OUTPUTS[kind];
        const file = path.join(dir, `${base}.${spec.ext}`);
        await writeFile(file, rendered[kind]());
        outputs.push({ file, role: spec.role, filename: path.basename(file), contentType: spec.contentType, kind: "TEXT" });
      }

      if (wants.has("preview")) {
        await stages.enter("preview");
        outputs.push(...await previews(deps, ctx, stages, source, local, dir, read, input));
      }

      let imagesTruncated = false;
      if (images) {
        await stages.enter("images");
        const found = await extractImages(local, {
          outDir: path.join(dir, "images"), maxImages: MAX_EXTRACTED_IMAGES, signal: ctx.signal,
          limits: { maxPages: deps.assets.limits.documentPages },
          onPage: (page) => stages.update(page / read.pageCount, { pagesDone: page, pageCount: read.pageCount }),
        });
        imagesTruncated = found.truncated;
        if (found.truncated) ctx.logLine(`more than ${MAX_EXTRACTED_IMAGES} embedded images: the first ${MAX_EXTRACTED_IMAGES} are kept`, "warn");
        for (const img of found.images) {
          outputs.push({
            file: img.file, role: "IMAGE", label: `page-${img.page}-image-${img.index}`, filename: path.basename(img.file),
            contentType: "image/png", kind: "IMAGE", media: await deps.ffmpeg.probe(img.file, { format: demuxerFor("image/png") ?? undefined, signal: ctx.signal }),
          });
        }
      }

      await stages.enter("store");
      await savePages(deps, job, ctx.attempt, input.documentId, read);
      const rows = await storeOutputs(deps, job, ctx.attempt, { documentId: input.documentId }, outputs, ctx.signal);
      return {
        ...summaryOf(read),
        outputs: rows.map((r) => ({ role: r.role!, assetId: r.id, label: r.label })),
        imagesTruncated,
      };
    }, ctx.signal));
  },
});

/** Previews of the first `previewPages` pages: pdf.js in one child for a PDF, ffmpeg for an image. */
async function previews(
  deps: DocumentDeps, ctx: JobContext, stages: Stages, source: AssetRow, local: string, dir: string, read: ReadResult, input: ProcessInput,
): Promise<Output[]> {
  const format = input.previewFormat;
  const contentType = PREVIEW_CONTENT_TYPES[format];
  const made: Array<{ page: number; file: string }> = [];
  if (source.kind === "PDF") {
    const pages = read.pages.slice(0, input.previewPages).map((p) => p.page);
    const done = await renderPages(local, pages, {
      width: input.previewWidth, format, outDir: path.join(dir, "previews"), signal: ctx.signal,
      limits: { maxPages: deps.assets.limits.documentPages },
      onPage: (page) => stages.update(page / pages.length, { pagesDone: page, pageCount: pages.length }),
    });
    made.push(...done.map((r) => ({ page: r.page, file: r.file })));
  } else {
    const file = path.join(dir, `page-00001.${format}`);
    await scaleImage(deps, ctx, stages, source, local, file, { width: input.previewWidth }, { format, quality: 85 });
    made.push({ page: 1, file });
  }
  const out: Output[] = [];
  for (const m of made) {
    const media = await deps.ffmpeg.probe(m.file, { format: demuxerFor(contentType) ?? undefined, signal: ctx.signal });
    out.push({ file: m.file, role: "PREVIEW", label: `page-${m.page}`, filename: path.basename(m.file), contentType, kind: "IMAGE", media });
  }
  return out;
}

/** The source's file name without extension, safe as a file name ("scan.pdf" → "scan"). */
function baseName(source: AssetRow): string {
  const stem = (source.filename ?? "document").replace(/\.[^.]*$/, "").replace(/[^\p{L}\p{N}._ -]+/gu, "_").trim().slice(0, 100);
  return stem || "document";
}

/** The html lang attribute: ISO 639-1 where franc's code has one we know, else "und" (undetermined). */
function htmlLang(read: ReadResult): string {
  const map: Record<string, string> = { eng: "en", fra: "fr", deu: "de", spa: "es", ita: "it", por: "pt", nld: "nl", rus: "ru", cmn: "zh", jpn: "ja", pol: "pl", swe: "sv", tur: "tr" };
  return (read.language ? map[read.language] : undefined) ?? "und";
}
