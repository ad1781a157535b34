// A hit's matches: the item's best segments (statement 3 of the search), each with a
// highlighted snippet, and for a document page the box of the words matched, found from the
// page's word boxes (document_pages.words: [text, x, y, width, height, confidence?], PDF
// points, origin top-left).
//
// Snippets: ts_headline marks matches with two private-use characters (taken out of the
// text first), the snippet is HTML-escaped here, and the characters become <mark>…</mark>.
import type { Queryable } from "../engine/queryable.ts";
import { branchSql, Params, type Branch } from "./search-sql.ts";
import type { Box, SearchMode, SegmentKind } from "./search-index.ts";

/** Segments of an item reported with its hit, best first. */
export const MATCHES_PER_HIT = 5;
const START = "\uE000";
const STOP = "\uE001";
/** ts_headline reads at most this much of a segment (a long page): its cost grows with the text. */
const HEADLINE_CHARS = 20_000;
/** Segments up to this long are shown whole in their snippet. */
const SHORT_CHARS = 240;

export type SearchMatch = {
  kind: SegmentKind; mode: SearchMode;
  startSec: number | null; durationSec: number | null;
  page: number | null; pageWidth: number | null; pageHeight: number | null;
  box: Box | null; confidence: number | null;
  /** HTML: the text escaped, matched words in <mark>…</mark>. */
  snippet: string;
};

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/** ts_headline's output (sentinels around matches) as safe HTML; adjacent marks become one. */
export function snippetHtml(headline: string): string {
  return escapeHtml(headline.replace(/\s+/g, " ").trim())
    .replaceAll(START, "<mark>").replaceAll(STOP, "</mark>")
    .replace(/<\/mark>(\s+)<mark>/g, "$1");
}

// ---- What a tsquery looks for, read from its text -------------------------------------------

type Lexeme = { text: string; prefix: boolean; offset: number };
/** A word or a phrase the query looks for (not excluded), lexemes at their offsets from the first. */
export type Unit = Lexeme[];

/** Tokens of a tsquery's text form: `'lex'` (with ''), `:*AB` flags, & | ! ( ) and <N> / <->. */
function tokens(tsquery: string): string[] {
  const out: string[] = [];
  const re = /'((?:[^']|'')*)'(:[*A-D]+)?|<(\d+|-)>|[&|!()]/g;
  for (let m = re.exec(tsquery); m; m = re.exec(tsquery)) out.push(m[0]);
  return out;
}

/**
 * The words and phrases a tsquery asks for, in order, leaving out what `!` excludes. A
 * phrase is a run of lexemes joined by <N>; anything the reading does not follow (a group
 * inside a phrase) ends the phrase, so it never fails, it only finds less.
 */
export function unitsOf(tsquery: string): Unit[] {
  const units: Unit[] = [];
  let negateNext = false;
  const negatedDepth: number[] = [];
  let depth = 0;
  let current: Unit | null = null;
  let pendingDistance: number | null = null;
  for (const t of tokens(tsquery)) {
    if (t === "!") {
      negateNext = true;
      continue;
    }
    if (t === "(") {
      depth++;
      if (negateNext) negatedDepth.push(depth);
      negateNext = false;
      current = null;
      pendingDistance = null;
      continue;
    }
    if (t === ")") {
      if (negatedDepth.at(-1) === depth) negatedDepth.pop();
      depth = Math.max(0, depth - 1);
      current = null;
      pendingDistance = null;
      continue;
    }
    if (t.startsWith("<")) {
      pendingDistance = t === "<->" ? 1 : Number(t.slice(1, -1));
      continue;
    }
    if (t === "&" || t === "|") {
      current = null;
      pendingDistance = null;
      continue;
    }
    const m = /^'((?:[^']|'')*)'(?::([*A-D]+))?$/.exec(t)!;
    const lexeme = { text: m[1]!.replaceAll("''", "'"), prefix: (m[2] ?? "").includes("*"), offset: 0 };
    const negated = negateNext || negatedDepth.length > 0;
    negateNext = false;
    if (current && pendingDistance != null) {
      lexeme.offset = current.at(-1)!.offset + pendingDistance;
      current.push(lexeme);
    } else if (!negated) {
      current = [lexeme];
      units.push(current);
    } else {
      current = null;
    }
    pendingDistance = null;
  }
  return units;
}

/** Any lexeme of the units, as a tsquery: the page words worth looking at. */
export function anyLexemeQuery(units: Unit[]): string | null {
  const parts = [...new Set(units.flat().map((l) => `'${l.text.replaceAll("'", "''")}'${l.prefix ? ":*" : ""}`))];
  return parts.length ? parts.join(" | ") : null;
}

/** A page word that matched a lexeme of the query: its index on the page, its lexemes, its box. */
export type PageWord = [index: number, lexemes: string[], x: number, y: number, width: number, height: number];

