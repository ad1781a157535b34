// system.cleanup: deletes the organization's finished jobs (with their children and
// events) older than maxAgeSeconds, in batches, reporting progress, then the
// organization's orphaned files (stored files no asset row names: left by a crash between
// writing a file and committing its row, or by a failed delete). A job like any other, so
// it can be scheduled with runAt, watched, cancelled between batches. dryRun reports what
// it would delete and deletes nothing. Webhook messages older than the cutoff whose
// deliveries are all finished go too (with their deliveries and attempts).
import type pg from "pg";
import { z } from "zod";
import { JobError } from "../errors.ts";
import * as sql from "../engine/sql.ts";
import { defineJobType } from "../engine/types.ts";
import { sweepOrphanFiles, type AssetServices } from "../services/assets.ts";

const input = z.object({
  maxAgeSeconds: z.number().int().min(0).max(10 * 365 * 24 * 3600),
  dryRun: z.boolean().default(false),
  batchSize: z.number().int().min(1).max(5_000).default(500),
  /** Orphaned files younger than this are left alone: they may belong to an ingest in flight. */
  orphanGraceSeconds: z.number().int().min(0).max(30 * 24 * 3600).default(3600),
});

/** Without asset services (engine-only processes) the orphan-file sweep is skipped. */
export type CleanupDeps = { pool: pg.Pool; assets?: AssetServices };

export type CleanupResult = { dryRun: boolean; cutoff: string; jobs: number; events: number; webhookMessages: number; orphanFiles: number | null };

/** Finished webhook messages (no PENDING delivery) created before $2, of organization $1. */
const OLD_WEBHOOK_MESSAGES = `from webhook_messages m where m.organization_id = $1 and m.created_at < $2
  and not exists (select 1 from webhook_deliveries d where d.message_id = m.id and d.status = 'PENDING')`;

export const systemCleanup = defineJobType<CleanupDeps, z.infer<typeof input>, CleanupResult>({
  type: "system.cleanup",
  description: "Delete finished jobs (and their children and events) and finished webhook messages older than maxAgeSeconds, then orphaned stored files; dryRun reports the counts only.",
  input,
  maxAttempts: 3,
  timeoutMs: 60 * 60_000,
  async run(job, ctx, deps) {
    const { pool, assets } = deps;
    const { rows } = await pool.query(`select now() - make_interval(secs => $1::float8) as cutoff`, [job.input.maxAgeSeconds]);
    const cutoff: Date = rows[0].cutoff;
    const planned = (await pool.query(sql.cleanupCount, [job.organizationId, cutoff, job.id])).rows[0];
    if (job.input.dryRun) {
      await ctx.stage("count");
      const orphans = await sweepFiles(true);
      const messages = (await pool.query(`select count(*)::int as n ${OLD_WEBHOOK_MESSAGES}`, [job.organizationId, cutoff])).rows[0].n;
      return { dryRun: true, cutoff: cutoff.toISOString(), jobs: planned.jobs, events: planned.events, webhookMessages: messages, orphanFiles: orphans };
    }
    await ctx.stage("delete");
    let jobs = 0;
    let events = 0;
    for (;;) {
      if (ctx.signal.aborted) throw new JobError("CANCELLED", `cleanup stopped after deleting ${jobs} jobs`);
      const batch = (await pool.query(sql.cleanupBatch, [job.organizationId, cutoff, job.id, job.input.batchSize])).rows[0];
      if (batch.deleted === 0) break;
      jobs += batch.deleted + batch.children;
      events += batch.events;
      ctx.progress(planned.jobs > 0 ? Math.min(1, jobs / planned.jobs) : 1);
    }
    ctx.logLine(`deleted ${jobs} jobs and ${events} events finished before ${cutoff.toISOString()}`);
    const webhookMessages = (await pool.query(`delete from webhook_messages where id in (select m.id ${OLD_WEBHOOK_MESSAGES})`, [job.organizationId, cutoff])).rowCount ?? 0;
    if (webhookMessages) ctx.logLine(`deleted ${webhookMessages} delivered webhook messages`);
    await ctx.stage("files");
    const orphanFiles = await sweepFiles(false);
    if (orphanFiles) ctx.logLine(`deleted ${orphanFiles} orphaned files`);
    return { dryRun: false, cutoff: cutoff.toISOString(), jobs, events, webhookMessages, orphanFiles };

    async function sweepFiles(dryRun: boolean): Promise<number | null> {
      if (!assets) return null;
      const { orphans } = await sweepOrphanFiles(assets, pool, {
        prefix: `orgs/${job.organizationId}/`, graceMs: job.input.orphanGraceSeconds * 1000, dryRun, signal: ctx.signal,
      });
      return orphans.length;
    }
  },
});
