// What media jobs leave on a Video: the source's metadata, renditions, thumbnails,
// storyboards, streaming packages, audio tracks (each an Asset with a signed URL), and
// the scenes and loudness video.analyze measured.
import type { Builder } from "./builder.ts";
import type { Loudness } from "../processors/audio-transcode.ts";
import type { Analysis, Scene } from "../processors/video-analyze.ts";
import type { AssetRefs } from "./asset.ts";

export function addVideoOutputFields(builder: Builder, refs: AssetRefs) {
  const SceneRef = builder.objectRef<Scene>("Scene").implement({
    description: "A cut: where the picture changes, and how much (0..1).",
    fields: (t) => ({ timeSeconds: t.exposeFloat("timeSeconds"), score: t.exposeFloat("score") }),
  });
  const LoudnessRef = builder.objectRef<Loudness>("Loudness").implement({
    description: "EBU R128 loudness of the audio.",
    fields: (t) => ({
      integratedLufs: t.exposeFloat("integratedLufs", { nullable: true }),
      truePeakDbtp: t.exposeFloat("truePeakDbtp", { nullable: true }),
      rangeLu: t.exposeFloat("rangeLu", { nullable: true, description: "Loudness range (LRA)." }),
    }),
  });

  const byRole = (roles: string[], description: string) => ({
    description,
    // Outputs of one job share createdAt; their file names (thumb-0001, …) keep their order.
    query: { where: { role: { in: roles } }, orderBy: [{ createdAt: "asc" as const }, { filename: "asc" as const }, { label: "asc" as const }] },
  });

  builder.prismaObjectFields("Video", (t) => ({
    mediaInfo: t.field({ type: refs.MediaInfoRef, nullable: true, description: "The source's metadata (ffprobe), once a media job has probed it.", resolve: (v) => (v.media as never) ?? null }),
    renditions: t.relation("assets", byRole(["RENDITION"], "Transcoded, watermarked and optimized versions.")),
    thumbnails: t.relation("assets", byRole(["THUMBNAIL"], "Still images (label: t=<seconds>).")),
    storyboards: t.relation("assets", byRole(["STORYBOARD"], "Sprite sheets with their WebVTT track (the Asset's url opens the .vtt; the sprites sit beside it).")),
    streamingPackages: t.relation("assets", byRole(["HLS", "DASH"], "HLS and DASH ladders: the url opens master.m3u8 or manifest.mpd, which players follow to the renditions.")),
    audioTracks: t.relation("assets", byRole(["AUDIO"], "Audio extracted by audio.transcode.")),
    scenes: t.field({ type: [SceneRef], nullable: true, description: "Scene changes found by video.analyze.", resolve: (v) => (v.analysis as Analysis | null)?.scenes ?? null }),
    loudness: t.field({ type: LoudnessRef, nullable: true, description: "Loudness measured by video.analyze.", resolve: (v) => (v.analysis as Analysis | null)?.loudness ?? null }),
  }));
}
