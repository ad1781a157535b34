// The search's SQL. Three statements whatever the page size: (1) the query parsed by
// websearch_to_tsquery once per text-search configuration the organization's segments use,
// (2) hits, total and facets in one statement, (3) the returned page's best segments with
// their highlighted snippets and word boxes (ts_headline only runs there).
//
// Each configuration is a branch of its own, `(s.config = $c AND s.tsv @@ $q)`, OR-ed
// together: the GIN index on tsv answers each (a BitmapOr), and a segment is only matched by
// the query stemmed the way its own text was.
import type { Queryable } from "../engine/queryable.ts";
import { SpoolError } from "../errors.ts";
import type { ParsedQuery } from "./search-query.ts";

/**
 * One configuration's query: its name, the tsquery text (prefix already applied) and what
 * the query excludes, as a tsquery of its own ("" when nothing): an excluded word keeps its
 * item out of the hits even when another segment of the item matched.
 */
export type Branch = { config: string; tsquery: string; exclude: string };

type ConfigRow = { config: string; present: boolean; q: string; last: string; neg: string; languages: (string | null)[] | null };

/** tsquery text of one lexeme, quotes doubled: `'harbour'`. */
const SINGLE_LEXEME = /^'(?:[^']|'')+'$/;

/**
 * Statement 1: the query per configuration. A branch whose query is empty (only stopwords
 * of that language) is left out; `simple` (which has no stopwords) is left out too when the
 * query is only stopwords in a language of the organization (English when it has none), so
 * "the of" finds nothing instead of every unstemmed segment holding "the".
 */
export async function branchesFor(q: Queryable, organizationId: string, parsed: ParsedQuery): Promise<{ branches: Branch[]; languages: string[] | undefined }> {
  const { rows } = await q.query<ConfigRow>(
    `select c.config::text as config, c.present, websearch_to_tsquery(c.config, $2)::text as q,
            coalesce(websearch_to_tsquery(c.config, $3)::text, '') as last,
            coalesce(websearch_to_tsquery(c.config, $5)::text, '') as neg,
            (select array_agg(spool_language_code(l)) from unnest($4::text[]) l) as languages
     from (select config, true as present from search_configs where organization_id = $1
           union select 'simple'::regconfig, true
           union select 'english'::regconfig, false) c`,
    [organizationId, parsed.text, parsed.lastWord ?? "", parsed.filter.languages ?? [], parsed.excluded],
  );
  // english appears twice when present: once true, once false.
  const byConfig = new Map<string, ConfigRow>();
  for (const r of rows) if (!byConfig.has(r.config) || r.present) byConfig.set(r.config, r);
  const stemmed = [...byConfig.values()].filter((r) => r.config !== "simple" && (r.present || ![...byConfig.values()].some((o) => o.present && o.config !== "simple")));
  const onlyStopwords = stemmed.some((r) => r.q === "");
  const branches: Branch[] = [];
  for (const r of [...byConfig.values()].sort((a, b) => a.config.localeCompare(b.config))) {
    if (!r.present || r.q === "") continue;
    if (r.config === "simple" && onlyStopwords) continue;
    branches.push({ config: r.config, tsquery: withPrefix(r.q, r.last), exclude: r.neg });
  }
  const languages = parsed.filter.languages;
  const codes = rows[0]?.languages ?? [];
  if (languages?.length) {
    const bad = languages.filter((_, i) => codes[i] == null);
    if (bad.length) throw new SpoolError("INVALID_INPUT", `filter.languages: ${bad.map((l) => JSON.stringify(l)).join(", ")} is not a language code (ISO 639-1, 639-3 or BCP-47).`);
  }
  return { branches, languages: languages?.length ? (codes as string[]) : undefined };
}

/**
 * The last word, when plain, matches as a prefix: its lexeme becomes `lexeme:*`. Only when
 * that word is one lexeme of its own and is the last thing in the query text (a stopword
 * gives no lexeme, so the word before it is left alone); otherwise the query is unchanged.
 */
