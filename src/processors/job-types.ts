// Every job type Spool defines, grouped by what it needs from the process: the composition
// root (app.ts) binds each group to those deps, and registers a group only when the process
// has them (an engine-only test process has no ffmpeg, so it runs no media job).
import type { JobTypeDefinition } from "../engine/types.ts";
import { assetIngest } from "./asset-ingest.ts";
import { audioTranscode } from "./audio-transcode.ts";
import { documentExtractText } from "./document-extract-text.ts";
import { documentPreview } from "./document-preview.ts";
import { documentProcess } from "./document-process.ts";
import { documentTransform } from "./document-transform.ts";
import type { DocumentDeps } from "./documents/read.ts";
import type { MediaDeps } from "./media/source.ts";
import { mediaOptimize } from "./media-optimize.ts";
import { mediaStreaming } from "./media-streaming.ts";
import { searchReindex } from "./search-reindex.ts";
import { systemCleanup } from "./system-cleanup.ts";
import { videoAnalyze } from "./video-analyze.ts";
import { videoIndex } from "./video-index.ts";
import { videoThumbnails } from "./video-thumbnails.ts";
import { videoTranscode } from "./video-transcode.ts";
import { videoWatermark } from "./video-watermark.ts";
import { webhookDeliver } from "./webhook-deliver.ts";

/** Need the ffmpeg adapter; document previews and transforms scale images with it. */
export const MEDIA_JOB_TYPES: ReadonlyArray<JobTypeDefinition<MediaDeps>> = [
  videoTranscode, videoThumbnails, videoAnalyze, videoWatermark, mediaStreaming, audioTranscode, mediaOptimize, documentPreview, documentTransform,
];

/**
 * These read text with the OCR pool as well: documents' pages without a text layer, and
 * video.index the frames of a Video.
 */
export const DOCUMENT_READING_JOB_TYPES: ReadonlyArray<JobTypeDefinition<DocumentDeps>> = [documentExtractText, documentProcess, videoIndex];

/** All of them, each once. */
export const JOB_TYPES: ReadonlyArray<JobTypeDefinition> = [systemCleanup, searchReindex, assetIngest, webhookDeliver, ...MEDIA_JOB_TYPES, ...DOCUMENT_READING_JOB_TYPES];
