// The search benchmark's corpus: Videos and Documents whose text looks like the real thing,
// generated from a seeded PRNG so every run (and every engine in a run) sees the same words.
//
// Words follow Zipf's law (s = 1.05) over a 50,000-word vocabulary: the head is common English
// (function words first, then everyday nouns, verbs and adjectives), the tail generated
// pronounceable words, as a real collection's long tail of names and jargon. Segments are
// shaped like the ones Spool writes: caption cues (5–15 words, with start and duration),
// on-screen text (1–6 words), document pages (150–500 words), and the item's TEXT (title,
// tags, sometimes a description). Most items are English; some French (French function words
// at the head), some unknown (`simple`).

import { rng, type Rng } from "./rng.ts";

export { rng, type Rng };

const int = (r: Rng, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));

// Ranks 0–24: function words (Postgres' english config drops most of them as stopwords).
export const FUNCTION_WORDS = "the of and to a in is it you that he was for on are with as his they be at one have this from or had by".split(" ");
const HEAD = [
  ...FUNCTION_WORDS,
  ..."time people year way day man thing woman life child world school state family student group country problem hand part place case week company system program question work government number night point home water room mother area money story fact month lot right study book eye job word business issue side kind head house service friend father power hour game line end member law car city community name president team minute idea kid body information back parent face others level office door health person art war history party result change morning reason research girl guy moment air teacher force education foot boy age policy music market sense nation plan college interest death experience effect class control care field development role effort rate heart drug show leader light voice wife police mind price report decision son view relationship town road arm difference value building action model season society tax director position player record paper space ground form event official matter center couple site project activity star table need court oil situation cost industry figure street image phone data picture practice piece land product doctor wall patient worker news test movie north love support technology step baby computer type attention film tree source organization hair window evidence population truth song energy unit camera river garden island bridge harbour train station kitchen market winter summer spring autumn village mountain forest ocean storm letter museum library concert festival recipe".split(" "),
  ..."say make go know take see come think look want give use find tell ask seem feel try leave call keep let begin help talk turn start show hear play run move like live believe hold bring happen write provide sit stand lose pay meet include continue set learn lead understand watch follow stop create speak read allow add spend grow open walk win offer remember consider appear buy wait serve die send expect build stay fall cut reach kill remain suggest raise pass sell require decide return explain hope develop carry break receive agree support hit produce eat cover catch draw choose".split(" "),
  ..."good new first last long great little own other old big high different small large next early young important few public bad same able local sure free better true whole clear recent certain personal open red difficult available likely short single medical current wrong private past foreign fine common poor natural significant similar hot dead central happy serious ready simple left physical general environmental financial blue democratic dark various entire close legal religious cold final main green nice huge popular traditional cultural quiet bright".split(" "),
];
// The French head: the same ranks, French words (the tail is shared, as names and jargon are).
const FRENCH_HEAD = "le de et à un il être en avoir que pour dans ce son une sur avec ne se pas tout plus par grand elle temps personne année jour homme chose femme vie enfant monde école état famille groupe pays problème main partie lieu semaine entreprise travail nombre nuit point maison eau chambre mère argent histoire mois livre œil mot côté tête service ami père pouvoir heure jeu ligne fin membre loi voiture ville nom équipe minute idée corps retour visage niveau bureau porte santé art guerre fête résultat matin raison recherche fille moment air".split(" ");

const ONSETS = ["b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z", "br", "cr", "dr", "fl", "gr", "kl", "pr", "st", "tr", "sh", "ch", "th"];
const VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "ou", "io", "y"];
const CODAS = ["", "", "", "n", "r", "l", "s", "m", "x", "nd", "rt", "st", "k"];

export const VOCABULARY_SIZE = 50_000;
export const ZIPF_S = 1.05;

export type Vocabulary = { words: string[]; french: string[]; cdf: Float64Array };

