// The Job type and what hangs off it: its enums, its error, its events (JobEvent) and the
// Job node itself. The job's queries, mutations and subscriptions are beside it in this folder;
// each takes the refs addJobTypes returns.
import { encodeGlobalID } from "@pothos/plugin-relay";
import { JOB_PRIORITIES, JOB_STATUSES, TERMINAL_STATUSES } from "../../engine/types.ts";
import { checkPage, type Builder } from "../builder.ts";
import { requireScope, type Context } from "../context.ts";
import { idOf } from "../ids.ts";

/** A job id as clients send it: the global id (Relay) or the raw UUID. */
export function jobIdFrom(id: string): string {
  return idOf("Job", id);
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

  return { JobStatus, JobPriority, JobEventKind, JobErrorRef };
}

export type JobRefs = ReturnType<typeof addJobTypes>;
