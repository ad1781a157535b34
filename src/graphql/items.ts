// Videos and Documents in GraphQL. Both have one shape (services/items.ts), so one function
// adds each: the node, the query and connection with filters, and create/update/delete
// mutations. A Video's or Document's status is derived, never stored: READY once it has a
// SOURCE asset, else PENDING or FAILED after its ingest job (inputUrl downloads).
import { encodeGlobalID } from "@pothos/plugin-relay";
import { SpoolError } from "../errors.ts";
import { createItem, deleteItem, updateItem, type ItemKind, type ItemSource } from "../services/items.ts";
import { fileStream, type AssetRefs } from "./asset.ts";
import { checkPage, type Builder } from "./builder.ts";
import { assetsOf, requireScope, type Context } from "./context.ts";
import { idOf } from "./ids.ts";
import type { JobRefs } from "./job/type.ts";

type Model = "Video" | "Document";
const MODEL: Record<ItemKind, Model> = { video: "Video", document: "Document" };
const STATUSES = ["PENDING", "READY", "FAILED"] as const;
type Status = (typeof STATUSES)[number];

type WithStatusParts = { assets: { id: string }[]; ingestJob: { status: string; error: unknown } | null };

function statusOf(item: WithStatusParts): Status {
  if (item.assets.length > 0) return "READY";
  if (item.ingestJob && (item.ingestJob.status === "QUEUED" || item.ingestJob.status === "RUNNING")) return "PENDING";
  return "FAILED";
}

/** The Prisma where-clause of each derived status. */
const STATUS_WHERE: Record<Status, object> = {
  READY: { assets: { some: { role: "SOURCE" } } },
  PENDING: { assets: { none: { role: "SOURCE" } }, ingestJob: { status: { in: ["QUEUED", "RUNNING"] } } },
  FAILED: { assets: { none: { role: "SOURCE" } }, OR: [{ ingestJobId: null }, { ingestJob: { status: { in: ["FAILED", "CANCELLED"] } } }] },
};

function statusEnum(builder: Builder) {
  return builder.enumType("ItemStatus", {
    description: "READY: the source is stored. PENDING: it is being downloaded (see ingestJob). FAILED: the download failed (see error).",
    values: STATUSES,
  });
}

export function addItemTypes(builder: Builder, refs: JobRefs & AssetRefs) {
  const ItemStatus = statusEnum(builder);
  for (const kind of ["video", "document"] as const) addItem(builder, kind, ItemStatus, refs);
}

