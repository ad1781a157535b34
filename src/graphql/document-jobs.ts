// Document jobs as typed mutations; each maps onto its job type's input (validated when the
// job is enqueued) and returns the job to watch and the Document. What they produce lands on
// the Document: previews, text/Markdown/HTML outputs, the text of each page, page count and
// the file's properties.
import type { StoredWord } from "../processors/documents/pages.ts";
import { documentExtractText } from "../processors/document-extract-text.ts";
import { documentPreview } from "../processors/document-preview.ts";
import { documentProcess } from "../processors/document-process.ts";
import { submitItemJob } from "../services/items.ts";
import type { PdfInfo } from "../tools/pdf/types.ts";
import type { Builder } from "./builder.ts";
import { requireScope } from "./context.ts";
import { withoutNulls } from "./without-nulls.ts";
import { idOf } from "./ids.ts";
import { JOB_WEBHOOK_URL, jobWebhookOption } from "./job/mutations.ts";

export type DocumentJobPayload = { jobId: string; documentId: string };
type DocumentProperties = Partial<PdfInfo["metadata"]>;


function dateOrNull(v: string | null | undefined): Date | null {
  const d = v ? new Date(v) : null;
  return d && !Number.isNaN(d.getTime()) ? d : null;
}

export function addDocumentJobTypes(builder: Builder) {
  const PreviewFormat = builder.enumType("PreviewFormat", {
    values: { PNG: { value: "png" as const }, JPG: { value: "jpg" as const }, WEBP: { value: "webp" as const } },
  });
  const Input = builder.inputType("CreateDocumentPreviewsInput", {
    fields: (t) => ({
      documentId: t.id({ required: true }),
      pages: t.intList({ required: false, description: "1-based page numbers (at most 50); default [1]." }),
      width: t.int({ required: false, description: "Pixels; 1024 when neither width nor height is given." }),
      height: t.int({ required: false }),
      format: t.field({ type: PreviewFormat, required: false }),
      quality: t.int({ required: false, description: "1..100, for JPG and WEBP." }),
      idempotencyKey: t.string({ required: false }),
      webhookUrl: t.string({ required: false, description: JOB_WEBHOOK_URL }),
    }),
  });
  const Payload = builder.objectRef<DocumentJobPayload>("DocumentJobPayload").implement({
    fields: (t) => ({
      job: t.prismaField({ type: "Job", resolve: (query, p, _a, ctx) => ctx.prisma.job.findUniqueOrThrow({ ...query, where: { id: p.jobId } }) }),
      document: t.prismaField({ type: "Document", resolve: (query, p, _a, ctx) => ctx.prisma.document.findUniqueOrThrow({ ...query, where: { id: p.documentId } }) }),
    }),
  });

  const OutputFormat = builder.enumType("DocumentOutputFormat", {
    values: {
      TEXT: { value: "text" as const, description: "Plain text; pages separated by a form feed." },
      MARKDOWN: { value: "markdown" as const, description: "Headings, paragraphs and lists where the source has them." },
      HTML: { value: "html" as const, description: "A standalone HTML page, one <section> per page." },
      PREVIEW: { value: "preview" as const, description: "Images of the first pages." },
    },
  });
  const OutputRole = builder.enumType("DocumentOutputRole", {
    values: ["TEXT", "MARKDOWN", "HTML", "IMAGE"] as const,
    description: "What a document.process output is: a text format, or an image embedded in the PDF.",
  });
  const PageSource = builder.enumType("PageTextSource", {
    values: {
      TEXT_LAYER: { description: "The PDF's own text." },
      OCR: { description: "Recognised from the page image." },
      NONE: { description: "No text layer, and OCR was off." },
    },
  });
  const OCR_ENABLED = "Unset (default): OCR only the pages without a text layer. true: OCR every page. false: never OCR.";
  const ocrOf = (v: boolean | null | undefined) => (v == null ? undefined : v ? "always" : "never");

  const Properties = builder.objectRef<DocumentProperties>("DocumentProperties").implement({
    description: "What the file says about itself (the PDF information dictionary); null fields are absent from it.",
    fields: (t) => ({
      title: t.string({ nullable: true, resolve: (p) => p.title ?? null }),
      author: t.string({ nullable: true, resolve: (p) => p.author ?? null }),
      subject: t.string({ nullable: true, resolve: (p) => p.subject ?? null }),
      creator: t.string({ nullable: true, description: "The application that made the original.", resolve: (p) => p.creator ?? null }),
      producer: t.string({ nullable: true, description: "The application that wrote the PDF.", resolve: (p) => p.producer ?? null }),
      createdAt: t.field({ type: "DateTime", nullable: true, resolve: (p) => dateOrNull(p.creationDate) }),
      modifiedAt: t.field({ type: "DateTime", nullable: true, resolve: (p) => dateOrNull(p.modificationDate) }),
    }),
  });
  const Word = builder.objectRef<StoredWord>("PageWord").implement({
    description: "A word and its box in PDF points from the page's top-left (pixels for an image document).",
    fields: (t) => ({
      text: t.string({ resolve: (w) => w[0] }),
      x: t.float({ resolve: (w) => w[1] }),
      y: t.float({ resolve: (w) => w[2] }),
      width: t.float({ resolve: (w) => w[3] }),
      height: t.float({ resolve: (w) => w[4] }),
      confidence: t.float({ nullable: true, description: "OCR confidence 0..100; null for text-layer words.", resolve: (w) => w[5] ?? null }),
    }),
  });
  builder.prismaObject("DocumentPage", {
    description: "The text of one page, from the last document.extractText or document.process job.",
    fields: (t) => ({
      number: t.exposeInt("page", { description: "1-based." }),
      width: t.exposeFloat("width", { description: "PDF points (pixels for an image document)." }),
      height: t.exposeFloat("height"),
      text: t.exposeString("text"),
      source: t.field({ type: PageSource, resolve: (p) => p.source as "TEXT_LAYER" | "OCR" | "NONE" }),
      confidence: t.exposeFloat("confidence", { nullable: true, description: "Mean OCR word confidence 0..100; null for text-layer pages." }),
      wordCount: t.exposeInt("wordCount"),
      words: t.field({ type: [Word], description: "Word boxes, in reading order, for highlighting.", resolve: (p) => p.words as StoredWord[] }),
    }),
  });

  builder.prismaObjectFields("Document", (t) => ({
    previews: t.relation("assets", {
      description: "Rendered pages (label page-N), from document.preview and document.process jobs.",
      query: { where: { role: "PREVIEW" }, orderBy: [{ createdAt: "asc" as const }, { filename: "asc" as const }] },
    }),
    outputs: t.relation("assets", {
      description: "Text, Markdown and HTML outputs and extracted images (label page-N-image-M) of document.process jobs, newest first.",
      args: { roles: t.arg({ type: [OutputRole], required: false }) },
      query: (args) => ({
        where: { role: { in: args.roles?.length ? [...args.roles] : ["TEXT", "MARKDOWN", "HTML", "IMAGE"] } },
        orderBy: [{ createdAt: "desc" as const }, { label: "asc" as const }],
      }),
    }),
    pageCount: t.exposeInt("pageCount", { nullable: true, description: "Null until a document job has read the file." }),
    properties: t.field({ type: Properties, nullable: true, description: "Title, author, dates… as the file states them; null until a document job has read it.", resolve: (d) => (d.properties as DocumentProperties | null) ?? null }),
    language: t.exposeString("language", { nullable: true, description: "ISO 639-3 code detected from the extracted text (eng, fra, …)." }),
    wordCount: t.exposeInt("wordCount", { nullable: true }),
    textJob: t.relation("textJob", { nullable: true, description: "The job whose text Document.pages holds." }),
    pages: t.relation("pages", {
      description: "The text of each page with its source, confidence and word boxes: `limit` pages (at most 500) from page `from`.",
      args: { from: t.arg.int({ required: false, defaultValue: 1 }), limit: t.arg.int({ required: false, defaultValue: 50 }) },
      query: (args) => ({
        where: { page: { gte: Math.max(1, args.from ?? 1) } },
        orderBy: { page: "asc" as const },
        take: Math.min(500, Math.max(0, args.limit ?? 50)),
      }),
    }),
  }));

  const ProcessInput = builder.inputType("ProcessDocumentInput", {
    fields: (t) => ({
      documentId: t.id({ required: true }),
      outputs: t.field({ type: [OutputFormat], required: false, description: "Default: all four." }),
      ocrEnabled: t.boolean({ required: false, description: OCR_ENABLED }),
      language: t.string({ required: false, description: "Tesseract language code of the OCR data to use (default eng; see the README for others)." }),
      extractImages: t.boolean({ required: false, description: "Also store the raster images embedded in the PDF (role IMAGE). Default false." }),
      preserveFormatting: t.boolean({ required: false, description: "Keep the page's line breaks and spacing instead of reflowing paragraphs. Default false." }),
      previewPages: t.int({ required: false, description: "Previews of the first N pages (1..200, default 20)." }),
      previewWidth: t.int({ required: false, description: "Pixels, default 1024." }),
      previewFormat: t.field({ type: PreviewFormat, required: false }),
      idempotencyKey: t.string({ required: false }),
      webhookUrl: t.string({ required: false, description: JOB_WEBHOOK_URL }),
    }),
  });
  const ExtractInput = builder.inputType("ExtractDocumentTextInput", {
    fields: (t) => ({
      documentId: t.id({ required: true }),
      ocrEnabled: t.boolean({ required: false, description: OCR_ENABLED }),
      language: t.string({ required: false, description: "Tesseract language code (default eng)." }),
      idempotencyKey: t.string({ required: false }),
      webhookUrl: t.string({ required: false, description: JOB_WEBHOOK_URL }),
    }),
  });

  builder.mutationFields((t) => ({
    [documentProcess.mutation.name]: t.field({
      type: Payload,
      description: documentProcess.mutation.description,
      args: { input: t.arg({ type: ProcessInput, required: true }) },
      resolve: async (_r, { input }, ctx) => {
        const { organizationId } = requireScope(ctx, "jobs:write");
        const documentId = idOf("Document", input.documentId);
        const job = await submitItemJob(ctx.pool, ctx.registry, organizationId, {
          kind: "document", type: documentProcess.type, itemId: documentId, idempotencyKey: input.idempotencyKey ?? undefined, ...jobWebhookOption(ctx, input.webhookUrl),
          input: withoutNulls({
            outputs: input.outputs, ocr: ocrOf(input.ocrEnabled), language: input.language, extractImages: input.extractImages,
            preserveFormatting: input.preserveFormatting, previewPages: input.previewPages, previewWidth: input.previewWidth, previewFormat: input.previewFormat,
          }),
        });
        return { jobId: job.id, documentId };
      },
    }),
    [documentExtractText.mutation.name]: t.field({
      type: Payload,
      description: documentExtractText.mutation.description,
      args: { input: t.arg({ type: ExtractInput, required: true }) },
      resolve: async (_r, { input }, ctx) => {
        const { organizationId } = requireScope(ctx, "jobs:write");
        const documentId = idOf("Document", input.documentId);
        const job = await submitItemJob(ctx.pool, ctx.registry, organizationId, {
          kind: "document", type: documentExtractText.type, itemId: documentId, idempotencyKey: input.idempotencyKey ?? undefined, ...jobWebhookOption(ctx, input.webhookUrl),
          input: withoutNulls({ ocr: ocrOf(input.ocrEnabled), language: input.language }),
        });
        return { jobId: job.id, documentId };
      },
    }),
    [documentPreview.mutation.name]: t.field({
      type: Payload,
      description: documentPreview.mutation.description,
      args: { input: t.arg({ type: Input, required: true }) },
      resolve: async (_r, { input }, ctx) => {
        const { organizationId } = requireScope(ctx, "jobs:write");
        const documentId = idOf("Document", input.documentId);
        const job = await submitItemJob(ctx.pool, ctx.registry, organizationId, {
          kind: "document", type: documentPreview.type, itemId: documentId, idempotencyKey: input.idempotencyKey ?? undefined, ...jobWebhookOption(ctx, input.webhookUrl),
          input: withoutNulls({ pages: input.pages, width: input.width, height: input.height, format: input.format, quality: input.quality }),
        });
        return { jobId: job.id, documentId };
      },
    }),
  }));
  return { DocumentJobPayload: Payload };
}
