// search(query, modes, filter, first, after) in GraphQL: a Relay-style connection of hits
// with totalCount and facets. The work is services/search.ts; here the hits' Videos,
// Documents and thumbnail assets are loaded in one batch per kind (three statements for any
// page size), and thumbnails are signed like Asset.url.
import { SpoolError } from "../errors.ts";
import type { Asset, Document, Video } from "../generated/prisma/client.ts";
import { MAX_EXPIRES_IN, signedFilePath } from "../services/files.ts";
import { search, type SearchHit, type SearchMatch } from "../services/search.ts";
import { ITEM_TYPES, SEARCH_MODES } from "../services/search-query.ts";
import type { AssetRefs } from "./asset.ts";
import type { Builder } from "./builder.ts";
import { assetsOf, requireScope, type Context } from "./context.ts";

type LoadedHit = SearchHit & { item: Video | Document; thumbnailAsset: Asset | null };
type Connection = { totalCount: number; facets: Awaited<ReturnType<typeof search>>["facets"]; hits: LoadedHit[]; hasNextPage: boolean; endCursor: string | null };

/** Which model each loaded row is, for the SearchItem union. */
const MODEL_OF = new WeakMap<object, "Video" | "Document">();

const KINDS = ["TITLE", "TAGS", "DESCRIPTION", "METADATA", "FILENAME", "PAGE", "CAPTION", "ON_SCREEN_TEXT"] as const;

