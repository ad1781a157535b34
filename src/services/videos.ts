// Video jobs: the typed mutations (transcodeVideo, createThumbnails, …) come through here.
// In one transaction: the Video is locked (it cannot be deleted meanwhile), checked to be
// the caller's and READY, and the job enqueued — a refusal leaves no job behind.
import type pg from "pg";
import { enqueue, type EnqueueOptions } from "../engine/enqueue.ts";
import { SpoolError } from "../engine/errors.ts";
import { inTransaction } from "../engine/queryable.ts";
import type { Job } from "../engine/types.ts";
import type { ProcessorRegistry } from "../processors/registry.ts";

/** The media job types a Video can be given, by the mutation that submits each. */
export const VIDEO_JOB_TYPES = ["video.transcode", "video.thumbnails", "video.analyze", "video.watermark", "media.streaming", "audio.transcode", "media.optimize"] as const;
export type VideoJobType = (typeof VIDEO_JOB_TYPES)[number];

export async function submitVideoJob(
  pool: pg.Pool, registry: ProcessorRegistry, organizationId: string,
  req: { type: VideoJobType; videoId: string; input: Record<string, unknown> } & Pick<EnqueueOptions, "priority" | "idempotencyKey" | "metadata">,
): Promise<Job> {
  if (!registry.get(req.type)) throw new SpoolError("UNAVAILABLE", `This server does not run ${req.type} jobs (no ffmpeg configured).`);
  return inTransaction(pool, async (tx) => {
    const v = await tx.query(`select id from videos where id = $1 and organization_id = $2 for share`, [req.videoId, organizationId]);
    if (!v.rowCount) throw new SpoolError("NOT_FOUND", `No Video ${req.videoId} in your organization.`);
    const src = await tx.query(`select 1 from assets where video_id = $1 and role = 'SOURCE'`, [req.videoId]);
    if (!src.rowCount) throw new SpoolError("CONFLICT", "The Video has no source yet (status PENDING or FAILED); wait until it is READY.");
    const { job } = await enqueue(tx, registry, {
      organizationId, type: req.type, input: { ...req.input, videoId: req.videoId },
      ...(req.priority ? { priority: req.priority } : {}),
      ...(req.idempotencyKey ? { idempotencyKey: req.idempotencyKey } : {}),
      metadata: { ...req.metadata, videoId: req.videoId },
    });
    return job;
  });
}