function addItem(builder: Builder, kind: ItemKind, ItemStatus: ReturnType<typeof statusEnum>, refs: JobRefs & AssetRefs) {
  const Name = MODEL[kind];
  const delegate = (ctx: Context) => (kind === "video" ? ctx.prisma.video : ctx.prisma.document) as unknown as typeof ctx.prisma.video;
  const statusSelect = { assets: { where: { role: "SOURCE" }, select: { id: true } }, ingestJob: { select: { status: true, error: true } } };

  builder.prismaNode(Name as "Video", {
    id: { field: "id" },
    description: kind === "video" ? "A video or audio item: its source asset and, as jobs run, their outputs." : "A PDF or image document: its source asset and, as jobs run, their outputs.",
    findUnique: (id, ctx: Context) => ({ id, organizationId: requireScope(ctx, "assets:read").organizationId }),
    fields: (t) => ({
      title: t.exposeString("title"),
      description: t.exposeString("description", { nullable: true }),
      tags: t.exposeStringList("tags"),
      metadata: t.expose("metadata", { type: "JSON" }),
      createdAt: t.expose("createdAt", { type: "DateTime" }),
      updatedAt: t.expose("updatedAt", { type: "DateTime" }),
      status: t.field({ type: ItemStatus, select: statusSelect, resolve: (v) => statusOf(v as unknown as WithStatusParts) }),
      error: t.field({
        type: refs.JobErrorRef,
        nullable: true,
        description: "Why the source could not be stored (the ingest job's error), when FAILED.",
        select: statusSelect,
        resolve: (v) => {
          const parts = v as unknown as WithStatusParts;
          if (statusOf(parts) !== "FAILED") return null;
          if (parts.ingestJob?.status === "CANCELLED") return { code: "CANCELLED", message: "The download was cancelled." };
          return (parts.ingestJob?.error as { code: string; message: string } | null) ?? null;
        },
      }),
      source: t.field({
        type: refs.AssetRef,
        nullable: true,
        description: "The source file, once stored.",
        select: (_args, _ctx, nested) => ({ assets: nested({ where: { role: "SOURCE" }, take: 1 }) }),
        resolve: (v) => (v as unknown as { assets: never[] }).assets[0] ?? null,
      }),
      ingestJob: t.relation("ingestJob", { nullable: true, description: "The asset.ingest job downloading inputUrl." }),
      assets: t.relatedConnection("assets", {
        cursor: "id",
        totalCount: true,
        description: "Every file of this item: the source and the outputs of its jobs.",
        query: (args: { first?: number | null; last?: number | null }) => (checkPage(args), { orderBy: [{ createdAt: "asc" as const }, { id: "asc" as const }] }),
      }),
    }),
  });

  const Filter = builder.inputType(`${Name}Filter`, {
    fields: (t) => ({
      status: t.field({ type: [ItemStatus], required: false }),
      tags: t.stringList({ required: false, description: "Items carrying every one of these tags." }),
      search: t.string({ required: false, description: "Case-insensitive substring of the title." }),
      createdAfter: t.field({ type: "DateTime", required: false }),
      createdBefore: t.field({ type: "DateTime", required: false }),
    }),
  });

  type F = { status?: readonly string[] | null; tags?: readonly string[] | null; search?: string | null; createdAfter?: Date | null; createdBefore?: Date | null } | null | undefined;
  const where = (ctx: Context, f: F) => {
    const { organizationId } = requireScope(ctx, "assets:read");
    if ((f?.tags?.length ?? 0) > 20) throw new SpoolError("INVALID_INPUT", "filter.tags lists at most 20 tags.");
    if ((f?.search?.length ?? 0) > 200) throw new SpoolError("INVALID_INPUT", "filter.search is at most 200 characters.");
    return {
      organizationId,
      AND: [
        ...(f?.status?.length ? [{ OR: f.status.map((s) => STATUS_WHERE[s as Status]) }] : []),
        ...(f?.tags?.length ? [{ tags: { hasEvery: [...f.tags] } }] : []),
        ...(f?.search ? [{ title: { contains: f.search, mode: "insensitive" as const } }] : []),
        ...(f?.createdAfter ? [{ createdAt: { gt: f.createdAfter } }] : []),
        ...(f?.createdBefore ? [{ createdAt: { lt: f.createdBefore } }] : []),
      ],
    };
  };

  builder.queryFields((t) => ({
    [kind]: t.prismaField({
      type: Name as "Video",
      args: { id: t.arg.id({ required: true }) },
      resolve: async (query, _r, args, ctx) => {
        const { organizationId } = requireScope(ctx, "assets:read");
        const item = await delegate(ctx).findFirst({ ...query, where: { id: idOf(Name, args.id), organizationId } });
        if (!item) throw new SpoolError("NOT_FOUND", `No ${Name} ${args.id} in your organization.`);
        return item;
      },
    }),
    [`${kind}s`]: t.prismaConnection({
      type: Name as "Video",
      cursor: "id",
      args: { filter: t.arg({ type: Filter, required: false }) },
      totalCount: (_p, args, ctx) => (checkPage(args), delegate(ctx).count({ where: where(ctx, args.filter) as never })),
      resolve: (query, _r, args, ctx) => {
        checkPage(args);
        return delegate(ctx).findMany({ ...query, where: where(ctx, args.filter) as never, orderBy: [{ createdAt: "desc" }, { id: "desc" }] });
      },
    }, { name: `${Name}Connection` }, { name: `${Name}Edge` }),
  }));

  const CreateInput = builder.inputType(`Create${Name}Input`, {
    description: "Give exactly one of file, uploadId, assetId or inputUrl.",
    fields: (t) => ({
      title: t.string({ required: false, description: "Defaults to the file name." }),
      description: t.string({ required: false }),
      tags: t.stringList({ required: false }),
      metadata: t.field({ type: "JSON", required: false, description: "Your own key/values (at most 16 KB)." }),
      file: t.field({ type: "File", required: false, description: "A multipart upload (small files)." }),
      uploadId: t.string({ required: false, description: "A finished tus upload: its id or its URL." }),
      assetId: t.id({ required: false, description: "An Asset of yours that belongs to no Video or Document yet." }),
      inputUrl: t.string({ required: false, description: "An http(s) URL on a public address; Spool downloads it in an asset.ingest job." }),
    }),
  });
  const UpdateInput = builder.inputType(`Update${Name}Input`, {
    fields: (t) => ({
      id: t.id({ required: true }),
      title: t.string({ required: false }),
      description: t.string({ required: false }),
      tags: t.stringList({ required: false }),
      metadata: t.field({ type: "JSON", required: false }),
    }),
  });
  const DeleteInput = builder.inputType(`Delete${Name}Input`, { fields: (t) => ({ id: t.id({ required: true }) }) });
  const Payload = builder.objectRef<{ id: string }>(`${Name}Payload`).implement({
    fields: (t) => ({
      [kind]: t.prismaField({ type: Name as "Video", resolve: (query, p, _a, ctx) => delegate(ctx).findUniqueOrThrow({ ...query, where: { id: p.id } }) }),
    }),
  });
  const DeletePayload = builder.objectRef<{ id: string }>(`Delete${Name}Payload`).implement({
    fields: (t) => ({ deletedId: t.id({ resolve: (p) => encodeGlobalID(Name, p.id) }) }),
  });

  builder.mutationFields((t) => ({
    [`create${Name}`]: t.field({
      type: Payload,
      description: `Create a ${Name} from an upload, a finished tus upload, an existing asset or a URL.`,
      args: { input: t.arg({ type: CreateInput, required: true }) },
      resolve: async (_r, { input }, ctx) => {
        const { organizationId } = requireScope(ctx, "assets:write");
        const ways = (["file", "uploadId", "assetId", "inputUrl"] as const).filter((k) => input[k] != null);
        if (ways.length !== 1) throw new SpoolError("INVALID_INPUT", `Give exactly one of file, uploadId, assetId or inputUrl (got ${ways.length ? ways.join(", ") : "none"}).`);
        const source: ItemSource = input.file
          ? { file: { stream: fileStream(input.file), filename: input.file.name || null, size: input.file.size } }
          : input.uploadId != null ? { uploadId: input.uploadId }
          : input.assetId != null ? { assetId: idOf("Asset", input.assetId) }
          : { inputUrl: input.inputUrl! };
        const item = await createItem(assetsOf(ctx), ctx.pool, ctx.registry, kind, organizationId, {
          title: input.title ?? undefined, description: input.description, tags: input.tags ?? undefined,
          metadata: (input.metadata ?? undefined) as Record<string, unknown> | undefined, source,
        });
        return { id: item.id };
      },
    }),
    [`update${Name}`]: t.field({
      type: Payload,
      args: { input: t.arg({ type: UpdateInput, required: true }) },
      resolve: async (_r, { input }, ctx) => {
        const { organizationId } = requireScope(ctx, "assets:write");
        const item = await updateItem(ctx.pool, kind, organizationId, idOf(Name, input.id), {
          title: input.title ?? undefined,
          ...(input.description !== undefined ? { description: input.description } : {}),
          ...(input.tags != null ? { tags: input.tags } : {}),
          ...(input.metadata != null ? { metadata: input.metadata as Record<string, unknown> } : {}),
        });
        return { id: item.id };
      },
    }),
    [`delete${Name}`]: t.field({
      type: DeletePayload,
      description: `Delete a ${Name}, its assets and their stored files; a download in progress is cancelled.`,
      args: { input: t.arg({ type: DeleteInput, required: true }) },
      resolve: async (_r, { input }, ctx) => {
        const { organizationId } = requireScope(ctx, "assets:write");
        const item = await deleteItem(assetsOf(ctx), ctx.pool, kind, organizationId, idOf(Name, input.id));
        return { id: item.id };
      },
    }),
  }));
}
