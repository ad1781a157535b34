// The typed media mutations: one per job type definition, named and described by it, each
// a GraphQL input that maps field for field onto the definition's zod input
// (processors/media/inputs.ts; test/graphql/typed-inputs.test.ts fails when they drift),
// which validates it when the job is enqueued (INVALID_INPUT names the field). Each
// returns the job to watch and the Video. The generic submitJob takes the same inputs as JSON.
import { JOB_PRIORITIES } from "../engine/types.ts";
import { audioTranscode } from "../processors/audio-transcode.ts";
import { mediaOptimize } from "../processors/media-optimize.ts";
import { mediaStreaming } from "../processors/media-streaming.ts";
import { videoAnalyze } from "../processors/video-analyze.ts";
import { videoIndex } from "../processors/video-index.ts";
import { INDEX_MODES } from "../processors/video-index/input.ts";
import { videoThumbnails } from "../processors/video-thumbnails.ts";
import { videoTranscode } from "../processors/video-transcode.ts";
import { videoWatermark } from "../processors/video-watermark.ts";
import { submitVideoJob } from "../services/videos.ts";
import type { Builder, SchemaTypes } from "./builder.ts";
import { requireScope } from "./context.ts";
import { withoutNulls } from "./without-nulls.ts";
import { idOf } from "./ids.ts";
import { JOB_WEBHOOK_URL, jobWebhookOption } from "./job/mutations.ts";

/** GraphQL enum values are SCREAMING_CASE; job inputs use lowercase names. */
function lowerEnum<const T extends readonly string[]>(builder: Builder, name: string, values: T, description?: string) {
  return builder.enumType(name, {
    description,
    values: Object.fromEntries(values.map((v) => [v.toUpperCase().replace(/-/g, "_"), { value: v }])) as Record<string, { value: T[number] }>,
  });
}


