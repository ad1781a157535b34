// The peer a user would pick instead: SQLite FTS5 (node-sqlite3-wasm, pure WebAssembly, from
// npm), in one file. The same segments as Spool's index (TEXT ones included) in an FTS5 table
// (porter stemmer over unicode61: SQLite has no French stemmer), items and their tags and
// languages in plain tables. A query: MATCH, bm25() ranking, group by item (the best segment
// per item by bm25, SQLite's bare-column rule for min()), count, the first 20; facets by GROUP
// BY over the matched items, snippet() for the page's best segments.
import { statSync } from "node:fs";
import { performance } from "node:perf_hooks";
import nodeSqlite from "node-sqlite3-wasm";
import type { CorpusItem } from "./search-corpus.ts";
import type { Engine } from "./search-pg-plain.ts";
import type { BenchQuery } from "./search-queries.ts";

const { Database } = nodeSqlite as unknown as { Database: typeof import("node-sqlite3-wasm").Database };
type Db = InstanceType<typeof Database>;

const quality = (h: number | null, w: number | null) => (h == null || w == null ? null : Math.min(h, w) >= 2160 ? "4K" : Math.min(h, w) >= 720 ? "HD" : "SD");

export type SqliteIndex = { db: Db; file: string; items: number; segments: number; loadMs: number; bytes(): number };

export function loadSqlite(file: string, items: Iterable<CorpusItem>, progress: (s: string) => void): SqliteIndex {
  const db = new Database(file);
  db.exec(`pragma journal_mode = off; pragma synchronous = off; pragma cache_size = -262144; pragma temp_store = memory;
    create table items (id integer primary key, org integer not null, type text not null, duration real, quality text, created integer not null);
    create table item_tags (item integer not null, tag text not null);
    create table item_langs (item integer not null, lang text not null);
    create virtual table seg using fts5(text, item unindexed, kind unindexed, start_ms unindexed, page unindexed, tokenize = 'porter unicode61 remove_diacritics 2');`);
  const t0 = performance.now();
  const insItem = db.prepare(`insert into items (id, org, type, duration, quality, created) values (?, ?, ?, ?, ?, ?)`);
  const insTag = db.prepare(`insert into item_tags (item, tag) values (?, ?)`);
  const insLang = db.prepare(`insert into item_langs (item, lang) values (?, ?)`);
  const insSeg = db.prepare(`insert into seg (text, item, kind, start_ms, page) values (?, ?, ?, ?, ?)`);
  let n = 0;
  let segments = 0;
  db.exec("begin");
  for (const item of items) {
    const id = ++n;
    insItem.run([id, item.org, item.type, item.durationSec, quality(item.height, item.width), item.createdAt.getTime()]);
    for (const t of item.tags) insTag.run([id, t]);
    // As search_items says: a Video's caption track languages ("und" when unknown), a Document's detected language.
    const lang = item.type === "VIDEO" ? (item.captions.length ? (item.language ?? "und") : null) : item.language;
    if (lang) insLang.run([id, lang]);
    insSeg.run([item.title, id, "TITLE", null, null]);
    if (item.tags.length) insSeg.run([item.tags.join(" "), id, "TAGS", null, null]);
    if (item.description) insSeg.run([item.description, id, "DESCRIPTION", null, null]);
    for (const c of item.captions) insSeg.run([c.text, id, "CAPTION", c.startMs, null]);
    for (const s of item.onScreen) insSeg.run([s.text, id, "ON_SCREEN_TEXT", s.startMs, null]);
    item.pages.forEach((p, i) => insSeg.run([p, id, "PAGE", null, i + 1]));
    segments += item.segmentCount;
    if (n % 500 === 0) {
      db.exec("commit; begin");
      progress(`  sqlite: ${n} items, ${segments} segments`);
    }
  }
  db.exec("commit");
  db.exec(`create index item_tags_item on item_tags (item); create index item_langs_item on item_langs (item); create index items_org on items (org);`);
  // FTS5 merges its b-tree segments into one, as after a bulk load one would.
  db.exec(`insert into seg (seg) values ('optimize'); analyze;`);
  for (const s of [insItem, insTag, insLang, insSeg]) s.finalize();
  const loadMs = performance.now() - t0;
  return { db, file, items: n, segments, loadMs, bytes: () => statSync(file).size };
}

const FACETS = `,
  (select json_group_array(json_array(type, c)) from (select type, count(*) c from h group by type)) types,
  (select json_group_array(json_array(b, c)) from (select case when duration < 300 then '0-300' when duration < 900 then '300-900' else '900+' end b, count(*) c
     from h where duration is not null group by b)) durations,
  (select json_group_array(json_array(tag, c)) from (select t.tag, count(*) c from h join item_tags t on t.item = h.item group by t.tag order by c desc, t.tag limit 20)) tags,
  (select json_group_array(json_array(lang, c)) from (select l.lang, count(*) c from h join item_langs l on l.item = h.item group by l.lang)) languages,
  (select json_group_array(json_array(quality, c)) from (select quality, count(*) c from h where quality is not null group by quality)) qualities`;

/** FTS5 syntax for the same query: each word quoted (no operator can sneak in), a phrase as one string. */
const ftsQuery = (q: BenchQuery) => (q.phrase ? `"${q.words.join(" ")}"` : q.words.map((w) => `"${w}"`).join(" "));

export function sqliteEngine(ix: SqliteIndex, org: number): Engine {
  const statements = new Map<string, ReturnType<Db["prepare"]>>();
  const prepared = (sql: string) => statements.get(sql) ?? statements.set(sql, ix.db.prepare(sql)).get(sql)!;
  return {
    name: "SQLite FTS5 (wasm)",
    async run(q) {
      const f = q.filter;
      const where = f ? `and i.type = 'VIDEO' and i.duration >= ${f.minDurationSec} and i.duration < ${f.maxDurationSec} and i.quality = 'HD'` : "";
      const sql = `with m as materialized (select rowid sid, item, bm25(seg) r from seg where seg match ?),
        h as materialized (select i.id item, min(m.r) score, m.sid best, count(*) n, i.type, i.duration, i.quality
          from m join items i on i.id = m.item where i.org = ? ${where} group by i.id)
        select (select count(*) from h) total,
          (select json_group_array(json_array(item, score, best)) from (select item, score, best from h order by score, item limit 20)) top
          ${q.facets ? FACETS : ""}`;
      const match = ftsQuery(q);
      const row = prepared(sql).get([match, org]) as { total: number; top: string };
      const top = JSON.parse(row.top) as Array<[number, number, number]>;
      let snippets = 0;
      if (q.highlights && top.length) {
        const rows = prepared(`select rowid, snippet(seg, 0, '<mark>', '</mark>', '…', 20) s from seg where seg match ? and rowid in (select value from json_each(?))`)
          .all([match, JSON.stringify(top.map((t) => t[2]))]) as Array<{ s: string }>;
        snippets = rows.filter((r) => r.s.includes("<mark>")).length;
      }
      return { total: row.total, hits: top.length, snippets };
    },
  };
}
