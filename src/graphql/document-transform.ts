// document.transform as the typed mutation transformDocument: a list of operations, each a
// oneOf input (exactly one of merge, extractPages, rotate, stampText, stampImage,
// setMetadata, split), mapped onto the job type's input (validated when the job is enqueued;
// INVALID_INPUT names the field; a malformed or foreign id is NOT_FOUND as everywhere). Also the links between Documents and the jobs that made
// them: Document.derivedFrom, Document.createdByJob and Job.outputDocuments.
import { SpoolError } from "../errors.ts";
import { documentTransform, STAMP_ANCHORS } from "../processors/document-transform.ts";
import { submitItemJob } from "../services/items.ts";
import type { Builder } from "./builder.ts";
import { requireScope } from "./context.ts";
import type { addDocumentJobTypes } from "./document-jobs.ts";
import { withoutNulls } from "./without-nulls.ts";
import { idOf } from "./ids.ts";
import { JOB_WEBHOOK_URL, jobWebhookOption } from "./job/mutations.ts";

type Refs = Pick<ReturnType<typeof addDocumentJobTypes>, "DocumentJobPayload">;


type Position = { anchor?: string | null; point?: { x: number; y: number } | null } | null | undefined;
function positionOf(p: Position): unknown {
  if (!p) return undefined;
  return p.anchor ?? p.point ?? undefined;
}

