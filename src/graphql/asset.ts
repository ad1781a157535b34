// Assets in GraphQL: the Asset node with its signed download URL, the assets connection,
// uploadAsset (multipart) and deleteAsset. Every read is scoped to the caller's
// organization; a signed URL is only made for an asset the caller can read.
import { encodeGlobalID } from "@pothos/plugin-relay";
import { Readable } from "node:stream";
import { SpoolError } from "../errors.ts";
import { deleteAsset, ingest, insertAsset, packageOf } from "../services/assets.ts";
import { MAX_EXPIRES_IN, signedFilePath } from "../services/files.ts";
import type { MediaInfo } from "../tools/ffmpeg/media-info.ts";
import { checkPage, type Builder } from "./builder.ts";
import { assetsOf, requireScope, type Context } from "./context.ts";
import { idOf } from "./ids.ts";

/** A multipart File as a Node stream. yoga's File is its own ponyfill class, not Node's, but async-iterable. */
export function fileStream(file: File): Readable {
  return Readable.from(file.stream() as unknown as AsyncIterable<Uint8Array>, { objectMode: false });
}

export function addAssetTypes(builder: Builder) {
  const AssetKind = builder.enumType("AssetKind", {
    description: "What the bytes are: detected from the content of uploads; TEXT for the text, Markdown and HTML outputs of document jobs.",
    values: ["VIDEO", "AUDIO", "IMAGE", "PDF", "CAPTIONS", "TEXT"] as const,
  });
  const AssetOrigin = builder.enumType("AssetOrigin", { values: ["UPLOAD", "URL", "JOB_OUTPUT"] as const });
  const Disposition = builder.enumType("FileDisposition", {
    values: { ATTACHMENT: { value: "attachment" as const, description: "Browsers download it." }, INLINE: { value: "inline" as const, description: "Browsers show or play it." } },
  });

  const MediaInfoRef = addMediaInfoType(builder);

  const AssetRef = builder.prismaNode("Asset", {
    id: { field: "id" },
    description: "A stored file: a source upload or download, or a job's output.",
    findUnique: (id, ctx: Context) => ({ id, organizationId: requireScope(ctx, "assets:read").organizationId }),
    fields: (t) => ({
      kind: t.field({ type: AssetKind, resolve: (a) => a.kind }),
      contentType: t.exposeString("contentType", { description: "Detected from the bytes." }),
      size: t.field({ type: "SafeInt", description: "Bytes.", resolve: (a) => Number(a.size) }),
      sha256: t.exposeString("sha256", { description: "Hex digest of the stored bytes." }),
      filename: t.exposeString("filename", { nullable: true }),
      origin: t.field({ type: AssetOrigin, resolve: (a) => a.origin }),
      sourceUrl: t.exposeString("sourceUrl", { nullable: true, description: "The URL it was downloaded from (after redirects), for origin URL." }),
      role: t.exposeString("role", { nullable: true, description: "What it is to its Video or Document: SOURCE, RENDITION, THUMBNAIL, STORYBOARD (the WebVTT track), STORYBOARD_SPRITE (one sprite sheet of it), HLS, DASH, AUDIO, PREVIEW, TEXT, MARKDOWN, HTML, IMAGE (an image embedded in a document)." }),
      label: t.exposeString("label", { nullable: true, description: "Tells outputs of one role apart: 720p-h264-mp4, t=12.500, hls, …" }),
      media: t.field({ type: MediaInfoRef, nullable: true, description: "What ffprobe says of a media output.", resolve: (a) => (a.media as MediaInfo | null) ?? null }),
      createdAt: t.expose("createdAt", { type: "DateTime" }),
      job: t.relation("job", { nullable: true, description: "The job that produced or downloaded it." }),
      video: t.relation("video", { nullable: true }),
      document: t.relation("document", { nullable: true }),
      url: t.string({
        description: "A signed download URL valid for expiresIn seconds (at most 7 days). Served by Spool under /files (local storage, byte ranges supported) or presigned by the bucket (S3).",
        args: {
          expiresIn: t.arg.int({ required: false, defaultValue: 3600 }),
          disposition: t.arg({ type: Disposition, required: false, defaultValue: "attachment" }),
        },
        resolve: async (a, args, ctx) => {
          const expiresIn = args.expiresIn ?? 3600;
          if (expiresIn < 1 || expiresIn > MAX_EXPIRES_IN) throw new SpoolError("INVALID_INPUT", `expiresIn must be from 1 to ${MAX_EXPIRES_IN} seconds.`);
          const assets = assetsOf(ctx);
          const disposition = args.disposition ?? "attachment";
          // A package (HLS/DASH) is always served by Spool: a presigned URL covers one object,
          // and the player must reach the package's other files by relative URLs.
          const pkg = packageOf(a.key);
          if (!pkg) {
            const presigned = await assets.storage.presignGet(a.key, { expiresIn, filename: a.filename ?? a.id, contentType: a.contentType, inline: disposition === "inline" });
            if (presigned) return presigned;
          }
          return `${ctx.baseUrl}${signedFilePath(assets.filesSecret, { id: a.id, name: pkg?.entry ?? a.filename ?? a.id }, { expiresIn, disposition })}`;
        },
      }),
    }),
  });

  const AssetFilter = builder.inputType("AssetFilter", {
    fields: (t) => ({
      kind: t.field({ type: [AssetKind], required: false }),
      origin: t.field({ type: [AssetOrigin], required: false }),
      unattached: t.boolean({ required: false, description: "Only assets that belong to no Video or Document (finished uploads waiting to be used)." }),
    }),
  });

  builder.queryFields((t) => ({
    asset: t.prismaField({
      type: "Asset",
      args: { id: t.arg.id({ required: true }) },
      resolve: async (query, _r, args, ctx) => {
        const { organizationId } = requireScope(ctx, "assets:read");
        const asset = await ctx.prisma.asset.findFirst({ ...query, where: { id: idOf("Asset", args.id), organizationId } });
        if (!asset) throw new SpoolError("NOT_FOUND", `No Asset ${args.id} in your organization.`);
        return asset;
      },
    }),
    assets: t.prismaConnection({
      type: "Asset",
      cursor: "id",
      args: { filter: t.arg({ type: AssetFilter, required: false }) },
      totalCount: (_p, args, ctx) => (checkPage(args), ctx.prisma.asset.count({ where: assetWhere(ctx, args.filter) })),
      resolve: (query, _r, args, ctx) => {
        checkPage(args);
        return ctx.prisma.asset.findMany({ ...query, where: assetWhere(ctx, args.filter), orderBy: [{ createdAt: "desc" }, { id: "desc" }] });
      },
    }, { name: "AssetConnection" }, { name: "AssetEdge" }),
  }));

  type Filter = { kind?: readonly string[] | null; origin?: readonly string[] | null; unattached?: boolean | null } | null | undefined;
  function assetWhere(ctx: Context, f: Filter) {
    const { organizationId } = requireScope(ctx, "assets:read");
    return {
      organizationId,
      ...(f?.kind?.length ? { kind: { in: [...f.kind] as never } } : {}),
      ...(f?.origin?.length ? { origin: { in: [...f.origin] as never } } : {}),
      ...(f?.unattached ? { videoId: null, documentId: null } : {}),
    };
  }

  const UploadAssetInput = builder.inputType("UploadAssetInput", {
    fields: (t) => ({ file: t.field({ type: "File", required: true }) }),
  });
  const UploadAssetPayload = builder.objectRef<{ assetId: string }>("UploadAssetPayload").implement({
    fields: (t) => ({
      asset: t.prismaField({ type: "Asset", resolve: (query, p, _a, ctx) => ctx.prisma.asset.findUniqueOrThrow({ ...query, where: { id: p.assetId } }) }),
    }),
  });
  const DeleteAssetInput = builder.inputType("DeleteAssetInput", { fields: (t) => ({ id: t.id({ required: true }) }) });
  const DeleteAssetPayload = builder.objectRef<{ deletedId: string }>("DeleteAssetPayload").implement({
    fields: (t) => ({ deletedId: t.id({ resolve: (p) => encodeGlobalID("Asset", p.deletedId) }) }),
  });

  builder.mutationFields((t) => ({
    uploadAsset: t.field({
      type: UploadAssetPayload,
      description: "Store a small file (multipart request) as an Asset of no Video or Document yet: captions, a watermark image, a source to use later. Large files: tus at /uploads.",
      args: { input: t.arg({ type: UploadAssetInput, required: true }) },
      resolve: async (_r, { input }, ctx) => {
        const { organizationId } = requireScope(ctx, "assets:write");
        const assets = assetsOf(ctx);
        const row = await ingest(assets, { organizationId, body: fileStream(input.file), use: "any", declaredSize: input.file.size }, (blob) =>
          insertAsset(ctx.pool, blob, { organizationId, origin: "UPLOAD", filename: input.file.name }));
        return { assetId: row.id };
      },
    }),
    deleteAsset: t.field({
      type: DeleteAssetPayload,
      description: "Delete an asset that belongs to no Video or Document, and its file.",
      args: { input: t.arg({ type: DeleteAssetInput, required: true }) },
      resolve: async (_r, { input }, ctx) => {
        const { organizationId } = requireScope(ctx, "assets:write");
        const row = await deleteAsset(assetsOf(ctx), ctx.pool, organizationId, idOf("Asset", input.id));
        return { deletedId: row.id };
      },
    }),
  }));
  return { AssetRef, MediaInfoRef };
}

