// Jobs in GraphQL: the Job node, its events, the jobs connection, metrics, job types and
// the generic job mutations. Every read and write is scoped to the caller's organization;
// a job of another organization answers NOT_FOUND.
import { encodeGlobalID } from "@pothos/plugin-relay";
import { z } from "zod";
import { SpoolError } from "../errors.ts";
import { JOB_PRIORITIES, JOB_STATUSES, TERMINAL_STATUSES } from "../engine/types.ts";
import * as jobs from "../services/jobs.ts";
import type { JobWebhook } from "../services/jobs.ts";
import { MAX_PAGE, type Builder } from "./builder.ts";
import { requireScope, webhooksOf, type Context } from "./context.ts";
import { idOf } from "./ids.ts";

/** The description of every job-submitting input's webhookUrl. */
export const JOB_WEBHOOK_URL = "Also send this job's events (job.*) to this URL, signed with the organization's job webhook secret (rotateJobWebhookSecret).";

/** The `webhook` option of submitJob / submitItemJob for an input's webhookUrl (none when not given). */
export function jobWebhookOption(ctx: Context, url: string | null | undefined): { webhook?: JobWebhook } {
  return url != null ? { webhook: { url, outbound: webhooksOf(ctx).outbound } } : {};
}

/** A job id as clients send it: the global id (Relay) or the raw UUID. */
export function jobIdFrom(id: string): string {
  return idOf("Job", id);
}

/** Connections are bounded; asking for more is an error, not a silently shorter page. */
export function checkPage(args: { first?: number | null; last?: number | null }): void {
  for (const [name, value] of [["first", args.first], ["last", args.last]] as const) {
    if (value != null && (value < 0 || value > MAX_PAGE)) {
      throw new SpoolError("INVALID_INPUT", `${name} must be from 0 to ${MAX_PAGE}; fetch further pages with after: pageInfo.endCursor.`);
    }
  }
}

/** When a running job will likely finish, from its progress so far. */
function estimateCompletion(job: { status: string; progress: number; startedAt: Date | null }, now = Date.now()): Date | null {
  if (job.status !== "RUNNING" || !job.startedAt || job.progress <= 0.01 || job.progress >= 1) return null;
  const elapsed = now - job.startedAt.getTime();
  return new Date(job.startedAt.getTime() + elapsed / job.progress);
}

