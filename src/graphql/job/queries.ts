// Reading jobs: job(id), the jobs connection and its filter, metrics (counts, mean time and
// success rate per type) and jobTypes (what this server runs). Everything is scoped to the
// caller's organization; another organization's job answers NOT_FOUND.
import { z } from "zod";
import { DEFAULT_MAX_ATTEMPTS } from "../../engine/enqueue.ts";
import { SpoolError } from "../../errors.ts";
import { checkPage, type Builder } from "../builder.ts";
import { requireScope, type Context } from "../context.ts";
import { jobIdFrom, type JobRefs } from "./type.ts";

export function addJobQueries(builder: Builder, { JobStatus }: JobRefs) {
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
          maxAttempts: p.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
          timeoutMs: p.timeoutMs ?? null,
        }));
      },
    }),
  }));
}