/** ffprobe's facts about a media file (tools/ffmpeg/media-info.ts MediaInfo). */
function addMediaInfoType(builder: Builder) {
  const VideoStream = builder.objectRef<NonNullable<MediaInfo["video"]>>("VideoStreamInfo").implement({
    fields: (t) => ({
      codec: t.exposeString("codec"),
      width: t.exposeInt("width"),
      height: t.exposeInt("height"),
      fps: t.exposeFloat("fps", { nullable: true }),
      bitRate: t.field({ type: "SafeInt", nullable: true, resolve: (v) => v.bitRate }),
      pixFmt: t.exposeString("pixFmt", { nullable: true }),
      rotation: t.exposeInt("rotation"),
    }),
  });
  const AudioStream = builder.objectRef<NonNullable<MediaInfo["audio"]>>("AudioStreamInfo").implement({
    fields: (t) => ({
      codec: t.exposeString("codec"),
      channels: t.exposeInt("channels"),
      sampleRate: t.exposeInt("sampleRate"),
      bitRate: t.field({ type: "SafeInt", nullable: true, resolve: (a) => a.bitRate }),
      channelLayout: t.exposeString("channelLayout", { nullable: true }),
    }),
  });
  return builder.objectRef<MediaInfo>("MediaInfo").implement({
    description: "What ffprobe says of a media file.",
    fields: (t) => ({
      formatName: t.exposeString("formatName"),
      durationSeconds: t.float({ nullable: true, resolve: (m) => m.durationSec }),
      sizeBytes: t.field({ type: "SafeInt", resolve: (m) => m.sizeBytes }),
      bitRate: t.field({ type: "SafeInt", nullable: true, resolve: (m) => m.bitRate }),
      tags: t.field({ type: "JSON", resolve: (m) => m.tags }),
      video: t.field({ type: VideoStream, nullable: true, resolve: (m) => m.video }),
      audio: t.field({ type: AudioStream, nullable: true, resolve: (m) => m.audio }),
    }),
  });
}

export type AssetRefs = ReturnType<typeof addAssetTypes>;
