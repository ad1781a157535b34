// Video jobs: the typed mutations (transcodeVideo, createThumbnails, …) come through here,
// into submitItemJob: in one transaction the Video is locked, checked to be the caller's
// and READY, and the job enqueued — a refusal leaves no job behind.
import type pg from "pg";
import type { EnqueueOptions } from "../engine/enqueue.ts";
import type { Job } from "../engine/types.ts";
import type { ProcessorRegistry } from "../engine/registry.ts";
import { submitItemJob } from "./items.ts";
import type { JobWebhook } from "./jobs.ts";

export function submitVideoJob(
  pool: pg.Pool, registry: ProcessorRegistry, organizationId: string,
  req: { type: string; videoId: string; input: Record<string, unknown>; webhook?: JobWebhook } & Pick<EnqueueOptions, "priority" | "idempotencyKey" | "metadata">,
): Promise<Job> {
  const { videoId, ...rest } = req;
  return submitItemJob(pool, registry, organizationId, { ...rest, kind: "video", itemId: videoId });
}
