// The peer "Postgres without Spool's index": the same segments in bench_plain_segments, whose
// tsvector column is stored (copied from search_segments) but has no GIN index, so every
// query scans the organization's segments. Same query shape as Spool's: each text-search
// configuration the organization uses parses the query once and matches its own segments;
// rank (ts_rank), group by item, count, the first 20 by score; facets over all matched items
// and ts_headline for the page's best segments when the query kind asks for them.
import type pg from "pg";
import type { BenchQuery } from "./search-queries.ts";

export type Outcome = { total: number; hits: number; snippets: number };
export type Engine = { name: string; run(q: BenchQuery): Promise<Outcome> };

const FACETS = `,
  (select coalesce(json_agg(json_build_array(item_type, c)), '[]') from (select item_type, count(*) c from h group by 1) f) types,
  (select coalesce(json_agg(json_build_array(b, c)), '[]') from (select case when duration_sec < 300 then '0-300' when duration_sec < 900 then '300-900' else '900+' end b, count(*) c
     from h where duration_sec is not null group by 1) f) durations,
  (select coalesce(json_agg(json_build_array(t, c)), '[]') from (select t, count(*) c from h, unnest(h.tags) t group by t order by c desc, t limit 20) f) tags,
  (select coalesce(json_agg(json_build_array(l, c)), '[]') from (select l, count(*) c from h, unnest(h.languages) l group by l) f) languages,
  (select coalesce(json_agg(json_build_array(quality, c)), '[]') from (select quality, count(*) c from h where quality is not null group by 1) f) qualities`;

export async function plainPostgres(pool: pg.Pool, organizationId: string): Promise<Engine> {
  const configs: string[] = (await pool.query(`select config::text as c from search_configs where organization_id = $1 union select 'simple' order by 1`, [organizationId])).rows.map((r) => r.c);
  const qcols = configs.map((c, i) => `websearch_to_tsquery('${c}', $2) q${i}`).join(", ");
  const match = configs.map((c, i) => `(s.config = '${c}'::regconfig and s.tsv @@ q.q${i})`).join(" or ");
  const rankQ = `case s.config ${configs.map((c, i) => `when '${c}'::regconfig then q.q${i}`).join(" ")} end`;
  const sql = (q: BenchQuery) => {
    const f = q.filter;
    const where = f
      ? `and i.item_type = any($3::text[]) and i.duration_sec >= $4 and i.duration_sec < $5 and i.quality = any($6::text[])`
      : "";
    return `with q as (select ${qcols}),
      m as (select s.item_id, s.id, ts_rank(s.tsv, ${rankQ}) r from bench_plain_segments s, q where s.organization_id = $1 and (${match})),
      h as (select i.item_id, i.item_type, i.duration_sec, i.tags, i.languages, i.quality, max(m.r) score, count(*) n, (array_agg(m.id order by m.r desc, m.id))[1] best
            from m join search_items i on i.item_id = m.item_id where i.organization_id = $1 ${where} group by i.item_id)
      select (select count(*) from h)::int total,
        (select coalesce(json_agg(json_build_array(item_id, score, best)), '[]') from (select item_id, score, best from h order by score desc, item_id limit 20) x) top
        ${q.facets ? FACETS : ""}`;
  };
  const headline = `with q as (select ${qcols})
    select s.id, ts_headline(s.config, s.text, ${rankQ}, 'StartSel=<mark>, StopSel=</mark>, MaxWords=20, MinWords=5, MaxFragments=1') h
    from bench_plain_segments s, q where s.id = any($3::bigint[]) and s.organization_id = $1`;
  return {
    name: "Postgres, no GIN",
    async run(q) {
      const values: unknown[] = [organizationId, q.text];
      if (q.filter) values.push(q.filter.types, q.filter.minDurationSec, q.filter.maxDurationSec, q.filter.qualities);
      const { rows } = await pool.query(sql(q), values);
      const top = rows[0].top as Array<[string, number, string]>;
      let snippets = 0;
      if (q.highlights && top.length) {
        const hl = await pool.query(headline, [organizationId, q.text, top.map((t) => t[2])]);
        snippets = hl.rows.filter((r) => r.h.includes("<mark>")).length;
      }
      return { total: rows[0].total, hits: top.length, snippets };
    },
  };
}
