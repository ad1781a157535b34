// search(query, modes, filter, first, after): what Spool read inside an organization's
// Videos and Documents, ranked, with facets and matches. Three SQL statements whatever the
// page size (search-sql.ts): the query per text-search configuration, hits + total + facets,
// the page's matches (search-matches.ts). Arguments are checked first (search-query.ts).
//
// Ranking is per item: its best segment's ts_rank (title A > tags B > description C > the
// rest D, the weights of the segments' tsvectors) plus a little for each further matching
// segment; items found only by typo tolerance (trigrams of title and tags) rank below. Ties
// go by item id, so the order, and the keyset cursor over (score, item id), are stable.
import type { Queryable } from "../engine/queryable.ts";
import { matchesFor, escapeHtml, type SearchMatch } from "./search-matches.ts";
import { encodeCursor, parseSearchArgs, type ItemType, type SearchArgs } from "./search-query.ts";
import { branchesFor, queryHits, type FacetRow } from "./search-sql.ts";

export type { SearchArgs, SearchFilter } from "./search-query.ts";
export type { SearchMatch } from "./search-matches.ts";

export type SearchHit = {
  itemType: ItemType;
  itemId: string;
  score: number;
  title: string;
  durationSec: number | null;
  pageCount: number | null;
  /** A Video's first THUMBNAIL asset, a Document's first PREVIEW asset. */
  thumbnail: { id: string; key: string } | null;
  matches: SearchMatch[];
  /** How many segments of the item matched (1 for a typo-only match). */
  matchCount: number;
  cursor: string;
};

export type SearchFacets = { types: FacetRow[]; durations: FacetRow[]; tags: FacetRow[]; languages: FacetRow[]; qualities: FacetRow[] };

export type SearchResult = {
  hits: SearchHit[];
  /** Items (not segments) matching the query and filter. */
  totalCount: number;
  /** Over every hit (not just this page), after the filter; counts are items. */
  facets: SearchFacets;
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
};

const EMPTY: Omit<SearchResult, "pageInfo"> = { hits: [], totalCount: 0, facets: { types: [], durations: [], tags: [], languages: [], qualities: [] } };

export async function search(q: Queryable, organizationId: string, args: SearchArgs): Promise<SearchResult> {
  const parsed = parseSearchArgs(args);
  const { branches, languages } = await branchesFor(q, organizationId, parsed);
  if (!branches.length) return { ...EMPTY, pageInfo: { hasNextPage: false, endCursor: null } };
  const found = await queryHits(q, organizationId, parsed, branches, languages);
  const rows = found.hits.slice(0, parsed.first);
  const matches = await matchesFor(q, organizationId, rows.filter((r) => !r.fuzzy_kind).map((r) => r.item_id), parsed.modes, branches);
  const hits = rows.map((r): SearchHit => ({
    itemType: r.item_type,
    itemId: r.item_id,
    score: r.score,
    title: r.title,
    durationSec: r.duration_sec,
    pageCount: r.page_count,
    thumbnail: r.thumbnail_id && r.thumbnail_key ? { id: r.thumbnail_id, key: r.thumbnail_key } : null,
    matches: r.fuzzy_kind ? [typoMatch(r.fuzzy_kind, r.fuzzy_kind === "TITLE" ? r.title : r.tags.join(" "))] : matches.get(r.item_id) ?? [],
    matchCount: r.match_count,
    cursor: encodeCursor(parsed.fingerprint, r.score, r.item_id),
  }));
  return {
    hits,
    totalCount: found.total,
    facets: { types: found.types, durations: found.durations, tags: found.tags, languages: found.languages, qualities: found.qualities },
    pageInfo: { hasNextPage: found.hits.length > parsed.first, endCursor: hits.at(-1)?.cursor ?? null },
  };
}

/** A title or tags found by trigrams: no word of the query is in it as written, so nothing is marked. */
function typoMatch(kind: "TITLE" | "TAGS", text: string): SearchMatch {
  return {
    kind, mode: "TEXT", startSec: null, durationSec: null, page: null, pageWidth: null, pageHeight: null, box: null, confidence: null,
    snippet: escapeHtml(text),
  };
}