export function addSearchTypes(builder: Builder, refs: AssetRefs) {
  const SearchMode = builder.enumType("SearchMode", {
    description: "Where a match was read: TEXT (titles, descriptions, tags, metadata, file names, document pages), AUDIO (caption cues), VISUAL (text on screen).",
    values: SEARCH_MODES,
  });
  const SearchItemType = builder.enumType("SearchItemType", { values: ITEM_TYPES });
  const SearchMatchKind = builder.enumType("SearchMatchKind", { values: KINDS });

  const SearchFilter = builder.inputType("SearchFilter", {
    description: "Every condition given must hold. Facet values can be passed back as they are.",
    fields: (t) => ({
      types: t.field({ type: [SearchItemType], required: false }),
      minDurationSeconds: t.float({ required: false, description: "Duration at least this (Videos; Documents have none)." }),
      maxDurationSeconds: t.float({ required: false, description: "Duration under this: the facet bucket 300-900 is min 300, max 900." }),
      createdAfter: t.field({ type: "DateTime", required: false }),
      createdBefore: t.field({ type: "DateTime", required: false }),
      tags: t.stringList({ required: false, description: "Items carrying every one of these tags." }),
      qualities: t.stringList({ required: false, description: "SD, HD or 4K (the short side of the picture: under 720, under 2160, 2160 and up)." }),
      contentTypes: t.stringList({ required: false, description: "The source's detected content type: video/mp4, application/pdf, …" }),
      languages: t.stringList({ required: false, description: "ISO 639-3 (eng, as facets say), 639-1 (en) or BCP-47 (en-GB): a Document's detected language, a Video's caption tracks' languages." }),
    }),
  });

  const Box = builder.objectRef<{ x: number; y: number; width: number; height: number }>("SearchBox").implement({
    description: "A rectangle, origin top-left: PDF points on a document page, pixels of the frame for on-screen text.",
    fields: (t) => ({ x: t.exposeFloat("x"), y: t.exposeFloat("y"), width: t.exposeFloat("width"), height: t.exposeFloat("height") }),
  });

  const SearchMatchRef = builder.objectRef<SearchMatch>("SearchMatch").implement({
    description: "One place the query matched.",
    fields: (t) => ({
      kind: t.field({ type: SearchMatchKind, resolve: (m) => m.kind }),
      mode: t.field({ type: SearchMode, resolve: (m) => m.mode }),
      startSeconds: t.float({ nullable: true, description: "When a caption cue or on-screen text starts.", resolve: (m) => m.startSec }),
      durationSeconds: t.float({ nullable: true, description: "How long it lasts.", resolve: (m) => m.durationSec }),
      page: t.int({ nullable: true, description: "The document page (from 1).", resolve: (m) => m.page }),
      pageWidth: t.float({ nullable: true, description: "The page's size in PDF points.", resolve: (m) => m.pageWidth }),
      pageHeight: t.float({ nullable: true, resolve: (m) => m.pageHeight }),
      box: t.field({ type: Box, nullable: true, description: "PAGE: the words of the first occurrence on the page. ON_SCREEN_TEXT: where the text is in the frame.", resolve: (m) => m.box }),
      confidence: t.float({ nullable: true, description: "OCR confidence 0-100, for OCR'd pages and on-screen text.", resolve: (m) => m.confidence }),
      snippet: t.string({ description: "HTML: the matched text escaped, matched words in <mark>…</mark>.", resolve: (m) => m.snippet }),
    }),
  });

  const FacetCount = builder.objectRef<{ value: string; count: number }>("FacetCount").implement({
    fields: (t) => ({ value: t.exposeString("value"), count: t.exposeInt("count", { description: "Items, not matches." }) }),
  });
  const FACETS = [
    ["types", "VIDEO, DOCUMENT."],
    ["durations", "0-300, 300-900, 900+ (seconds; Videos)."],
    ["tags", "The 20 most frequent."],
    ["languages", "ISO 639-3."],
    ["qualities", "SD, HD, 4K (Videos)."],
  ] as const;
  const SearchFacets = builder.objectRef<Connection["facets"]>("SearchFacets").implement({
    description: "Over every hit of the query and filter (not only this page); counts are items.",
    fields: (t) => Object.fromEntries(FACETS.map(([name, description]) => [name, t.field({ type: [FacetCount], description, resolve: (f) => f[name] })])),
  });

  const SearchItem = builder.unionType("SearchItem", {
    types: ["Video", "Document"] as never,
    resolveType: (item) => MODEL_OF.get(item as object) ?? null,
  });

  const SearchHitRef = builder.objectRef<LoadedHit>("SearchHit").implement({
    fields: (t) => ({
      item: t.field({ type: SearchItem, resolve: (h) => h.item as never }),
      score: t.float({ description: "Higher is better; only comparable within one search.", resolve: (h) => h.score }),
      title: t.string({ resolve: (h) => h.title }),
      durationSeconds: t.float({ nullable: true, resolve: (h) => h.durationSec }),
      pageCount: t.int({ nullable: true, resolve: (h) => h.pageCount }),
      matchCount: t.int({ description: "How many segments matched (matches lists the best 5).", resolve: (h) => h.matchCount }),
      matches: t.field({ type: [SearchMatchRef], resolve: (h) => h.matches }),
      thumbnail: t.field({ type: refs.AssetRef, nullable: true, description: "A Video's first THUMBNAIL asset, a Document's first PREVIEW asset.", resolve: (h) => h.thumbnailAsset }),
      thumbnailUrl: t.string({
        nullable: true,
        description: "The thumbnail's signed URL (inline), valid for expiresIn seconds; null when there is none.",
        args: { expiresIn: t.arg.int({ required: false, defaultValue: 3600 }) },
        resolve: async (h, args, ctx) => {
          const a = h.thumbnailAsset;
          if (!a) return null;
          const expiresIn = args.expiresIn ?? 3600;
          if (expiresIn < 1 || expiresIn > MAX_EXPIRES_IN) throw new SpoolError("INVALID_INPUT", `expiresIn must be from 1 to ${MAX_EXPIRES_IN} seconds.`);
          const assets = assetsOf(ctx);
          const presigned = await assets.storage.presignGet(a.key, { expiresIn, filename: a.filename ?? a.id, contentType: a.contentType, inline: true });
          return presigned ?? `${ctx.baseUrl}${signedFilePath(assets.filesSecret, { id: a.id, name: a.filename ?? a.id }, { expiresIn, disposition: "inline" })}`;
        },
      }),
    }),
  });

  const SearchEdge = builder.objectRef<LoadedHit>("SearchEdge").implement({
    fields: (t) => ({ cursor: t.string({ resolve: (h) => h.cursor }), node: t.field({ type: SearchHitRef, resolve: (h) => h }) }),
  });
  const SearchConnection = builder.objectRef<Connection>("SearchConnection").implement({
    fields: (t) => ({
      totalCount: t.int({ description: "Items matching the query and filter.", resolve: (c) => c.totalCount }),
      facets: t.field({ type: SearchFacets, resolve: (c) => c.facets }),
      edges: t.field({ type: [SearchEdge], resolve: (c) => c.hits }),
      pageInfo: t.field({
        type: builder.pageInfoRef(),
        resolve: (c) => ({ hasNextPage: c.hasNextPage, hasPreviousPage: false, startCursor: c.hits[0]?.cursor ?? null, endCursor: c.endCursor }),
      }),
    }),
  });

  builder.queryFields((t) => ({
    search: t.field({
      type: SearchConnection,
      description: "Search inside the organization's Videos and Documents: titles, tags, descriptions, metadata, file names, document pages (TEXT), caption cues (AUDIO) and on-screen text (VISUAL). Query syntax as web search engines: words (all must be in one place), \"a phrase\", OR, -excluded; the last word also matches as a prefix; typos in titles and tags are forgiven. Ranked best first; at most 100 per page.",
      args: {
        query: t.arg.string({ required: true, description: "1 to 500 characters." }),
        modes: t.arg({ type: [SearchMode], required: false, description: "Default: all three." }),
        filter: t.arg({ type: SearchFilter, required: false }),
        first: t.arg.int({ required: false, description: "At most 100; default 20." }),
        after: t.arg.string({ required: false, description: "pageInfo.endCursor of the previous page (same query, modes and filter)." }),
      },
      resolve: async (_r, args, ctx) => {
        const { organizationId } = requireScope(ctx, "assets:read");
        const result = await search(ctx.pool, organizationId, {
          query: args.query, modes: args.modes ?? undefined, first: args.first, after: args.after,
          filter: args.filter ? withoutNullLists(args.filter) : undefined,
        });
        const hits = await loadHits(ctx, organizationId, result.hits);
        return { totalCount: result.totalCount, facets: result.facets, hits, hasNextPage: result.pageInfo.hasNextPage, endCursor: result.pageInfo.endCursor };
      },
    }),
  }));
}