export function addVideoJobTypes(builder: Builder) {
  const Container = lowerEnum(builder, "VideoContainer", ["mp4", "webm", "mov", "mkv"] as const);
  const VideoCodec = lowerEnum(builder, "VideoCodec", ["h264", "h265", "vp9", "av1"] as const, "Which ones this server can encode: jobTypes lists them in each type's input schema.");
  const AudioCodec = lowerEnum(builder, "AudioCodec", ["aac", "opus", "mp3", "vorbis", "none"] as const);
  const Quality = lowerEnum(builder, "VideoQuality", ["low", "medium", "high", "ultra"] as const, "A constant-quality preset (CRF) per codec.");
  const ImageFormat = lowerEnum(builder, "ImageFormat", ["jpg", "png", "webp"] as const);
  const Position = lowerEnum(builder, "WatermarkPosition", ["top-left", "top-right", "bottom-left", "bottom-right", "center"] as const);
  const StreamingFormat = lowerEnum(builder, "StreamingFormat", ["hls", "dash"] as const);
  const AudioFormat = lowerEnum(builder, "AudioFormat", ["mp3", "aac", "ogg", "opus"] as const);
  const NoiseReduction = lowerEnum(builder, "NoiseReduction", ["off", "light", "strong"] as const);
  const IndexMode = lowerEnum(builder, "VideoIndexMode", INDEX_MODES, "VISUAL: text shown on screen. AUDIO: the subtitle streams inside the source.");
  const Priority = builder.enumType("VideoJobPriority", { values: JOB_PRIORITIES });

  const common = (t: PothosSchemaTypes.InputFieldBuilder<PothosSchemaTypes.ExtendDefaultTypes<SchemaTypes>, "InputObject">) => ({
    videoId: t.id({ required: true }),
    priority: t.field({ type: Priority, required: false }),
    idempotencyKey: t.string({ required: false, description: "Submitting again with the same key returns the first job." }),
    webhookUrl: t.string({ required: false, description: JOB_WEBHOOK_URL }),
  });

  /** Each definition with its GraphQL input, in the schema's order. */
  const inputs = [
    [videoTranscode, builder.inputType("TranscodeVideoInput", {
      fields: (t) => ({
        ...common(t),
        container: t.field({ type: Container, required: false }),
        videoCodec: t.field({ type: VideoCodec, required: false }),
        width: t.int({ required: false }),
        height: t.int({ required: false }),
        quality: t.field({ type: Quality, required: false }),
        videoBitrateKbps: t.int({ required: false }),
        fps: t.float({ required: false }),
        audioCodec: t.field({ type: AudioCodec, required: false }),
        audioBitrateKbps: t.int({ required: false }),
        faststart: t.boolean({ required: false }),
      }),
    })],
    [videoThumbnails, builder.inputType("CreateThumbnailsInput", {
      fields: (t) => ({
        ...common(t),
        timestamps: t.floatList({ required: false }),
        everySeconds: t.float({ required: false }),
        count: t.int({ required: false }),
        width: t.int({ required: false }),
        height: t.int({ required: false }),
        format: t.field({ type: ImageFormat, required: false }),
        quality: t.int({ required: false }),
        storyboard: t.field({
          required: false,
          type: builder.inputType("StoryboardOptions", {
            fields: (s) => ({ intervalSeconds: s.float({ required: false }), width: s.int({ required: false }), columns: s.int({ required: false }) }),
          }),
        }),
      }),
    })],
    [videoAnalyze, builder.inputType("AnalyzeVideoInput", {
      fields: (t) => ({ ...common(t), scenes: t.boolean({ required: false }), sceneThreshold: t.float({ required: false }), loudness: t.boolean({ required: false }) }),
    })],
    [videoWatermark, builder.inputType("WatermarkVideoInput", {
      fields: (t) => ({
        ...common(t),
        text: t.field({
          required: false,
          type: builder.inputType("WatermarkText", {
            fields: (w) => ({
              content: w.string({ required: true }),
              fontSize: w.int({ required: false }),
              color: w.string({ required: false, description: "#RRGGBB" }),
              background: w.string({ required: false, description: "#RRGGBB: a box behind the text" }),
              padding: w.int({ required: false }),
            }),
          }),
        }),
        imageAssetId: t.id({ required: false, description: "A PNG or JPEG Asset (uploadAsset)." }),
        imageScale: t.float({ required: false }),
        position: t.field({ type: Position, required: false }),
        margin: t.int({ required: false }),
        opacity: t.float({ required: false }),
        videoCodec: t.field({ type: VideoCodec, required: false }),
        quality: t.field({ type: Quality, required: false }),
      }),
    })],
    [mediaStreaming, builder.inputType("CreateStreamingPackageInput", {
      fields: (t) => ({
        ...common(t),
        formats: t.field({ type: [StreamingFormat], required: false }),
        renditions: t.field({
          required: false,
          type: [builder.inputType("StreamingRendition", {
            fields: (r) => ({ height: r.int({ required: true }), videoBitrateKbps: r.int({ required: true }), audioBitrateKbps: r.int({ required: false }) }),
          })],
        }),
        segmentSeconds: t.int({ required: false }),
      }),
    })],
    [audioTranscode, builder.inputType("TranscodeAudioInput", {
      fields: (t) => ({
        ...common(t),
        format: t.field({ type: AudioFormat, required: false }),
        bitrateKbps: t.int({ required: false }),
        sampleRate: t.int({ required: false }),
        channels: t.int({ required: false }),
        normalize: t.boolean({ required: false }),
        loudnessTarget: t.float({ required: false }),
        noiseReduction: t.field({ type: NoiseReduction, required: false }),
      }),
    })],
    [mediaOptimize, builder.inputType("OptimizeVideoInput", {
      fields: (t) => ({
        ...common(t),
        targetSizeMB: t.float({ required: true }),
        maxHeight: t.int({ required: false }),
        keepQuality: t.boolean({ required: false }),
        audioBitrateKbps: t.int({ required: false }),
      }),
    })],
    [videoIndex, builder.inputType("IndexVideoInput", {
      fields: (t) => ({
        ...common(t),
        modes: t.field({ type: [IndexMode], required: false, description: "Default: both, VISUAL only where there is a picture (VISUAL asked for on an audio file fails)." }),
        intervalSeconds: t.float({ required: false, description: "A frame at least this often (0.25..60, default 1), besides one at every scene change." }),
        sceneThreshold: t.float({ required: false, description: "0..1 (default 0.3): how different two frames must be to count as a cut." }),
        language: t.string({ required: false, description: "The Tesseract language of the on-screen text (default eng)." }),
        minConfidence: t.float({ required: false, description: "OCR words below this confidence (0..100, default 60) are dropped." }),
      }),
    })],
  ] as const;

  const Payload = builder.objectRef<{ jobId: string; videoId: string }>("VideoJobPayload").implement({
    description: "The job to watch (job(id) subscription) and the Video it works on.",
    fields: (t) => ({
      job: t.prismaField({ type: "Job", resolve: (query, p, _a, ctx) => ctx.prisma.job.findUniqueOrThrow({ ...query, where: { id: p.jobId } }) }),
      video: t.prismaField({ type: "Video", resolve: (query, p, _a, ctx) => ctx.prisma.video.findUniqueOrThrow({ ...query, where: { id: p.videoId } }) }),
    }),
  });

  // One mutation per definition: its name and description are the definition's (grep for
  // transcodeVideo lands in processors/video-transcode.ts).
  builder.mutationFields((t) => Object.fromEntries(inputs.map(([{ type, mutation }, input]) => [mutation.name, t.field({
    type: Payload,
    description: mutation.description,
    args: { input: t.arg({ type: input, required: true }) },
    resolve: async (_r, args, ctx) => {
      const { organizationId } = requireScope(ctx, "jobs:write");
      const { videoId, priority, idempotencyKey, webhookUrl, ...fields } = args.input;
      const rest = withoutNulls(fields);
      const id = idOf("Video", videoId);
      if (typeof rest.imageAssetId === "string") rest.imageAssetId = idOf("Asset", rest.imageAssetId);
      const job = await submitVideoJob(ctx.pool, ctx.registry, organizationId, {
        type, videoId: id, input: rest, priority: priority ?? undefined, idempotencyKey: idempotencyKey ?? undefined, ...jobWebhookOption(ctx, webhookUrl),
      });
      return { jobId: job.id, videoId: id };
    },
  })])));
}