export function addDocumentTransform(builder: Builder, refs: Refs) {
  const StampAnchor = builder.enumType("StampAnchor", {
    description: "Where a stamp goes on the page, 36 points from the edges it names.",
    values: Object.fromEntries(STAMP_ANCHORS.map((a) => [a.toUpperCase().replace(/-/g, "_"), { value: a, description: `The ${a.replace("-", " ")} of the page.` }])) as Record<string, { value: (typeof STAMP_ANCHORS)[number]; description: string }>,
  });
  const StampPoint = builder.inputType("StampPointInput", {
    description: "A stamp's top-left corner in PDF points (1/72 inch) from the top-left of the page.",
    fields: (t) => ({
      x: t.float({ required: true, description: "Points from the left edge." }),
      y: t.float({ required: true, description: "Points from the top edge." }),
    }),
  });
  const StampPosition = builder.inputType("StampPositionInput", {
    isOneOf: true,
    description: "Exactly one of anchor or point. Default (position not given): the center of the page.",
    fields: (t) => ({
      anchor: t.field({ type: StampAnchor, required: false, description: "A named place on the page." }),
      point: t.field({ type: StampPoint, required: false, description: "An exact place on the page." }),
    }),
  });
  const pagesField = (t: any) => t.intList({ required: false, description: "1-based page numbers; all pages when not given." });

  const Merge = builder.inputType("MergeOperationInput", {
    description: "Append other PDF Documents of yours, in this order.",
    fields: (t) => ({ documentIds: t.idList({ required: true, description: "1 to 50 PDF Documents." }) }),
  });
  const ExtractPages = builder.inputType("ExtractPagesOperationInput", {
    description: "Keep only these pages, in this order.",
    fields: (t) => ({ pages: t.intList({ required: true, description: "1-based page numbers (1 to 5000 of them); a page may repeat." }) }),
  });
  const Rotate = builder.inputType("RotateOperationInput", {
    description: "Turn pages clockwise, adding to their current rotation.",
    fields: (t) => ({
      degrees: t.int({ required: true, description: "A multiple of 90, from -360 to 360." }),
      pages: pagesField(t),
    }),
  });
  const StampText = builder.inputType("StampTextOperationInput", {
    description: "Draw text on pages, in Helvetica (Latin characters: WinAnsi).",
    fields: (t) => ({
      text: t.string({ required: true, description: "1 to 500 characters." }),
      fontSize: t.float({ required: false, description: "Points; default 24." }),
      color: t.string({ required: false, description: "#RRGGBB; default black." }),
      opacity: t.float({ required: false, description: "0..1; default 1." }),
      position: t.field({ type: StampPosition, required: false, description: "Default: the center of the page." }),
      pages: pagesField(t),
    }),
  });
  const StampImage = builder.inputType("StampImageOperationInput", {
    description: "Draw a PNG or JPEG image on pages.",
    fields: (t) => ({
      assetId: t.id({ required: true, description: "A PNG or JPEG Asset of yours (uploadAsset)." }),
      scale: t.float({ required: false, description: "1 (default) draws one image pixel per point." }),
      opacity: t.float({ required: false, description: "0..1; default 1." }),
      position: t.field({ type: StampPosition, required: false, description: "Default: the center of the page." }),
      pages: pagesField(t),
    }),
  });
  const SetMetadata = builder.inputType("SetMetadataOperationInput", {
    description: "Set fields of the PDF's document information (what readers show as its properties); fields not given are kept.",
    fields: (t) => ({
      title: t.string({ required: false, description: "The PDF's title." }),
      author: t.string({ required: false, description: "The PDF's author." }),
      subject: t.string({ required: false, description: "The PDF's subject." }),
      keywords: t.stringList({ required: false, description: "The PDF's keywords." }),
      creator: t.string({ required: false, description: "The application that made the original." }),
      producer: t.string({ required: false, description: "The application that wrote the PDF." }),
      creationDate: t.field({ type: "DateTime", required: false, description: "When the document was created." }),
      modificationDate: t.field({ type: "DateTime", required: false, description: "When the document was last changed." }),
    }),
  });
  const PageRange = builder.inputType("PageRangeInput", {
    description: "Pages from..to, 1-based and inclusive.",
    fields: (t) => ({
      from: t.int({ required: true, description: "First page (1-based)." }),
      to: t.int({ required: true, description: "Last page, included." }),
    }),
  });
  const Split = builder.inputType("SplitOperationInput", {
    description: "Only as the last operation: one new Document per part instead of one Document. Give exactly one of ranges or everyPages (at most 100 parts).",
    fields: (t) => ({
      ranges: t.field({ type: [PageRange], required: false, description: "One Document per range (1 to 100 ranges)." }),
      everyPages: t.int({ required: false, description: "One Document per this many pages (the last may have fewer)." }),
    }),
  });
  const Operation = builder.inputType("DocumentOperationInput", {
    isOneOf: true,
    description: "One step of a transform: exactly one field.",
    fields: (t) => ({
      merge: t.field({ type: Merge, required: false, description: "Append other PDF Documents." }),
      extractPages: t.field({ type: ExtractPages, required: false, description: "Keep chosen pages, in a chosen order." }),
      rotate: t.field({ type: Rotate, required: false, description: "Rotate pages." }),
      stampText: t.field({ type: StampText, required: false, description: "Draw text on pages." }),
      stampImage: t.field({ type: StampImage, required: false, description: "Draw an image on pages." }),
      setMetadata: t.field({ type: SetMetadata, required: false, description: "Set the PDF's properties." }),
      split: t.field({ type: Split, required: false, description: "Cut the result into several Documents (last operation only)." }),
    }),
  });
  const Input = builder.inputType("TransformDocumentInput", {
    description: "A PDF Document and the operations that make new Documents from it.",
    fields: (t) => ({
      documentId: t.id({ required: true, description: "The PDF Document to start from." }),
      operations: t.field({ type: [Operation], required: true, description: "1 to 20 operations, applied in order, each to the previous one's PDF." }),
      title: t.string({ required: false, description: "The new Document's title (1 to 300 characters); default: the source's title + \" (transformed)\". After a split each part adds \" (part i)\"." }),
      tags: t.stringList({ required: false, description: "Tags of the new Documents." }),
      idempotencyKey: t.string({ required: false, description: "Submitting again with the same key returns the first job." }),
      webhookUrl: t.string({ required: false, description: JOB_WEBHOOK_URL }),
    }),
  });

  type Op = Record<string, Record<string, any> | null | undefined>;
  /** One GraphQL operation as the job input's `{ op, … }`. */
  const operationOf = (o: Op, i: number): Record<string, unknown> => {
    const set = Object.entries(o).filter(([, v]) => v != null);
    // The oneOf rule makes this exactly one; kept as a guard for executors that skip it.
    if (set.length !== 1) throw new SpoolError("INVALID_INPUT", `operations.${i}: give exactly one operation (got ${set.length}).`);
    const [op, v] = set[0] as [string, Record<string, any>];
    switch (op) {
      case "merge":
        return { op, documentIds: (v.documentIds as Array<string | number>).map((id) => idOf("Document", id)) };
      case "stampImage":
        return withoutNulls({ op, ...v, assetId: idOf("Asset", v.assetId), position: positionOf(v.position) });
      case "stampText":
        return withoutNulls({ op, ...v, position: positionOf(v.position) });
      case "setMetadata":
        return withoutNulls({
          op, ...v,
          creationDate: v.creationDate ? (v.creationDate as Date).toISOString() : undefined,
          modificationDate: v.modificationDate ? (v.modificationDate as Date).toISOString() : undefined,
        });
      default:
        return withoutNulls({ op, ...v });
    }
  };

  builder.prismaObjectFields("Document", (t) => ({
    derivedFrom: t.relation("derivedFrom", {
      nullable: true,
      description: "The Document this one was made from (by a document.transform job); null for uploads, or once that Document is deleted.",
    }),
    createdByJob: t.relation("createdByJob", {
      nullable: true,
      description: "The document.transform job that made this Document; null for uploads.",
    }),
  }));
  builder.prismaObjectFields("Job", (t) => ({
    outputDocuments: t.relation("madeDocuments", {
      description: "The Documents this job made (document.transform), oldest first.",
      query: (_args, ctx) => ({
        where: { organizationId: requireScope(ctx, "assets:read").organizationId },
        orderBy: [{ createdAt: "asc" as const }, { id: "asc" as const }],
      }),
    }),
  }));

  builder.mutationFields((t) => ({
    [documentTransform.mutation.name]: t.field({
      type: refs.DocumentJobPayload,
      description: documentTransform.mutation.description,
      args: { input: t.arg({ type: Input, required: true }) },
      resolve: async (_r, { input }, ctx) => {
        const { organizationId } = requireScope(ctx, "jobs:write");
        const documentId = idOf("Document", input.documentId);
        const operations = (input.operations as Op[]).map(operationOf);
        const job = await submitItemJob(ctx.pool, ctx.registry, organizationId, {
          kind: "document", type: documentTransform.type, itemId: documentId, idempotencyKey: input.idempotencyKey ?? undefined, ...jobWebhookOption(ctx, input.webhookUrl),
          input: withoutNulls({ operations, title: input.title, tags: input.tags }),
        });
        return { jobId: job.id, documentId };
      },
    }),
  }));
}
