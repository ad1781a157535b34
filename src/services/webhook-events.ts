// The webhook event types and their payloads. Payloads are thin: ids (Relay global ids, as
// the API shows them), status, error code, output asset ids — never inlined media; fetch
// the rest through the API. Every body is {"type", "timestamp", "data"} (Standard Webhooks).
// The SQL that builds them is in the webhooks migration (triggers); these schemas are the
// contract the webhookEventTypes query and the README publish, and the tests check bodies
// against them.
import { z } from "zod";

const globalId = z.string().describe("a Relay global id, as the API returns it");
const jobData = z.object({
  jobId: globalId,
  jobType: z.string().describe("video.transcode, document.process, …"),
  status: z.enum(["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"]),
  attempt: z.number().int(),
  metadata: z.record(z.string(), z.unknown()).describe("the job's own metadata, as submitted"),
});

export const WEBHOOK_EVENTS = {
  "job.created": { description: "A job was submitted (QUEUED).", data: jobData },
  "job.started": { description: "An attempt of a job started running.", data: jobData },
  "job.succeeded": {
    description: "A job finished; its outputs are Assets (and, for document.transform, Documents).",
    data: jobData.extend({ outputAssetIds: z.array(globalId), outputDocumentIds: z.array(globalId) }),
  },
  "job.failed": {
    description: "A job failed for good (no attempt left, or a permanent error).",
    data: jobData.extend({ error: z.object({ code: z.string(), message: z.string() }) }),
  },
  "job.cancelled": { description: "A job was cancelled.", data: jobData },
  "video.ready": {
    description: "A Video has its source file (uploaded, downloaded or attached): jobs can run on it.",
    data: z.object({ videoId: globalId, status: z.literal("READY"), sourceAssetId: globalId }),
  },
  "document.ready": {
    description: "A Document has its source file (uploaded, downloaded, attached, or made by document.transform).",
    data: z.object({ documentId: globalId, status: z.literal("READY"), sourceAssetId: globalId }),
  },
  "video.indexed": {
    description: "What a Video says became searchable: captions attached (AUDIO), or a video.index job's subtitle streams and on-screen text (AUDIO, VISUAL).",
    data: z.object({
      videoId: globalId, modes: z.array(z.enum(["TEXT", "AUDIO", "VISUAL"])), source: z.string().describe("captions:<track id>, visual, …"),
      segmentCount: z.number().int(), jobId: globalId.nullable(),
    }),
  },
  "document.indexed": {
    description: "A Document's page text became searchable (document.extractText or document.process stored it).",
    data: z.object({ documentId: globalId, modes: z.array(z.enum(["TEXT", "AUDIO", "VISUAL"])), source: z.literal("pages"), segmentCount: z.number().int(), jobId: globalId.nullable() }),
  },
  "webhook.test": {
    description: "Sent by testWebhook to one endpoint, whatever its event types.",
    data: z.object({ endpointId: globalId, message: z.string() }),
  },
  "webhook.disabled": {
    description: "An endpoint was disabled (it answered 410 Gone, or failed for five days); sent to the organization's other endpoints.",
    data: z.object({ endpointId: globalId, url: z.string(), reason: z.string() }),
  },
} as const;

export type WebhookEventType = keyof typeof WEBHOOK_EVENTS;
export const WEBHOOK_EVENT_TYPES = Object.keys(WEBHOOK_EVENTS) as WebhookEventType[];

/** The envelope of every body, for one event type. */
export function payloadSchema(type: WebhookEventType) {
  return z.object({ type: z.literal(type), timestamp: z.iso.datetime(), data: WEBHOOK_EVENTS[type].data });
}

export function payloadJsonSchema(type: WebhookEventType): Record<string, unknown> {
  return z.toJSONSchema(payloadSchema(type)) as Record<string, unknown>;
}