export function addJobTypes(builder: Builder) {
  const JobStatus = builder.enumType("JobStatus", { values: JOB_STATUSES });
  const JobPriority = builder.enumType("JobPriority", { values: JOB_PRIORITIES });
  const JobEventKind = builder.enumType("JobEventKind", { values: ["STATUS", "STAGE", "PROGRESS", "LOG"] as const });

  const JobErrorRef = builder.objectRef<{ code: string; message: string }>("JobError").implement({
    description: "Why a job failed: a stable code and a message that says what to do.",
    fields: (t) => ({ code: t.exposeString("code"), message: t.exposeString("message") }),
  });

  builder.prismaObject("JobEvent", {
    description: "One entry in a job's history. `id` is also the cursor for jobEvents(after:).",
    fields: (t) => ({
      id: t.string({ resolve: (e) => e.id.toString() }),
      jobId: t.id({ description: "The job's global id.", resolve: (e) => encodeGlobalID("Job", e.jobId) }),
      kind: t.field({ type: JobEventKind, resolve: (e) => e.kind }),
      data: t.expose("data", { type: "JSON" }),
      status: t.field({ type: JobStatus, nullable: true, resolve: (e) => (e.kind === "STATUS" ? ((e.data as { status?: never }).status ?? null) : null) }),
      progress: t.float({ nullable: true, resolve: (e) => ((e.data as { progress?: number }).progress ?? null) }),
      fps: t.float({ nullable: true, description: "Frames per second of the running encode (PROGRESS events of media jobs).", resolve: (e) => ((e.data as { fps?: number }).fps ?? null) }),
      speed: t.float({ nullable: true, description: "Media seconds processed per wall-clock second.", resolve: (e) => ((e.data as { speed?: number }).speed ?? null) }),
      etaSeconds: t.float({ nullable: true, description: "Seconds left in the current stage, from its speed so far.", resolve: (e) => ((e.data as { etaSeconds?: number }).etaSeconds ?? null) }),
      pagesDone: t.int({ nullable: true, description: "Pages finished so far (PROGRESS events of document jobs).", resolve: (e) => ((e.data as { pagesDone?: number }).pagesDone ?? null) }),
      pageCount: t.int({ nullable: true, description: "Pages the running document stage works through.", resolve: (e) => ((e.data as { pageCount?: number }).pageCount ?? null) }),
      stage: t.string({ nullable: true, resolve: (e) => ((e.data as { stage?: string }).stage ?? null) }),
      message: t.string({ nullable: true, resolve: (e) => ((e.data as { message?: string }).message ?? null) }),
      durable: t.boolean({
        description:
          "True for a terminal status (SUCCEEDED, FAILED, CANCELLED): it was on disk before anyone was told, and so was the job's history up to it. " +
          "Other events are announced before the database flushes them: a Postgres crash right after may undo them, and that part of the job runs again.",
        // Terminal transitions commit with a WAL flush (engine/sql.ts flushIfTerminal).
        resolve: (e) => e.kind === "STATUS" && (TERMINAL_STATUSES as readonly unknown[]).includes((e.data as { status?: unknown }).status),
      }),
      createdAt: t.expose("createdAt", { type: "DateTime" }),
    }),
  });

  builder.prismaNode("Job", {
    id: { field: "id" },
    // node(id:) and every Job load stay inside the caller's organization.
    findUnique: (id, ctx: Context) => ({ id, organizationId: requireScope(ctx, "jobs:read").organizationId }),
    fields: (t) => ({
      type: t.exposeString("type"),
      status: t.field({ type: JobStatus, resolve: (j) => j.status }),
      priority: t.field({ type: JobPriority, resolve: (j) => j.priority }),
      progress: t.exposeFloat("progress", { description: "0..1" }),
      stage: t.exposeString("stage", { nullable: true }),
      attempts: t.exposeInt("attempts"),
      maxAttempts: t.exposeInt("maxAttempts"),
      input: t.expose("input", { type: "JSON" }),
      result: t.expose("result", { type: "JSON", nullable: true }),
      error: t.field({ type: JobErrorRef, nullable: true, resolve: (j) => (j.error as { code: string; message: string } | null) ?? null }),
      metadata: t.expose("metadata", { type: "JSON" }),
      runAt: t.expose("runAt", { type: "DateTime" }),
      createdAt: t.expose("createdAt", { type: "DateTime" }),
      startedAt: t.expose("startedAt", { type: "DateTime", nullable: true }),
      finishedAt: t.expose("finishedAt", { type: "DateTime", nullable: true }),
      updatedAt: t.expose("updatedAt", { type: "DateTime" }),
      estimatedCompletionAt: t.field({ type: "DateTime", nullable: true, description: "From progress so far, while RUNNING.", resolve: (j) => estimateCompletion(j) }),
      parent: t.relation("parent", { nullable: true }),
      children: t.relatedConnection("children", {
        cursor: "id",
        totalCount: true,
        query: (args) => (checkPage(args), { orderBy: [{ createdAt: "asc" as const }, { id: "asc" as const }] }),
      }),
      events: t.relatedConnection("events", { cursor: "id", totalCount: true, query: (args) => (checkPage(args), { orderBy: { id: "asc" as const } }) }),
    }),
  });

  const JobFilter = builder.inputType("JobFilter", {
    fields: (t) => ({
      status: t.field({ type: [JobStatus], required: false }),
      type: t.stringList({ required: false }),
      createdAfter: t.field({ type: "DateTime", required: false }),
      createdBefore: t.field({ type: "DateTime", required: false }),
      metadata: t.field({ type: "JSON", required: false, description: "Jobs whose metadata contains every key/value given here." }),
      parentId: t.id({ required: false, description: "Children of this batch." }),
    }),
  });

  builder.queryFields((t) => ({
    job: t.prismaField({
      type: "Job",
      args: { id: t.arg.id({ required: true }) },
      resolve: async (query, _root, args, ctx) => {
        const { organizationId } = requireScope(ctx, "jobs:read");
        const id = jobIdFrom(String(args.id));
        const job = await ctx.prisma.job.findFirst({ ...query, where: { id, organizationId } });
        if (!job) throw new SpoolError("NOT_FOUND", `No job ${args.id} in your organization.`);
        return job;
      },
    }),
    jobs: t.prismaConnection({
      type: "Job",
      cursor: "id",
      args: { filter: t.arg({ type: JobFilter, required: false }) },
      totalCount: (_parent, args, ctx) => {
        checkPage(args); // a page of only totalCount does not reach resolve
        return ctx.prisma.job.count({ where: jobWhere(ctx, args.filter) });
      },
      resolve: (query, _root, args, ctx) => {
        checkPage(args);
        return ctx.prisma.job.findMany({ ...query, where: jobWhere(ctx, args.filter), orderBy: [{ createdAt: "desc" }, { id: "desc" }] });
      },
    }, { name: "JobConnection" }, { name: "JobEdge" }),
  }));

  type Filter = { status?: readonly string[] | null; type?: readonly string[] | null; createdAfter?: Date | null; createdBefore?: Date | null; metadata?: unknown; parentId?: string | number | null } | null | undefined;
  function jobWhere(ctx: Context, f: Filter) {
    const { organizationId } = requireScope(ctx, "jobs:read");
    const metadata = f?.metadata;
    if (metadata != null && (typeof metadata !== "object" || Array.isArray(metadata) || Object.keys(metadata).length > 20)) {
      throw new SpoolError("INVALID_INPUT", "filter.metadata must be an object of at most 20 keys.");
    }
    if ((f?.type?.length ?? 0) > 50) throw new SpoolError("INVALID_INPUT", "filter.type lists at most 50 types.");
    return {
      organizationId,
      ...(f?.status?.length ? { status: { in: [...f.status] as never } } : {}),
      ...(f?.type?.length ? { type: { in: [...f.type] } } : {}),
      ...(f?.createdAfter || f?.createdBefore ? { createdAt: { ...(f.createdAfter ? { gt: f.createdAfter } : {}), ...(f.createdBefore ? { lt: f.createdBefore } : {}) } } : {}),
      ...(f?.parentId ? { parentId: jobIdFrom(String(f.parentId)) } : {}),
      ...(metadata ? { AND: Object.entries(metadata).map(([k, v]) => ({ metadata: { path: [k], equals: v as never } })) } : {}),
    };
  }

  // metrics and jobTypes ---------------------------------------------------------------

  const TypeMetrics = builder.objectRef<{ type: string; counts: Record<string, number>; avgProcessingMs: number | null; successRate: number | null }>("JobTypeMetrics").implement({
    fields: (t) => ({
      type: t.exposeString("type"),
      queued: t.int({ resolve: (m) => m.counts.QUEUED ?? 0 }),
      running: t.int({ resolve: (m) => m.counts.RUNNING ?? 0 }),
      succeeded: t.int({ resolve: (m) => m.counts.SUCCEEDED ?? 0 }),
      failed: t.int({ resolve: (m) => m.counts.FAILED ?? 0 }),
      cancelled: t.int({ resolve: (m) => m.counts.CANCELLED ?? 0 }),
      total: t.int({ resolve: (m) => Object.values(m.counts).reduce((a, b) => a + b, 0) }),
      avgProcessingMs: t.float({ nullable: true, description: "Mean started→finished time of SUCCEEDED jobs.", resolve: (m) => m.avgProcessingMs }),
      successRate: t.float({ nullable: true, description: "SUCCEEDED / (SUCCEEDED + FAILED).", resolve: (m) => m.successRate }),
    }),
  });
  const Metrics = builder.objectRef<{ total: { type: string; counts: Record<string, number>; avgProcessingMs: number | null; successRate: number | null }; byType: Array<{ type: string; counts: Record<string, number>; avgProcessingMs: number | null; successRate: number | null }> }>("Metrics").implement({
    fields: (t) => ({
      total: t.field({ type: TypeMetrics, resolve: (m) => m.total }),
      byType: t.field({ type: [TypeMetrics], resolve: (m) => m.byType }),
    }),
  });
  const JobType = builder.objectRef<{ type: string; description: string; inputSchema: unknown; maxAttempts: number; timeoutMs: number | null }>("JobType").implement({
    fields: (t) => ({
      type: t.exposeString("type"),
      description: t.exposeString("description"),
      inputSchema: t.expose("inputSchema", { type: "JSON", description: "JSON Schema of `input` for submitJob." }),
      maxAttempts: t.exposeInt("maxAttempts"),
      timeoutMs: t.exposeInt("timeoutMs", { nullable: true }),
    }),
  });

  builder.queryFields((t) => ({
    metrics: t.field({
      type: Metrics,
      description: "Job counts by status, mean processing time and success rate, in total and per type, for your organization.",
      resolve: async (_root, _args, ctx) => {
        const { organizationId } = requireScope(ctx, "jobs:read");
        const { rows } = await ctx.pool.query(
          `select type, status, count(*)::int as n,
             avg(extract(epoch from finished_at - started_at) * 1000) filter (where status = 'SUCCEEDED')::float8 as avg_ms
           from jobs where organization_id = $1 and type <> 'batch' group by type, status`,
          [organizationId],
        );
        const byType = new Map<string, { counts: Record<string, number>; sum: number; n: number }>();
        for (const r of rows) {
          const m = byType.get(r.type) ?? { counts: {}, sum: 0, n: 0 };
          m.counts[r.status] = r.n;
          if (r.status === "SUCCEEDED" && r.avg_ms !== null) {
            m.sum += r.avg_ms * r.n;
            m.n += r.n;
          }
          byType.set(r.type, m);
        }
        const finish = (type: string, m: { counts: Record<string, number>; sum: number; n: number }) => {
          const ok = m.counts.SUCCEEDED ?? 0;
          const bad = m.counts.FAILED ?? 0;
          return { type, counts: m.counts, avgProcessingMs: m.n ? m.sum / m.n : null, successRate: ok + bad ? ok / (ok + bad) : null };
        };
        const total = { counts: {} as Record<string, number>, sum: 0, n: 0 };
        for (const m of byType.values()) {
          for (const [s, n] of Object.entries(m.counts)) total.counts[s] = (total.counts[s] ?? 0) + n;
          total.sum += m.sum;
          total.n += m.n;
        }
        return { total: finish("*", total), byType: [...byType.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([k, m]) => finish(k, m)) };
      },
    }),
    jobTypes: t.field({
      type: [JobType],
      description: "What this server can run, each with the JSON Schema of its input.",
      resolve: (_root, _args, ctx) => {
        requireScope(ctx, "jobs:read");
        return ctx.registry.list().filter((p) => !p.internal).map((p) => ({
          type: p.type,
          description: p.description,
          inputSchema: z.toJSONSchema(p.input, { io: "input", unrepresentable: "any" }),
          maxAttempts: p.maxAttempts ?? 3,
          timeoutMs: p.timeoutMs ?? null,
        }));
      },
    }),
  }));

  // mutations ---------------------------------------------------------------------------

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

  return { JobStatus, JobPriority, JobEventKind, JobErrorRef };
}

export type JobRefs = ReturnType<typeof addJobTypes>;
