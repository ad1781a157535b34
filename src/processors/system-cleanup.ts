// system.cleanup: deletes the organization's finished jobs (with their children and
// events) older than maxAgeSeconds, in batches, reporting progress. A job like any other,
// so it can be scheduled with runAt, watched, cancelled between batches. dryRun reports
// what it would delete and deletes nothing.
import { z } from "zod";
import { JobError } from "../engine/errors.ts";
import * as sql from "../engine/sql.ts";
import type { Processor } from "../engine/types.ts";

const input = z.object({
  maxAgeSeconds: z.number().int().min(0).max(10 * 365 * 24 * 3600),
  dryRun: z.boolean().default(false),
  batchSize: z.number().int().min(1).max(5_000).default(500),
});

export type CleanupResult = { dryRun: boolean; cutoff: string; jobs: number; events: number };

export const systemCleanup: Processor<z.infer<typeof input>, CleanupResult> = {
  type: "system.cleanup",
  description: "Delete finished jobs (and their children and events) older than maxAgeSeconds; dryRun reports the counts only.",
  input,
  maxAttempts: 3,
  timeoutMs: 60 * 60_000,
  async run(job, ctx) {
    const { rows } = await ctx.db.query(`select now() - make_interval(secs => $1::float8) as cutoff`, [job.input.maxAgeSeconds]);
    const cutoff: Date = rows[0].cutoff;
    const planned = (await ctx.db.query(sql.cleanupCount, [job.organizationId, cutoff, job.id])).rows[0];
    if (job.input.dryRun) {
      await ctx.stage("count");
      return { dryRun: true, cutoff: cutoff.toISOString(), jobs: planned.jobs, events: planned.events };
    }
    await ctx.stage("delete");
    let jobs = 0;
    let events = 0;
    for (;;) {
      if (ctx.signal.aborted) throw new JobError("CANCELLED", `cleanup stopped after deleting ${jobs} jobs`);
      const batch = (await ctx.db.query(sql.cleanupBatch, [job.organizationId, cutoff, job.id, job.input.batchSize])).rows[0];
      if (batch.deleted === 0) break;
      jobs += batch.deleted + batch.children;
      events += batch.events;
      ctx.progress(planned.jobs > 0 ? Math.min(1, jobs / planned.jobs) : 1);
    }
    ctx.logLine(`deleted ${jobs} jobs and ${events} events finished before ${cutoff.toISOString()}`);
    return { dryRun: false, cutoff: cutoff.toISOString(), jobs, events };
  },
};
