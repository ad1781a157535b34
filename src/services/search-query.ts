// The search query's arguments, checked before any SQL: the query text (length, NUL), the
// filter, the page size and the cursor. Also what the SQL needs from the raw text that
// websearch_to_tsquery does not say: the last word when it is a plain one (prefix matching),
// the plain words (typo tolerance) and the excluded words (kept out of typo matches).
import { createHash } from "node:crypto";
import { SpoolError } from "../errors.ts";
import { isUuid } from "../uuid.ts";
import type { SearchMode } from "./search-index.ts";

export const MAX_QUERY_CHARS = 500;
export const MAX_FIRST = 100;
export const DEFAULT_FIRST = 20;
const MAX_LIST = 20;
const MAX_VALUE_CHARS = 200;

export const SEARCH_MODES = ["TEXT", "AUDIO", "VISUAL"] as const satisfies readonly SearchMode[];
export const ITEM_TYPES = ["VIDEO", "DOCUMENT"] as const;
export const QUALITIES = ["SD", "HD", "4K"] as const;
export type ItemType = (typeof ITEM_TYPES)[number];
export type Quality = (typeof QUALITIES)[number];

export type SearchFilter = {
  types?: readonly ItemType[] | null;
  /** Seconds, inclusive. */
  minDurationSeconds?: number | null;
  /** Seconds, exclusive (the facet buckets' bounds: 0–300 is 0 ≤ d < 300). */
  maxDurationSeconds?: number | null;
  createdAfter?: Date | null;
  createdBefore?: Date | null;
  /** Items carrying every one of these tags. */
  tags?: readonly string[] | null;
  qualities?: readonly string[] | null;
  contentTypes?: readonly string[] | null;
  /** ISO 639-3, 639-1 or BCP-47 (en-US): items in any of them. */
  languages?: readonly string[] | null;
};

export type SearchArgs = { query: string; modes?: readonly SearchMode[] | null; filter?: SearchFilter | null; first?: number | null; after?: string | null };

export type ParsedQuery = {
  text: string;
  modes: SearchMode[];
  filter: SearchFilter;
  first: number;
  after: { score: number; itemId: string } | null;
  /** The last word when it is plain (not quoted, not negated, not OR): a candidate for prefix matching. */
  lastWord: string | null;
  /** The words outside quotes and not negated, for trigram matching of titles and tags; "" when none. */
  plainWords: string;
  /** Negated words and phrases, joined with " OR " for websearch_to_tsquery; "" when none. */
  excluded: string;
  /** Ties a cursor to the query that made it. */
  fingerprint: string;
};

function invalid(message: string): never {
  throw new SpoolError("INVALID_INPUT", message);
}

function checkList(name: string, list: readonly string[] | null | undefined, allowed?: readonly string[]): string[] | undefined {
  if (list == null) return undefined;
  if (list.length > MAX_LIST) invalid(`filter.${name} lists at most ${MAX_LIST} values.`);
  for (const v of list) {
    if (typeof v !== "string" || v.length === 0 || v.length > MAX_VALUE_CHARS || v.includes("\0")) invalid(`filter.${name}: each value is 1 to ${MAX_VALUE_CHARS} characters.`);
    if (allowed && !allowed.includes(v)) invalid(`filter.${name}: ${JSON.stringify(v)} is not one of ${allowed.join(", ")}.`);
  }
  return list.length ? [...list] : undefined;
}

function checkSeconds(name: string, v: number | null | undefined): number | undefined {
  if (v == null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) invalid(`filter.${name} must be a number of seconds, 0 or more.`);
  return v;
}

function checkDate(name: string, v: Date | null | undefined): Date | undefined {
  if (v == null) return undefined;
  if (!(v instanceof Date) || Number.isNaN(v.getTime())) invalid(`filter.${name} must be a date-time.`);
  return v;
}

