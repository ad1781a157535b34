// Caption tracks in GraphQL: the CaptionTrack node (its WebVTT asset with a signed url),
// Video.captionTracks, attachCaptions (an uploaded SubRip/WebVTT asset, or the file in the
// same multipart request) and removeCaptionTrack. The work is services/captions.ts; tracks
// of subtitle streams inside the source are made by video.index (mode audio).
import { encodeGlobalID } from "@pothos/plugin-relay";
import { attachCaptions, CAPTION_KINDS, removeCaptionTrack } from "../services/captions.ts";
import { fileStream, type AssetRefs } from "./asset.ts";
import type { Builder } from "./builder.ts";
import { assetsOf, requireScope, type Context } from "./context.ts";
import { idOf } from "./ids.ts";

export function addCaptionTypes(builder: Builder, _refs: AssetRefs) {
  const CaptionKind = builder.enumType("CaptionKind", {
    description: "WebVTT's kinds of text track: SUBTITLES (the dialogue, translated or not), CAPTIONS (dialogue and sounds, for viewers who cannot hear them), DESCRIPTIONS (of the picture, for viewers who cannot see it), CHAPTERS (titles of parts), METADATA (data for scripts, not shown; not searched).",
    values: CAPTION_KINDS,
  });
  const CaptionOrigin = builder.enumType("CaptionOrigin", {
    values: {
      ATTACHED: { description: "A SubRip or WebVTT file given to attachCaptions." },
      EMBEDDED: { description: "A subtitle stream inside the source file, extracted by indexVideo (mode audio)." },
    },
  });

  builder.prismaNode("CaptionTrack", {
    id: { field: "id" },
    description: "A caption track of a Video, stored as WebVTT; its cues are searchable (search mode AUDIO) with their times.",
    findUnique: (id, ctx: Context) => ({ id, organizationId: requireScope(ctx, "assets:read").organizationId }),
    fields: (t) => ({
      language: t.exposeString("language", { description: "BCP-47 (en, pt-BR); und when the source's stream named none." }),
      label: t.exposeString("label", { description: "What players show in their captions menu." }),
      kind: t.field({ type: CaptionKind, resolve: (c) => c.kind as (typeof CAPTION_KINDS)[number] }),
      cueCount: t.exposeInt("cueCount"),
      origin: t.field({ type: CaptionOrigin, resolve: (c) => (c.streamIndex === null ? "ATTACHED" : "EMBEDDED") }),
      streamIndex: t.exposeInt("streamIndex", { nullable: true, description: "The source's subtitle stream it was extracted from (ffprobe's index), for EMBEDDED tracks." }),
      asset: t.relation("asset", { description: "The track as a WebVTT file (role CAPTIONS): its url is what a <track> element or a player loads." }),
      sourceAsset: t.relation("sourceAsset", { nullable: true, description: "The SubRip or WebVTT file it was made from (ATTACHED), while that asset exists." }),
      video: t.relation("video"),
      job: t.relation("job", { nullable: true, description: "The video.index job that extracted it (EMBEDDED)." }),
      createdAt: t.expose("createdAt", { type: "DateTime" }),
    }),
  });

  builder.prismaObjectFields("Video", (t) => ({
    captionTracks: t.relation("captionTracks", {
      description: "Caption tracks: attached files (attachCaptions) and subtitle streams of the source (indexVideo, mode audio).",
      query: { orderBy: [{ createdAt: "asc" as const }, { id: "asc" as const }] },
    }),
  }));

  const AttachCaptionsInput = builder.inputType("AttachCaptionsInput", {
    description: "Give exactly one of assetId or file.",
    fields: (t) => ({
      videoId: t.id({ required: true }),
      assetId: t.id({ required: false, description: "A SubRip (.srt) or WebVTT (.vtt) file uploaded with uploadAsset or tus." }),
      file: t.field({ type: "File", required: false, description: "The SubRip or WebVTT file itself (multipart request)." }),
      language: t.string({ required: true, description: "BCP-47 language of the text: en, fr, pt-BR, zh-Hant. Chooses the search stemmer." }),
      label: t.string({ required: false, description: "Defaults to the language's English name (French, Brazilian Portuguese)." }),
      kind: t.field({ type: CaptionKind, required: false, defaultValue: "SUBTITLES" }),
    }),
  });
  const AttachCaptionsPayload = builder.objectRef<{ trackId: string; droppedCues: number; emptyCues: number; warnings: string[] }>("AttachCaptionsPayload").implement({
    fields: (t) => ({
      captionTrack: t.prismaField({ type: "CaptionTrack", resolve: (query, p, _a, ctx) => ctx.prisma.captionTrack.findUniqueOrThrow({ ...query, where: { id: p.trackId } }) }),
      droppedCues: t.exposeInt("droppedCues", { description: "Cues left out because they end at or before their start." }),
      emptyCues: t.exposeInt("emptyCues", { description: "Cues left out because they have no text." }),
      warnings: t.exposeStringList("warnings", { description: "Up to 20 lines of the file that were skipped or joined, and why (\"line 12: …\")." }),
    }),
  });
  const RemoveCaptionTrackInput = builder.inputType("RemoveCaptionTrackInput", { fields: (t) => ({ id: t.id({ required: true }) }) });
  const RemoveCaptionTrackPayload = builder.objectRef<{ id: string; videoId: string }>("RemoveCaptionTrackPayload").implement({
    fields: (t) => ({
      deletedId: t.id({ resolve: (p) => encodeGlobalID("CaptionTrack", p.id) }),
      video: t.prismaField({ type: "Video", resolve: (query, p, _a, ctx) => ctx.prisma.video.findUniqueOrThrow({ ...query, where: { id: p.videoId } }) }),
    }),
  });

  builder.mutationFields((t) => ({
    attachCaptions: t.field({
      type: AttachCaptionsPayload,
      description: "Attach a SubRip or WebVTT file to a Video as a caption track: stored as normalized WebVTT (the track's asset), listed in Video.captionTracks, its cues searchable with their times.",
      args: { input: t.arg({ type: AttachCaptionsInput, required: true }) },
      resolve: async (_r, { input }, ctx) => {
        const { organizationId } = requireScope(ctx, "assets:write");
        const report = await attachCaptions(assetsOf(ctx), ctx.pool, organizationId, {
          videoId: idOf("Video", input.videoId),
          assetId: input.assetId == null ? null : idOf("Asset", input.assetId),
          file: input.file ? { stream: fileStream(input.file), filename: input.file.name || null } : null,
          language: input.language, label: input.label, kind: input.kind,
        });
        return { trackId: report.track.id, droppedCues: report.droppedCues, emptyCues: report.emptyCues, warnings: report.warnings };
      },
    }),
    removeCaptionTrack: t.field({
      type: RemoveCaptionTrackPayload,
      description: "Delete a caption track, its WebVTT file and its search segments.",
      args: { input: t.arg({ type: RemoveCaptionTrackInput, required: true }) },
      resolve: async (_r, { input }, ctx) => {
        const { organizationId } = requireScope(ctx, "assets:write");
        const track = await removeCaptionTrack(assetsOf(ctx), ctx.pool, organizationId, idOf("CaptionTrack", input.id));
        return { id: track.id, videoId: track.video_id };
      },
    }),
  }));
}
