// search.reindex: rebuilds an organization's search index from what Spool stores, in batches
// of items (one transaction each, fenced by the attempt, so a cancelled or reclaimed run
// stops between batches and leaves every item either rebuilt or as it was):
// - each item's row and TEXT segments (title, tags, description, metadata, filename),
//   from the Video or Document as it is now;
// - each Document's PAGE segments, from its document_pages (the text and word boxes the
//   last document.extractText / document.process stored);
// - CAPTION and ON_SCREEN_TEXT segments keep their text (their source is the caption file
//   or the OCR of frames: re-reading those is attachCaptions or indexVideo again), but get
//   their track's current language and their tsvector rebuilt; segments of a caption track
//   that no longer exists are removed.
// Use it after changing Postgres's text-search configuration, or to repair an index by hand.
import type pg from "pg";
import { z } from "zod";
import { JobError } from "../errors.ts";
import { inTransaction } from "../engine/queryable.ts";
import { defineJobType } from "../engine/types.ts";
import { fenceAttempt } from "./media/outputs.ts";

const input = z.strictObject({
  batchSize: z.number().int().min(1).max(5_000).default(200),
});

export type ReindexDeps = { pool: pg.Pool };
export type ReindexResult = { items: number; segments: number };

/** One batch of items: everything above, for the ids given. Returns the segment count after. */
const REBUILD_BATCH = `
  with ids as (select unnest($2::uuid[]) as id),
  items as (select spool_search_refresh_item(id) from ids),
  pages as (select spool_search_index_pages(d.id) from documents d join ids on ids.id = d.id
            where d.organization_id = $1 and exists (select 1 from document_pages p where p.document_id = d.id))
  select (select count(*) from items) + (select count(*) from pages) as n`;

const RESTEM_TIMED = `
  update search_segments s
  set language = coalesce(spool_language_code(x.track_language), s.language),
      config = spool_search_config(coalesce(x.track_language, s.language))
  from (select s2.id, t.language as track_language from search_segments s2
        left join caption_tracks t on s2.source = 'captions:' || t.id::text
        where s2.organization_id = $1 and s2.item_id = any($2::uuid[]) and s2.mode in ('AUDIO', 'VISUAL')) x
  where s.id = x.id`;

const DROP_ORPHAN_CAPTIONS = `
  delete from search_segments s
  where s.organization_id = $1 and s.item_id = any($2::uuid[]) and s.source like 'captions:%'
    and not exists (select 1 from caption_tracks t where 'captions:' || t.id::text = s.source and t.video_id = s.item_id)`;

export const searchReindex = defineJobType<ReindexDeps, z.infer<typeof input>, ReindexResult>({
  type: "search.reindex",
  description: "Rebuild the organization's search index: item rows, TEXT and PAGE segments from what is stored, caption and on-screen text segments re-stemmed in their language.",
  input,
  timeoutMs: 60 * 60_000,
  async run(job, ctx, { pool }) {
    const org = job.organizationId;
    const { rows: all } = await pool.query<{ id: string }>(
      `select id from videos where organization_id = $1 union all select id from documents where organization_id = $1 order by id`, [org]);
    await ctx.stage("rebuild");
    ctx.logLine(`${all.length} item${all.length === 1 ? "" : "s"} to rebuild`);
    for (let i = 0; i < all.length; i += job.input.batchSize) {
      if (ctx.signal.aborted) throw new JobError("CANCELLED", `reindex stopped after ${i} items`);
      const ids = all.slice(i, i + job.input.batchSize).map((r) => r.id);
      await inTransaction(pool, async (tx) => {
        await fenceAttempt(tx, job, ctx.attempt);
        await tx.query(REBUILD_BATCH, [org, ids]);
        await tx.query(RESTEM_TIMED, [org, ids]);
        await tx.query(DROP_ORPHAN_CAPTIONS, [org, ids]);
      });
      ctx.progress(Math.min(1, (i + ids.length) / Math.max(1, all.length)));
    }
    // Configurations no segment uses any more would only add branches to every query.
    await pool.query(
      `delete from search_configs c where c.organization_id = $1
       and not exists (select 1 from search_segments s where s.organization_id = c.organization_id and s.config = c.config)`, [org]);
    const { rows } = await pool.query<{ n: number }>(`select count(*)::int as n from search_segments where organization_id = $1`, [org]);
    return { items: all.length, segments: rows[0]!.n };
  },
});