export function vocabulary(seed: number): Vocabulary {
  const r = rng(seed);
  const seen = new Set<string>();
  const words: string[] = [];
  for (const w of HEAD) if (!seen.has(w)) (seen.add(w), words.push(w));
  while (words.length < VOCABULARY_SIZE) {
    let w = "";
    const syllables = int(r, 2, 4);
    for (let i = 0; i < syllables; i++) w += ONSETS[int(r, 0, ONSETS.length - 1)]! + VOWELS[int(r, 0, VOWELS.length - 1)]! + (i === syllables - 1 ? CODAS[int(r, 0, CODAS.length - 1)]! : "");
    if (!seen.has(w)) (seen.add(w), words.push(w));
  }
  const french = words.slice();
  FRENCH_HEAD.forEach((w, i) => (french[i] = w));
  const cdf = new Float64Array(VOCABULARY_SIZE);
  let sum = 0;
  for (let k = 0; k < VOCABULARY_SIZE; k++) cdf[k] = sum += 1 / (k + 1) ** ZIPF_S;
  for (let k = 0; k < VOCABULARY_SIZE; k++) cdf[k]! /= sum;
  return { words, french, cdf };
}

/** A Zipf-distributed rank (0 = most frequent). */
export function zipfRank(v: Vocabulary, r: Rng): number {
  const u = r();
  let lo = 0;
  let hi = VOCABULARY_SIZE - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (v.cdf[mid]! < u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export type Language = "eng" | "fra" | null;

function words(v: Vocabulary, r: Rng, n: number, lang: Language): string {
  const list = lang === "fra" ? v.french : v.words;
  const out: string[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = list[zipfRank(v, r)]!;
  return out.join(" ");
}

function sentenceCase(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

export type Cue = { startMs: number; durationMs: number; text: string };
export type ScreenText = { startMs: number; durationMs: number; text: string; confidence: number; box: { x: number; y: number; width: number; height: number } };

export type CorpusItem = {
  id: string;
  /** Index into the organizations; 0 is the one queried. */
  org: number;
  type: "VIDEO" | "DOCUMENT";
  title: string;
  tags: string[];
  description: string | null;
  language: Language;
  createdAt: Date;
  durationSec: number | null;
  width: number | null;
  height: number | null;
  captions: Cue[];
  onScreen: ScreenText[];
  pages: string[];
  /** Segments this item adds to the index: its TEXT ones (title, tags, description) and the rest. */
  segmentCount: number;
};

// Tags: a short list of their own, also Zipf-ish (a few tags on most items).
const TAGS = "news sports music interview lecture tutorial meeting webinar keynote trailer review podcast documentary travel cooking science history finance legal contract invoice report manual policy training onboarding marketing product design engineering research health education kids nature city archive draft final internal public europe asia america".split(" ");

function uuid(r: Rng): string {
  const h = () => Math.floor(r() * 0x10000).toString(16).padStart(4, "0");
  return `${h()}${h()}-${h()}-4${h().slice(1)}-${(8 + Math.floor(r() * 4)).toString(16)}${h().slice(1)}-${h()}${h()}${h()}`;
}

const RESOLUTIONS: Array<[number, number]> = [[640, 360], [854, 480], [1280, 720], [1280, 720], [1920, 1080], [1920, 1080], [1920, 1080], [3840, 2160]];
const EPOCH = Date.UTC(2024, 0, 1);

export type CorpusOptions = { segments: number; seed: number; organizations: number; queriedShare: number };

/**
 * Items until their segments add up to exactly `segments` (the last one is cut short).
 * Deterministic for a seed: the same items, text and ids every run.
 */
export function* corpus(v: Vocabulary, o: CorpusOptions): Generator<CorpusItem> {
  const r = rng(o.seed);
  let left = o.segments;
  while (left > 0) {
    const org = r() < o.queriedShare ? 0 : 1 + Math.floor(r() * (o.organizations - 1));
    const langDraw = r();
    const language: Language = langDraw < 0.8 ? "eng" : langDraw < 0.92 ? "fra" : null;
    const type = r() < 0.65 ? "VIDEO" : "DOCUMENT";
    const tags = Array.from(new Set(Array.from({ length: int(r, 0, 4) }, () => TAGS[Math.min(TAGS.length - 1, Math.floor(TAGS.length * r() ** 2))]!)));
    const item: CorpusItem = {
      id: uuid(r), org, type, tags, language,
      title: sentenceCase(words(v, r, int(r, 2, 8), language)),
      description: r() < 0.4 ? sentenceCase(words(v, r, int(r, 10, 40), language)) + "." : null,
      createdAt: new Date(EPOCH + Math.floor(r() * 2 * 365 * 86_400_000)),
      durationSec: null, width: null, height: null, captions: [], onScreen: [], pages: [], segmentCount: 0,
    };
    let budget = left - 1 - (tags.length ? 1 : 0) - (item.description ? 1 : 0);
    if (budget < 0) {
      // Not even room for this item's TEXT segments: a bare title finishes the corpus.
      item.tags = [];
      item.description = null;
      budget = 0;
    }
    if (type === "VIDEO") {
      // Log-normal durations: mostly a few minutes, some sub-second clips, a few feature-length.
      const duration = Math.min(3 * 3600, Math.max(0.4, Math.exp(Math.log(360) + 1.1 * gaussian(r))));
      const [w, h] = RESOLUTIONS[int(r, 0, RESOLUTIONS.length - 1)]!;
      item.durationSec = Math.round(duration * 1000) / 1000;
      item.width = w;
      item.height = h;
      const totalMs = Math.round(duration * 1000);
      for (let t = int(r, 0, 2000); t < totalMs && budget > 0; budget--) {
        const d = int(r, 1200, 6500);
        item.captions.push({ startMs: t, durationMs: Math.min(d, totalMs - t), text: words(v, r, int(r, 5, 15), language) });
        t += d + int(r, 0, 800);
      }
      for (let t = 0; t < totalMs && budget > 0 && r() < 0.97; budget--) {
        const d = int(r, 1000, 40_000);
        item.onScreen.push({
          startMs: t, durationMs: Math.min(d, totalMs - t), text: sentenceCase(words(v, r, int(r, 1, 6), language)),
          confidence: Math.round(60 + r() * 39), box: { x: int(r, 0, w / 2), y: int(r, 0, h - 80), width: int(r, 80, w / 2), height: int(r, 24, 80) },
        });
        t += d + int(r, 2000, 60_000);
      }
    } else {
      const pages = Math.min(budget, Math.max(1, Math.round(Math.exp(Math.log(8) + 1.0 * gaussian(r)))));
      for (let p = 0; p < pages; p++, budget--) item.pages.push(sentenceCase(words(v, r, int(r, 150, 500), language)) + ".");
    }
    item.segmentCount = 1 + (item.tags.length ? 1 : 0) + (item.description ? 1 : 0) + item.captions.length + item.onScreen.length + item.pages.length;
    left -= item.segmentCount;
    yield item;
  }
}

function gaussian(r: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

/** All the searchable texts of an item, as the index holds them (TEXT segments included). */
export function segmentTexts(item: CorpusItem): string[] {
  return [
    item.title, ...(item.tags.length ? [item.tags.join(" ")] : []), ...(item.description ? [item.description] : []),
    ...item.captions.map((c) => c.text), ...item.onScreen.map((s) => s.text), ...item.pages,
  ];
}

export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)([km]?)$/i.exec(s.trim());
  if (!m) throw new Error(`bad size "${s}": use e.g. 10k, 100k, 1m`);
  return Math.round(Number(m[1]) * (m[2]!.toLowerCase() === "m" ? 1e6 : m[2]!.toLowerCase() === "k" ? 1e3 : 1));
}
