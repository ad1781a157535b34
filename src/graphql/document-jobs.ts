// Document jobs as typed mutations; each maps onto its job type's input (validated when the
// job is enqueued) and returns the job to watch and the Document. Previews land on
// Document.previews.
import { submitItemJob } from "../services/items.ts";
import type { Builder } from "./builder.ts";
import { requireScope } from "./context.ts";
import { idOf } from "./ids.ts";

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
    }),
  });
  const Payload = builder.objectRef<{ jobId: string; documentId: string }>("DocumentJobPayload").implement({
    fields: (t) => ({
      job: t.prismaField({ type: "Job", resolve: (query, p, _a, ctx) => ctx.prisma.job.findUniqueOrThrow({ ...query, where: { id: p.jobId } }) }),
      document: t.prismaField({ type: "Document", resolve: (query, p, _a, ctx) => ctx.prisma.document.findUniqueOrThrow({ ...query, where: { id: p.documentId } }) }),
    }),
  });

  builder.prismaObjectFields("Document", (t) => ({
    previews: t.relation("assets", {
      description: "Rendered pages (label page-N), from document.preview jobs.",
      query: { where: { role: "PREVIEW" }, orderBy: [{ createdAt: "asc" as const }, { filename: "asc" as const }] },
    }),
  }));

  builder.mutationFields((t) => ({
    createDocumentPreviews: t.field({
      type: Payload,
      description: "Render chosen pages to images. Runs a document.preview job.",
      args: { input: t.arg({ type: Input, required: true }) },
      resolve: async (_r, { input }, ctx) => {
        const { organizationId } = requireScope(ctx, "jobs:write");
        const documentId = idOf("Document", input.documentId);
        const job = await submitItemJob(ctx.pool, ctx.registry, organizationId, {
          kind: "document", type: "document.preview", itemId: documentId, idempotencyKey: input.idempotencyKey ?? undefined,
          input: Object.fromEntries(Object.entries({ pages: input.pages, width: input.width, height: input.height, format: input.format, quality: input.quality }).filter(([, v]) => v != null)),
        });
        return { jobId: job.id, documentId };
      },
    }),
  }));
}