function withPrefix(tsquery: string, last: string): string {
  if (!last || !SINGLE_LEXEME.test(last) || !tsquery.endsWith(last)) return tsquery;
  const before = tsquery.slice(0, tsquery.length - last.length);
  // The same lexeme text could end a longer one ('o''neil' ends with 'neil'): only at a boundary.
  if (before !== "" && !/[\s(&|!>]$/.test(before)) return tsquery;
  return `${tsquery}:*`;
}

/** Builds numbered parameters. */
export class Params {
  readonly values: unknown[] = [];
  add(v: unknown): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }
}

/** `(s.config = $c1 and s.tsv @@ $q1) or …` and the query of a segment's own configuration. */
export function branchSql(p: Params, branches: Branch[], alias = "s"): { where: string; query: string } {
  const refs = branches.map((b) => ({ c: `${p.add(b.config)}::regconfig`, q: `${p.add(b.tsquery)}::tsquery` }));
  const where = refs.map((r) => `(${alias}.config = ${r.c} and ${alias}.tsv @@ ${r.q})`).join(" or ");
  const query = refs.length === 1 ? refs[0]!.q : `(case ${alias}.config ${refs.map((r) => `when ${r.c} then ${r.q}`).join(" ")} end)`;
  return { where: `(${where})`, query };
}

/** The filter as conditions on search_items `i`. */
export function filterSql(p: Params, parsed: ParsedQuery, languages: string[] | undefined): string {
  const f = parsed.filter;
  const c: string[] = [];
  if (f.types?.length) c.push(`i.item_type = any(${p.add(f.types)}::text[])`);
  if (f.minDurationSeconds != null) c.push(`i.duration_sec >= ${p.add(f.minDurationSeconds)}::float8`);
  if (f.maxDurationSeconds != null) c.push(`i.duration_sec < ${p.add(f.maxDurationSeconds)}::float8`);
  if (f.createdAfter) c.push(`i.created_at > ${p.add(f.createdAfter)}::timestamptz`);
  if (f.createdBefore) c.push(`i.created_at < ${p.add(f.createdBefore)}::timestamptz`);
  if (f.tags?.length) c.push(`i.tags @> ${p.add(f.tags)}::text[]`);
  if (f.qualities?.length) c.push(`i.quality = any(${p.add(f.qualities)}::text[])`);
  if (f.contentTypes?.length) c.push(`i.content_type = any(${p.add(f.contentTypes)}::text[])`);
  if (languages?.length) c.push(`i.languages && ${p.add(languages)}::text[]`);
  return c.length ? c.join(" and ") : "true";
}

/** Weight of a typo-only match (a trigram similarity, 0.45..1) against ts_rank's scores. */
export const FUZZY_WEIGHT = 0.01;
/** How much each further matching segment of an item adds (on a log scale). */
const COUNT_WEIGHT = 0.01;

export type HitRow = {
  item_id: string; item_type: "VIDEO" | "DOCUMENT"; score: number; title: string; tags: string[];
  duration_sec: number | null; page_count: number | null; match_count: number;
  fuzzy_kind: "TITLE" | "TAGS" | null; thumbnail_id: string | null; thumbnail_key: string | null;
};
export type FacetRow = { value: string; count: number };
export type HitsResult = {
  total: number; hits: HitRow[];
  types: FacetRow[]; durations: FacetRow[]; tags: FacetRow[]; languages: FacetRow[]; qualities: FacetRow[];
};

