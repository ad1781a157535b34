// document.extractText: the text of every page with where it came from (text layer or OCR),
// OCR confidence and word boxes, stored on the Document (Document.pages) for reading and,
// later, search highlighting. OCR runs only on pages without a text layer unless asked.
import { z } from "zod";
import { defineJobType, type Job, type JobContext } from "../engine/types.ts";
import { loadDocument } from "./documents/source.ts";
import { ocrLanguage, ocrMode } from "./documents/inputs.ts";
import { savePages } from "./documents/pages.ts";
import { readDocument, READ_SHARE, summaryOf, type DocumentDeps, type PageSource, type ReadSummary } from "./documents/read.ts";
import { withWorkDir } from "./media/source.ts";

export const extractTextInput = z.strictObject({
  documentId: z.uuid(),
  ocr: ocrMode,
  language: ocrLanguage,
});
type ExtractTextInput = z.infer<typeof extractTextInput>;
export type ExtractTextResult = ReadSummary & {
  pages: Array<{ page: number; source: PageSource; confidence: number | null; wordCount: number }>;
};

export const documentExtractText = defineJobType<DocumentDeps, ExtractTextInput, ExtractTextResult>({
  type: "document.extractText",
  description: "Text of every page (text layer, OCR where there is none), with OCR confidence and word boxes, stored on the Document.",
  mutation: { name: "extractDocumentText", description: "The text of every page with OCR confidence and word boxes, stored on Document.pages. Runs a document.extractText job." },
  input: extractTextInput,
  timeoutMs: 60 * 60_000,
  async run(job: Job<ExtractTextInput>, ctx: JobContext, deps): Promise<ExtractTextResult> {
    const { documentId, ocr, language } = job.input;
    const source = await loadDocument(deps, job, documentId);
    return withWorkDir(job, ctx.attempt, (dir) => deps.assets.storage.withLocalFile(source.key, async (local) => {
      const read = await readDocument(deps, ctx, { source, local, dir, ocr, language });
      await ctx.stage("store");
      ctx.progress(READ_SHARE);
      await savePages(deps, job, ctx.attempt, documentId, read);
      return {
        ...summaryOf(read),
        // Per-page summary only; the text and boxes are on Document.pages.
        pages: read.pages.slice(0, 1000).map((p) => ({ page: p.page, source: p.source, confidence: p.confidence, wordCount: p.wordCount })),
      };
    }, ctx.signal));
  },
});
