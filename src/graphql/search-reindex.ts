// reindexSearch: queues a search.reindex job for the caller's organization (processors/search-reindex.ts).
import * as jobs from "../services/jobs.ts";
import type { Builder } from "./builder.ts";
import { requireScope } from "./context.ts";

export function addSearchReindex(builder: Builder) {
  const ReindexSearchInput = builder.inputType("ReindexSearchInput", {
    fields: (t) => ({
      idempotencyKey: t.string({ required: false, description: "Submitting again with the same key returns the first job." }),
    }),
  });
  const ReindexSearchPayload = builder.objectRef<{ jobId: string }>("ReindexSearchPayload").implement({
    fields: (t) => ({
      job: t.prismaField({ type: "Job", resolve: (query, p, _args, ctx) => ctx.prisma.job.findUniqueOrThrow({ ...query, where: { id: p.jobId } }) }),
    }),
  });
  builder.mutationFields((t) => ({
    reindexSearch: t.field({
      type: ReindexSearchPayload,
      description: "Rebuilds your organization's search index from what is stored (a search.reindex job; watch it like any job). The index is kept in step without it: use it to repair one, or after changing Postgres's text-search configuration.",
      args: { input: t.arg({ type: ReindexSearchInput, required: false }) },
      resolve: async (_root, { input }, ctx) => {
        const { organizationId } = requireScope(ctx, "jobs:write");
        const { job } = await jobs.submitJob(ctx.pool, ctx.registry, organizationId, {
          type: "search.reindex", input: {}, ...(input?.idempotencyKey ? { idempotencyKey: input.idempotencyKey } : {}),
        });
        return { jobId: job.id };
      },
    }),
  }));
}