/** Statement 2: the page of hits (first + 1, to know whether there is a next), the total and the facets. */
export async function queryHits(q: Queryable, organizationId: string, parsed: ParsedQuery, branches: Branch[], languages: string[] | undefined): Promise<HitsResult> {
  const p = new Params();
  const org = `${p.add(organizationId)}::uuid`;
  // Typo tolerance widens a query that found words; a query of stopwords only finds nothing.
  const fuzzy = branches.length > 0 && parsed.modes.includes("TEXT") && parsed.plainWords !== "";
  const ctes: string[] = [];
  const sources: string[] = [];
  const modes = `${p.add(parsed.modes)}::text[]`;
  const negative = branches.filter((b) => b.exclude !== "");
  if (negative.length) {
    const n = branchSql(p, negative.map((b) => ({ ...b, tsquery: b.exclude })));
    ctes.push(`excluded as (select distinct s.item_id from search_segments s where s.organization_id = ${org} and s.mode = any(${modes}) and ${n.where})`);
  }
  const notExcluded = (col: string) => (negative.length ? `and ${col} not in (select item_id from excluded)` : "");
  if (branches.length) {
    const b = branchSql(p, branches);
    ctes.push(`seg as (
      select s.item_id, max(ts_rank(s.tsv, ${b.query}))::float8 + ${COUNT_WEIGHT} * ln(count(*)) as score, count(*)::int as n
      from search_segments s
      where s.organization_id = ${org} and s.mode = any(${modes}) and ${b.where} ${notExcluded("s.item_id")}
      group by s.item_id)`);
    sources.push(`select item_id, score, n, null::text as fuzzy_kind from seg`);
  }
  if (fuzzy) {
    ctes.push(`fz as (
      select f.item_id, ${FUZZY_WEIGHT} * f.similarity::float8 as score, 1 as n,
             case when f.title_similarity >= 0.45 then 'TITLE' else 'TAGS' end as fuzzy_kind
      from spool_search_fuzzy(${org}, ${p.add(parsed.plainWords)}) f
      where true ${notExcluded("f.item_id")} ${branches.length ? "and not exists (select 1 from seg where seg.item_id = f.item_id)" : ""})`);
    sources.push(`select item_id, score, n, fuzzy_kind from fz`);
  }
  if (!sources.length) return { total: 0, hits: [], types: [], durations: [], tags: [], languages: [], qualities: [] };
  const after = parsed.after
    ? `where (h.score < ${p.add(parsed.after.score)}::float8 or (h.score = $${p.values.length}::float8 and h.item_id > ${p.add(parsed.after.itemId)}::uuid))`
    : "";
  const sql = `with ${ctes.join(",\n")},
    hits as materialized (
      select c.item_id, c.score, c.n, c.fuzzy_kind, i.item_type, i.title, i.tags, i.duration_sec, i.page_count, i.quality, i.languages
      from (${sources.join(" union all ")}) c
      join search_items i on i.item_id = c.item_id and i.organization_id = ${org}
      where ${filterSql(p, parsed, languages)}),
    page as (
      select h.* from hits h ${after}
      order by h.score desc, h.item_id limit ${p.add(parsed.first + 1)})
    select
      (select count(*)::int from hits) as total,
      (select coalesce(json_agg(json_build_object('item_id', pg.item_id, 'item_type', pg.item_type, 'score', pg.score, 'title', pg.title,
          'tags', pg.tags, 'duration_sec', pg.duration_sec, 'page_count', pg.page_count, 'match_count', pg.n, 'fuzzy_kind', pg.fuzzy_kind,
          'thumbnail_id', t.id, 'thumbnail_key', t.key) order by pg.score desc, pg.item_id), '[]')
        from page pg
        left join lateral (select a.id, a.key from assets a
          where (a.video_id = pg.item_id and a.role = 'THUMBNAIL') or (a.document_id = pg.item_id and a.role = 'PREVIEW')
          order by a.created_at, a.id limit 1) t on true) as hits,
      (select coalesce(json_agg(json_build_object('value', v, 'count', n) order by n desc, v), '[]')
        from (select item_type as v, count(*)::int as n from hits group by 1) x) as types,
      (select coalesce(json_agg(json_build_object('value', v, 'count', n) order by o), '[]')
        from (select case when duration_sec < 300 then '0-300' when duration_sec < 900 then '300-900' else '900+' end as v,
                     min(case when duration_sec < 300 then 0 when duration_sec < 900 then 1 else 2 end) as o, count(*)::int as n
              from hits where duration_sec is not null group by 1) x) as durations,
      (select coalesce(json_agg(json_build_object('value', v, 'count', n) order by n desc, v), '[]')
        from (select t as v, count(*)::int as n from hits cross join lateral (select distinct unnest(hits.tags) as t) u group by 1 order by 2 desc, 1 limit 20) x) as tags,
      (select coalesce(json_agg(json_build_object('value', v, 'count', n) order by n desc, v), '[]')
        from (select l as v, count(*)::int as n from hits cross join lateral (select distinct unnest(hits.languages) as l) u group by 1) x) as languages,
      (select coalesce(json_agg(json_build_object('value', v, 'count', n) order by n desc, v), '[]')
        from (select quality as v, count(*)::int as n from hits where quality is not null group by 1) x) as qualities`;
  const { rows } = await q.query<HitsResult>(sql, p.values);
  return rows[0]!;
}