/** The box of the first occurrence of a word or phrase of the query among the page's words. */
export function boxOf(units: Unit[], words: PageWord[]): Box | null {
  const at = new Map(words.map((w) => [w[0], w]));
  const has = (w: PageWord | undefined, l: Lexeme) => !!w && w[1].some((x) => (l.prefix ? x.startsWith(l.text) : x === l.text));
  let best: PageWord[] | null = null;
  let bestStart = Infinity;
  for (const unit of units) {
    for (const w of words) {
      if (w[0] >= bestStart) break;
      if (!has(w, unit[0]!)) continue;
      const found = unit.map((l) => at.get(w[0] + l.offset - unit[0]!.offset));
      if (unit.every((l, i) => has(found[i], l))) {
        best = found as PageWord[];
        bestStart = w[0];
        break;
      }
    }
  }
  if (!best) return null;
  const x0 = Math.min(...best.map((w) => w[2]));
  const y0 = Math.min(...best.map((w) => w[3]));
  const x1 = Math.max(...best.map((w) => w[2] + w[4]));
  const y1 = Math.max(...best.map((w) => w[3] + w[5]));
  const r = (n: number) => Math.round(n * 100) / 100;
  return { x: r(x0), y: r(y0), width: r(x1 - x0), height: r(y1 - y0) };
}

// ---- Statement 3 ----------------------------------------------------------------------------

type MatchRow = {
  item_id: string; kind: SegmentKind; mode: SearchMode; page: number | null; start_ms: number | null; duration_ms: number | null;
  box: Box | null; confidence: number | null; config: string; headline: string;
  page_width: number | null; page_height: number | null; words: PageWord[] | null;
};

/** The best segments of each item of the page, with snippets and page boxes; one statement. */
export async function matchesFor(q: Queryable, organizationId: string, itemIds: string[], modes: SearchMode[], branches: Branch[]): Promise<Map<string, SearchMatch[]>> {
  const out = new Map<string, SearchMatch[]>();
  if (!itemIds.length || !branches.length) return out;
  const p = new Params();
  const org = `${p.add(organizationId)}::uuid`;
  const ids = `${p.add(itemIds)}::uuid[]`;
  const b = branchSql(p, branches);
  const units = new Map(branches.map((br) => [br.config, unitsOf(br.tsquery)]));
  const anyRefs = branches.map((br) => ({ c: br.config, q: anyLexemeQuery(units.get(br.config)!) })).filter((r) => r.q);
  const anyQuery = anyRefs.length
    ? `(case s.config ${anyRefs.map((r) => `when ${p.add(r.c)}::regconfig then ${p.add(r.q)}::tsquery`).join(" ")} end)`
    : "null::tsquery";
  // A short segment (a cue, a title) is shown whole; a long one (a page) as its best two fragments.
  const marks = `StartSel="${START}", StopSel="${STOP}"`;
  const opts = `(case when length(s.text) <= ${SHORT_CHARS} then ${p.add(`${marks}, HighlightAll=true`)} else ${p.add(`${marks}, MaxWords=24, MinWords=8, MaxFragments=2, FragmentDelimiter=" … "`)} end)`;
  const sql = `
    select h.item_id, s.kind, s.mode, s.page, s.start_ms, s.duration_ms, s.box, s.confidence, s.config::text as config,
      ts_headline(s.config, translate(left(s.text, ${HEADLINE_CHARS}), ${p.add(START + STOP)}, ''), s.q, ${opts}) as headline,
      dp.width as page_width, dp.height as page_height,
      case when s.kind = 'PAGE' and dp.words is not null then (
        select json_agg(json_build_array(w.i - 1, tsvector_to_array(to_tsvector(s.config, w.v ->> 0)), w.v -> 1, w.v -> 2, w.v -> 3, w.v -> 4) order by w.i)
        from jsonb_array_elements(case jsonb_typeof(dp.words) when 'array' then dp.words else '[]'::jsonb end) with ordinality w(v, i)
        where jsonb_typeof(w.v) = 'array' and to_tsvector(s.config, coalesce(w.v ->> 0, '')) @@ ${anyQuery}) end as words
    from unnest(${ids}) with ordinality h(item_id, ord)
    cross join lateral (
      -- The item's own segments first (its index), then the match on those: left to itself the
      -- planner runs the query's whole GIN scan again for every item of the page (measured:
      -- about 11 ms an item at 1M segments). OFFSET 0 keeps the inner select from being merged.
      select s.*, ${b.query} as q from (
        select * from search_segments s
        where s.item_id = h.item_id and s.organization_id = ${org} and s.mode = any(${p.add(modes)}::text[]) offset 0) s
      where ${b.where}
      order by ts_rank(s.tsv, ${b.query}) desc, s.id limit ${MATCHES_PER_HIT}) s
    left join document_pages dp on s.kind = 'PAGE' and dp.document_id = s.item_id and dp.page = s.page
    order by h.ord`;
  const { rows } = await q.query<MatchRow>(sql, p.values);
  for (const r of rows) {
    const timed = r.start_ms != null;
    const list = out.get(r.item_id) ?? [];
    list.push({
      kind: r.kind, mode: r.mode,
      startSec: timed ? r.start_ms! / 1000 : null,
      durationSec: r.duration_ms != null ? r.duration_ms / 1000 : null,
      page: r.page, pageWidth: r.page_width, pageHeight: r.page_height,
      box: r.kind === "PAGE" ? (r.words ? boxOf(units.get(r.config) ?? [], r.words) : null) : r.box,
      confidence: r.confidence,
      snippet: snippetHtml(r.headline),
    });
    out.set(r.item_id, list);
  }
  return out;
}
