// The product's processors, bound to their job types. Processors that store files need the
// asset services, media processors the ffmpeg adapter; without them (engine-only tests)
// only the processors that need nothing are registered.
import type pg from "pg";
import type { AssetServices } from "../services/assets.ts";
import type { Processor } from "../engine/types.ts";
import type { Ffmpeg } from "../tools/ffmpeg.ts";
import type { OcrPool } from "../tools/ocr.ts";
import type { MediaDeps } from "./media/source.ts";
import { assetIngest } from "./asset-ingest.ts";
import { audioTranscode } from "./audio-transcode.ts";
import { documentExtractText } from "./document-extract-text.ts";
import { documentPreview } from "./document-preview.ts";
import { documentProcess } from "./document-process.ts";
import { documentTransform } from "./document-transform.ts";
import { mediaOptimize } from "./media-optimize.ts";
import { mediaStreaming } from "./media-streaming.ts";
import { videoAnalyze } from "./video-analyze.ts";
import { videoThumbnails } from "./video-thumbnails.ts";
import { videoTranscode } from "./video-transcode.ts";
import { videoWatermark } from "./video-watermark.ts";
import { ProcessorRegistry } from "./registry.ts";
import { systemCleanup } from "./system-cleanup.ts";
import { webhookDeliver, type WebhookDeliverDeps } from "./webhook-deliver.ts";

export type ProcessorDeps = {
  assets: AssetServices; pool: pg.Pool; ffmpeg?: Ffmpeg; ocr?: OcrPool;
  /** Registers webhook.deliver (signing key, clock for tests). */
  webhooks?: Omit<WebhookDeliverDeps, "pool" | "outbound">;
};

export function createRegistry(deps?: ProcessorDeps): ProcessorRegistry {
  const registry = new ProcessorRegistry().register(systemCleanup(deps?.assets));
  if (!deps) return registry;
  registry.register(assetIngest(deps.assets, deps.pool));
  if (deps.webhooks) registry.register(webhookDeliver({ ...deps.webhooks, pool: deps.pool, outbound: deps.assets.outbound }));
  if (deps.ffmpeg) {
    const media = { assets: deps.assets, pool: deps.pool, ffmpeg: deps.ffmpeg };
    for (const make of MEDIA_PROCESSORS) registry.register(make(media));
    // Reading documents OCRs pages without a text layer, so it needs the process's OCR pool.
    if (deps.ocr) {
      const documents = { ...media, ocr: deps.ocr };
      registry.register(documentExtractText(documents)).register(documentProcess(documents));
    }
  }
  return registry;
}

/** Media job types; each file is one type (video.transcode, video.thumbnails, …). */
const MEDIA_PROCESSORS: Array<(deps: MediaDeps) => Processor<any, any>> = [
  videoTranscode, videoThumbnails, videoAnalyze, videoWatermark, mediaStreaming, audioTranscode, mediaOptimize,
  // Document previews scale image documents with ffmpeg, so they come with it.
  documentPreview,
  documentTransform,
];