function withoutNullLists<T extends Record<string, unknown>>(f: T): T {
  return Object.fromEntries(Object.entries(f).filter(([, v]) => v != null)) as T;
}

/**
 * The hits' Videos, Documents and thumbnails, one query each for the whole page. A hit
 * whose item was deleted since the search is left out.
 */
async function loadHits(ctx: Context, organizationId: string, hits: SearchHit[]): Promise<LoadedHit[]> {
  if (!hits.length) return [];
  const idsOf = (type: string) => hits.filter((h) => h.itemType === type).map((h) => h.itemId);
  const [videos, documents, thumbnails] = await Promise.all([
    ctx.prisma.video.findMany({ where: { id: { in: idsOf("VIDEO") }, organizationId } }),
    ctx.prisma.document.findMany({ where: { id: { in: idsOf("DOCUMENT") }, organizationId } }),
    ctx.prisma.asset.findMany({ where: { id: { in: hits.flatMap((h) => (h.thumbnail ? [h.thumbnail.id] : [])) }, organizationId } }),
  ]);
  const items = new Map<string, Video | Document>();
  for (const v of videos) (MODEL_OF.set(v, "Video"), items.set(v.id, v));
  for (const d of documents) (MODEL_OF.set(d, "Document"), items.set(d.id, d));
  const assets = new Map(thumbnails.map((a) => [a.id, a]));
  return hits.flatMap((h) => {
    const item = items.get(h.itemId);
    return item ? [{ ...h, item, thumbnailAsset: h.thumbnail ? assets.get(h.thumbnail.id) ?? null : null }] : [];
  });
}
