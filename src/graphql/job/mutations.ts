// Submitting and steering jobs: submitJob (any type, input checked against its zod schema),
// submitBatch, cancelJob, retryJob, cleanupJobs. The typed mutations (transcodeVideo, …) are
// in video-jobs.ts and document-jobs.ts and share the webhookUrl option defined here.
import * as jobs from "../../services/jobs.ts";
import type { JobWebhook } from "../../services/jobs.ts";
import type { Builder } from "../builder.ts";
import { requireScope, webhooksOf, type Context } from "../context.ts";
import { jobIdFrom, type JobRefs } from "./type.ts";

/** The description of every job-submitting input's webhookUrl. */
export const JOB_WEBHOOK_URL = "Also send this job's events (job.*) to this URL, signed with the organization's job webhook secret (rotateJobWebhookSecret).";

/** The `webhook` option of submitJob / submitItemJob for an input's webhookUrl (none when not given). */
export function jobWebhookOption(ctx: Context, url: string | null | undefined): { webhook?: JobWebhook } {
  return url != null ? { webhook: { url, outbound: webhooksOf(ctx).outbound } } : {};
}

export function addJobMutations(builder: Builder, { JobPriority }: JobRefs) {
  const jobOptionFields = (t: Parameters<Parameters<typeof builder.inputType>[1]["fields"]>[0]) => ({
    priority: t.field({ type: JobPriority, required: false }),
    maxAttempts: t.int({ required: false }),
    runAt: t.field({ type: "DateTime", required: false }),
    metadata: t.field({ type: "JSON", required: false }),
  });

  const SubmitJobInput = builder.inputType("SubmitJobInput", {
    fields: (t) => ({
      type: t.string({ required: true }),
      input: t.field({ type: "JSON", required: true, description: "Validated against the type's inputSchema (see jobTypes)." }),
      idempotencyKey: t.string({ required: false, description: "The same key and input return the same job; the same key with another input is a CONFLICT." }),
      webhookUrl: t.string({ required: false, description: JOB_WEBHOOK_URL }),
      ...jobOptionFields(t),
    }),
  });
  const BatchJobInput = builder.inputType("BatchJobInput", {
    fields: (t) => ({ type: t.string({ required: true }), input: t.field({ type: "JSON", required: true }), ...jobOptionFields(t) }),
  });
  const SubmitBatchInput = builder.inputType("SubmitBatchInput", {
    fields: (t) => ({
      jobs: t.field({ type: [BatchJobInput], required: true }),
      idempotencyKey: t.string({ required: false }),
      ...jobOptionFields(t),
    }),
  });
  const JobIdInput = (name: string) => builder.inputType(name, { fields: (t) => ({ id: t.id({ required: true }) }) });
  const CancelJobInput = JobIdInput("CancelJobInput");
  const RetryJobInput = builder.inputType("RetryJobInput", {
    fields: (t) => ({ id: t.id({ required: true }), extraAttempts: t.int({ required: false, description: "Attempts added to the budget (default 3)." }) }),
  });
  const CleanupJobsInput = builder.inputType("CleanupJobsInput", {
    fields: (t) => ({
      maxAgeSeconds: t.int({ required: true, description: "Delete finished jobs older than this." }),
      dryRun: t.boolean({ required: false, description: "Count only." }),
      runAt: t.field({ type: "DateTime", required: false, description: "Schedule the cleanup." }),
    }),
  });

  const JobPayload = (name: string, extra?: boolean) =>
    builder.objectRef<{ jobId: string; created?: boolean }>(name).implement({
      fields: (t) => ({
        job: t.prismaField({
          type: "Job",
          resolve: (query, p, _args, ctx) => ctx.prisma.job.findUniqueOrThrow({ ...query, where: { id: p.jobId } }),
        }),
        ...(extra ? { created: t.boolean({ description: "False when an idempotencyKey returned an existing job.", resolve: (p) => p.created ?? true }) } : {}),
      }),
    });
  const SubmitJobPayload = JobPayload("SubmitJobPayload", true);
  const SubmitBatchPayload = JobPayload("SubmitBatchPayload", true);
  const CancelJobPayload = JobPayload("CancelJobPayload");
  const RetryJobPayload = JobPayload("RetryJobPayload");
  const CleanupJobsPayload = JobPayload("CleanupJobsPayload");

  const options = (i: { priority?: string | null; maxAttempts?: number | null; runAt?: Date | null; metadata?: unknown }) => ({
    ...(i.priority ? { priority: i.priority as never } : {}),
    ...(i.maxAttempts != null ? { maxAttempts: i.maxAttempts } : {}),
    ...(i.runAt ? { runAt: i.runAt } : {}),
    ...(i.metadata != null ? { metadata: i.metadata as Record<string, unknown> } : {}),
  });

  builder.mutationFields((t) => ({
    submitJob: t.field({
      type: SubmitJobPayload,
      args: { input: t.arg({ type: SubmitJobInput, required: true }) },
      resolve: async (_root, { input }, ctx) => {
        const { organizationId } = requireScope(ctx, "jobs:write");
        const { job, created } = await jobs.submitJob(ctx.pool, ctx.registry, organizationId, {
          type: input.type, input: input.input, idempotencyKey: input.idempotencyKey ?? undefined, ...options(input),
          ...jobWebhookOption(ctx, input.webhookUrl),
        });
        return { jobId: job.id, created };
      },
    }),
    submitBatch: t.field({
      type: SubmitBatchPayload,
      description: "A parent job whose children run independently; its status and progress follow them.",
      args: { input: t.arg({ type: SubmitBatchInput, required: true }) },
      resolve: async (_root, { input }, ctx) => {
        const { organizationId } = requireScope(ctx, "jobs:write");
        const { job, created } = await jobs.submitBatch(ctx.pool, ctx.registry, organizationId, {
          jobs: input.jobs.map((j) => ({ type: j.type, input: j.input, ...options(j) })),
          idempotencyKey: input.idempotencyKey ?? undefined,
          ...options(input),
        });
        return { jobId: job.id, created };
      },
    }),
    cancelJob: t.field({
      type: CancelJobPayload,
      args: { input: t.arg({ type: CancelJobInput, required: true }) },
      resolve: async (_root, { input }, ctx) => {
        const { organizationId } = requireScope(ctx, "jobs:cancel");
        const job = await jobs.cancelJob(ctx.pool, organizationId, jobIdFrom(String(input.id)));
        return { jobId: job.id };
      },
    }),
    retryJob: t.field({
      type: RetryJobPayload,
      description: "Runs a FAILED or CANCELLED job again.",
      args: { input: t.arg({ type: RetryJobInput, required: true }) },
      resolve: async (_root, { input }, ctx) => {
        const { organizationId } = requireScope(ctx, "jobs:write");
        const job = await jobs.retryJob(ctx.pool, organizationId, jobIdFrom(String(input.id)), input.extraAttempts ?? 3);
        return { jobId: job.id };
      },
    }),
    cleanupJobs: t.field({
      type: CleanupJobsPayload,
      description: "Queues a system.cleanup job for your organization; watch it like any job.",
      args: { input: t.arg({ type: CleanupJobsInput, required: true }) },
      resolve: async (_root, { input }, ctx) => {
        const { organizationId } = requireScope(ctx, "jobs:write");
        const { job } = await jobs.submitJob(ctx.pool, ctx.registry, organizationId, {
          type: "system.cleanup",
          input: { maxAgeSeconds: input.maxAgeSeconds, dryRun: input.dryRun ?? false },
          ...(input.runAt ? { runAt: input.runAt } : {}),
        });
        return { jobId: job.id };
      },
    }),
  }));
}