function checkFilter(f: SearchFilter | null | undefined): SearchFilter {
  const out: SearchFilter = {
    types: checkList("types", f?.types, ITEM_TYPES) as ItemType[] | undefined,
    minDurationSeconds: checkSeconds("minDurationSeconds", f?.minDurationSeconds),
    maxDurationSeconds: checkSeconds("maxDurationSeconds", f?.maxDurationSeconds),
    createdAfter: checkDate("createdAfter", f?.createdAfter),
    createdBefore: checkDate("createdBefore", f?.createdBefore),
    tags: checkList("tags", f?.tags),
    qualities: checkList("qualities", f?.qualities, QUALITIES),
    contentTypes: checkList("contentTypes", f?.contentTypes),
    languages: checkList("languages", f?.languages),
  };
  if (out.minDurationSeconds != null && out.maxDurationSeconds != null && out.minDurationSeconds > out.maxDurationSeconds) {
    invalid("filter.minDurationSeconds is more than filter.maxDurationSeconds.");
  }
  return out;
}

/** websearch_to_tsquery's reading of the raw text, as far as prefix and typo matching need it. */
function wordsOf(text: string): { lastWord: string | null; plain: string[]; excluded: string[] } {
  const plain: string[] = [];
  const excluded: string[] = [];
  let lastWord: string | null = null;
  // Quoted runs (an unclosed quote runs to the end, as in websearch_to_tsquery), else words.
  const re = /(-?)"([^"]*)("?)|(\S+)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    lastWord = null;
    if (m[4] === undefined) {
      if (m[1]) excluded.push(`"${m[2]}"`);
      continue;
    }
    const word = m[4];
    if (word.toLowerCase() === "or") continue;
    if (word.startsWith("-")) {
      if (word.length > 1) excluded.push(word.slice(1));
      continue;
    }
    // A word glued to a quote (ab"cd") is not plain.
    if (word.includes('"')) continue;
    plain.push(word);
    lastWord = word;
  }
  return { lastWord, plain, excluded };
}

export function encodeCursor(fingerprint: string, score: number, itemId: string): string {
  return Buffer.from(JSON.stringify([fingerprint, score, itemId])).toString("base64url");
}

function decodeCursor(fingerprint: string, cursor: string): { score: number; itemId: string } {
  const bad = () => invalid("after is not a cursor of this search: pass pageInfo.endCursor of the same query, modes and filter.");
  if (cursor.length > 200 || !/^[A-Za-z0-9_-]+$/.test(cursor)) bad();
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    bad();
  }
  if (!Array.isArray(v) || v.length !== 3 || v[0] !== fingerprint || typeof v[1] !== "number" || !Number.isFinite(v[1]) || !isUuid(v[2])) bad();
  const [, score, itemId] = v as [string, number, string];
  return { score, itemId: itemId.toLowerCase() };
}

export function parseSearchArgs(args: SearchArgs): ParsedQuery {
  if (typeof args.query !== "string") invalid("query must be a string.");
  if (args.query.includes("\0")) invalid("query must not contain a NUL character.");
  const text = args.query.trim();
  if (text === "") invalid("query is empty: give at least one word.");
  if ([...text].length > MAX_QUERY_CHARS) invalid(`query is at most ${MAX_QUERY_CHARS} characters.`);
  const modes = args.modes == null || args.modes.length === 0 ? [...SEARCH_MODES] : [...new Set(args.modes)];
  for (const m of modes) if (!SEARCH_MODES.includes(m)) invalid(`modes: ${JSON.stringify(m)} is not one of ${SEARCH_MODES.join(", ")}.`);
  modes.sort();
  const first = args.first ?? DEFAULT_FIRST;
  if (!Number.isInteger(first) || first < 0 || first > MAX_FIRST) invalid(`first must be from 0 to ${MAX_FIRST}; fetch further pages with after: pageInfo.endCursor.`);
  const filter = checkFilter(args.filter);
  const fingerprint = createHash("sha256").update(JSON.stringify([text, modes, filter])).digest("base64url").slice(0, 12);
  const after = args.after == null || args.after === "" ? null : decodeCursor(fingerprint, args.after);
  const words = wordsOf(text);
  const plainWords = words.plain.map((w) => w.replace(/[^\p{L}\p{N}]+/gu, " ")).join(" ").replace(/\s+/g, " ").trim();
  return {
    text, modes, filter, first, after,
    lastWord: words.lastWord,
    plainWords: plainWords.length >= 3 ? plainWords.slice(0, MAX_VALUE_CHARS) : "",
    excluded: words.excluded.join(" OR "),
    fingerprint,
  };
}
