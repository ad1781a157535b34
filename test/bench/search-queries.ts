// The search benchmark's queries: sampled once with a seeded PRNG, the same list for every
// engine and every size. Phrases and word pairs come from the first items of the queried organization,
// which every size holds (a smaller corpus is a prefix of a larger one: same seed).
import { corpus, FUNCTION_WORDS, rng, type CorpusOptions, type Vocabulary } from "./search-corpus.ts";

export const KINDS = ["one word", "two words", "phrase", "filters + facets", "page + highlights", "common word"] as const;
export type Kind = (typeof KINDS)[number];

export type Filter = { types: ["VIDEO"]; minDurationSec: number; maxDurationSec: number; qualities: ["HD"] };
export type BenchQuery = {
  kind: Kind;
  /** websearch syntax (Spool, Postgres) */
  text: string;
  words: string[];
  phrase: boolean;
  filter: Filter | null;
  /** What a peer computes besides the count and the first 20: facets, snippets of the page. */
  facets: boolean;
  highlights: boolean;
};

// Snowball's English stopwords (Postgres' english config): a query made only of them finds
// nothing in Postgres and everything in SQLite, so the samples avoid them.
const ENGLISH_STOPWORDS = new Set(("i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her hers herself it its itself they them their theirs themselves what which who whom this that these those am is are was were be been being have has had having do does did doing a an the and but if or because as until while of at by for with about against between into through during before after above below to from up down in out on off over under again further then once here there when where why how all any both each few more most other some such no nor not only own same so than too very s t can will just don should now").split(" "));

export const FILTER: Filter = { types: ["VIDEO"], minDurationSec: 60, maxDurationSec: 1800, qualities: ["HD"] };

/** `perKind` queries of each kind. */
export function sampleQueries(v: Vocabulary, o: CorpusOptions, perKind: number, seed: number): BenchQuery[] {
  const r = rng(seed);
  const stop = new Set([...FUNCTION_WORDS, ...ENGLISH_STOPWORDS]);
  const pick = (lo: number, hi: number): string => {
    for (;;) {
      const w = v.words[lo + Math.floor(r() * (hi - lo + 1))]!;
      if (!ENGLISH_STOPWORDS.has(w)) return w;
    }
  };
  const mid = () => pick(200, 5000);
  // English caption cues and pages of the queried organization among the first 10,000 segments:
  // phrases (3 consecutive words, none a stopword) and word pairs (two words of one segment,
  // what someone who remembers a passage types).
  const phrases: string[] = [];
  const pairs: string[][] = [];
  for (const item of corpus(v, { ...o, segments: Math.min(o.segments, 10_000) })) {
    if (item.org !== 0 || item.language !== "eng") continue;
    for (const t of [...item.captions.map((c) => c.text), ...item.pages]) {
      const w = t.toLowerCase().replace(/[^a-z ]/g, "").split(" ");
      for (let i = 0; i + 3 <= w.length; i++) {
        const three = w.slice(i, i + 3);
        if (three.every((x) => x && !stop.has(x))) phrases.push(three.join(" "));
      }
      const content = Array.from(new Set(w.filter((x) => x && !stop.has(x))));
      if (content.length >= 2) pairs.push(content);
    }
  }
  if (phrases.length < perKind || pairs.length < perKind) throw new Error("too few phrases in the corpus's first items");
  const pair = () => {
    const words = pairs[Math.floor(r() * pairs.length)]!;
    const a = Math.floor(r() * words.length);
    const b = (a + 1 + Math.floor(r() * (words.length - 1))) % words.length;
    return [words[a]!, words[b]!];
  };
  const out: BenchQuery[] = [];
  const q = (kind: Kind, words: string[], extra: Partial<BenchQuery> = {}): BenchQuery => ({
    kind, words, text: extra.phrase ? `"${words.join(" ")}"` : words.join(" "), phrase: false, filter: null, facets: false, highlights: false, ...extra,
  });
  for (let i = 0; i < perKind; i++) {
    out.push(q("one word", [mid()]));
    out.push(q("two words", pair()));
    out.push(q("phrase", phrases[Math.floor(r() * phrases.length)]!.split(" "), { phrase: true }));
    out.push(q("filters + facets", [mid()], { filter: FILTER, facets: true }));
    out.push(q("page + highlights", [mid()], { highlights: true }));
    out.push(q("common word", [pick(FUNCTION_WORDS.length, 49)]));
  }
  return out;
}
