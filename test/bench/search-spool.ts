// Spool in the search benchmark: search() from src/services/search.ts, called as the GraphQL
// resolver calls it, on a pool wrapper that records the statements it sends, so the slowest
// query can be shown with EXPLAIN ANALYZE exactly as it ran.
import { existsSync } from "node:fs";
import type pg from "pg";
import type { Engine } from "./search-pg-plain.ts";
import type { BenchQuery } from "./search-queries.ts";

const SEARCH_TS = new URL("../../src/services/search.ts", import.meta.url);

type Captured = { text: string; values: unknown[] };
type SearchFn = (q: unknown, organizationId: string, args: Record<string, unknown>) => Promise<{ hits: Array<{ matches?: Array<{ snippet?: string | null }> }>; totalCount: number }>;
export type SpoolEngine = { engine: Engine; capture(q: BenchQuery): Promise<Captured[]> };

/** What Spool's search() takes for a benchmark query: its filter names are the service's. */
function argsOf(q: BenchQuery): Record<string, unknown> {
  const f = q.filter;
  return {
    query: q.text,
    first: 20,
    ...(f ? { filter: { types: f.types, minDurationSeconds: f.minDurationSec, maxDurationSeconds: f.maxDurationSec, qualities: f.qualities } } : {}),
  };
}

/** Spool's engine, or null while src/services/search.ts has no search(). */
export async function spoolEngine(pool: pg.Pool, organizationId: string): Promise<SpoolEngine | null> {
  if (!existsSync(SEARCH_TS)) return null;
  const mod = (await import(SEARCH_TS.href)) as { search?: SearchFn };
  if (typeof mod.search !== "function") return null;
  const search = mod.search;
  let log: Captured[] | null = null;
  const recording = {
    query(statement: string | { text: string }, values?: unknown[]) {
      log?.push({ text: typeof statement === "string" ? statement : statement.text, values: values ?? [] });
      return pool.query(statement as string, values);
    },
    connect: () => pool.connect(),
  };
  const run = async (q: BenchQuery) => {
    const r = await search(recording, organizationId, argsOf(q));
    return {
      total: r.totalCount, hits: r.hits.length,
      snippets: r.hits.filter((h) => h.matches?.some((m) => m.snippet?.includes("<mark>"))).length,
    };
  };
  return {
    engine: { name: "Spool", run },
    async capture(q) {
      log = [];
      try {
        await run(q);
        return log;
      } finally {
        log = null;
      }
    },
  };
}

/** EXPLAIN (ANALYZE, BUFFERS) of each read statement Spool sent for `q`. */
export async function explainCaptured(pool: pg.Pool, spool: SpoolEngine, q: BenchQuery): Promise<string> {
  let out = "";
  for (const [i, s] of (await spool.capture(q)).entries()) {
    if (!/^\s*(with|select)\b/i.test(s.text)) continue;
    const { rows } = await pool.query(`explain (analyze, buffers) ${s.text}`, s.values);
    out += `-- statement ${i + 1}\n${rows.map((r) => `  ${r["QUERY PLAN"]}`).join("\n")}\n`;
  }
  return out || "  (no read statement captured)\n";
}
