// One cue's text as files really carry it, turned into the two forms Spool keeps: plain text
// for search (no tags, no references, one line) and WebVTT cue text for players (the tags
// WebVTT knows, balanced, everything else escaped).
//
// SubRip has no markup of its own: tools write HTML's <i> <b> <u> <font color=…>, HTML
// character references, and, when converted from SubStation Alpha, its override blocks
// ({\an8} {\i1}) and its \N line breaks. WebVTT's own spans are <c.classes>, <v Speaker>,
// <lang tag>, <ruby>/<rt> and inline <00:00:01.000> timestamps (karaoke).
import { decodeEntities, escapeCueText } from "./entities.ts";

export type CueText = {
  /** Plain text for search: one line, whitespace collapsed; ruby readings (<rt>) left out. */
  text: string;
  /** The cue's lines as WebVTT cue text (never blank, never containing "-->"). */
  lines: string[];
  /** A WebVTT `line:` setting from an ASS alignment override ({\an8}: top), when it gave one. */
  line: string | null;
};

type Token =
  | { t: "text"; v: string }
  | { t: "open"; name: string; classes: string; annotation: string }
  | { t: "close"; name: string }
  | { t: "time"; ms: number }
  | { t: "br" };

/** The spans WebVTT defines; <v> and <lang> need their annotation. */
const VTT_TAGS = new Set(["i", "b", "u", "c", "v", "lang", "ruby", "rt"]);
/** WebVTT's default colour classes: a <font color> naming one becomes <c.colour>; other colours are dropped. */
const COLOURS: Record<string, string> = {
  white: "white", "#ffffff": "white", lime: "lime", "#00ff00": "lime", cyan: "cyan", "#00ffff": "cyan", red: "red", "#ff0000": "red",
  yellow: "yellow", "#ffff00": "yellow", magenta: "magenta", "#ff00ff": "magenta", blue: "blue", "#0000ff": "blue", black: "black", "#000000": "black",
};
const ASS_STYLE: Record<string, string> = { i: "i", b: "b", u: "u" };

// A tag: <name>, </name>, <name.class.class annotation>; or a timestamp <hh:mm:ss.mmm>.
const TAG = /<(\/?)([A-Za-z][A-Za-z0-9]*)((?:\.[^\s<>.]+)*)(?:[ \t]+([^<>]*))?>|<((?:\d{1,3}:)?\d{2}:\d{2}[.,]\d{3})>|\{(\\[^{}]*)\}/g;

function timestampMs(s: string): number {
  const [hms, frac] = s.split(/[.,]/) as [string, string];
  const parts = hms.split(":").map(Number);
  const [h, m, sec] = parts.length === 3 ? parts as [number, number, number] : [0, parts[0]!, parts[1]!];
  return ((h * 60 + m) * 60 + sec) * 1000 + Number(frac);
}

function tokenize(raw: string, alignment: { line: string | null }): Token[] {
  // SubStation Alpha's hard line break and hard space, as converters leave them in SRT.
  const src = raw.replace(/\\[Nn]/g, "\n").replace(/\\h/g, "\u00a0");
  const out: Token[] = [];
  let at = 0;
  const text = (s: string) => {
    if (!s) return;
    for (const [i, part] of s.split("\n").entries()) {
      if (i > 0) out.push({ t: "br" });
      if (part) out.push({ t: "text", v: decodeEntities(part) });
    }
  };
  for (const m of src.matchAll(TAG)) {
    text(src.slice(at, m.index));
    at = m.index + m[0].length;
    if (m[6] !== undefined) {
      // {\an8\i1}: each override; italics/bold/underline become spans, alignment a line setting.
      for (const o of m[6].split("\\").filter(Boolean)) {
        const style = /^([ibu])([01])$/.exec(o);
        if (style) out.push(style[2] === "1" ? { t: "open", name: ASS_STYLE[style[1]!]!, classes: "", annotation: "" } : { t: "close", name: ASS_STYLE[style[1]!]! });
        const an = /^an([1-9])$/.exec(o);
        if (an) alignment.line = Number(an[1]) >= 7 ? "0" : Number(an[1]) >= 4 ? "50%" : null;
      }
    } else if (m[5] !== undefined) {
      out.push({ t: "time", ms: timestampMs(m[5]) });
    } else {
      const name = m[2]!.toLowerCase();
      if (name === "br") out.push({ t: "br" });
      else out.push(m[1] ? { t: "close", name } : { t: "open", name, classes: m[3] ?? "", annotation: (m[4] ?? "").trim() });
    }
  }
  text(src.slice(at));
  return out;
}

/** A <font color=…> as a WebVTT colour class, or null. */
function fontColour(annotation: string): string | null {
  const m = /color\s*=\s*["']?([#A-Za-z0-9]+)/i.exec(annotation);
  return m ? (COLOURS[m[1]!.toLowerCase()] ?? null) : null;
}

function openTag(name: string, classes: string, annotation: string): string {
  const ann = annotation ? ` ${escapeCueText(decodeEntities(annotation))}` : "";
  return `<${name}${classes}${ann}>`;
}

function formatTimestamp(ms: number): string {
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor(ms / 60_000) % 60;
  const s = Math.floor(ms / 1000) % 60;
  return `${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}.${String(ms % 1000).padStart(3, "0")}`;
}

/**
 * Reads one cue's text (its lines joined with "\n"). Timestamps outside (start, end) or not
 * increasing are dropped, as WebVTT requires.
 */
export function readCueText(raw: string, startMs: number, endMs: number): CueText {
  const alignment = { line: null as string | null };
  const tokens = tokenize(raw.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, "").replace(/\t/g, " "), alignment);
  let vtt = "";
  let plain = "";
  let inRt = 0;
  let lastTime = startMs;
  // What is open in the output, innermost last; a <font> that became nothing is kept as null.
  const open: { name: string; out: string | null }[] = [];
  const close = (name: string) => {
    const i = open.map((o) => o.name).lastIndexOf(name);
    if (i < 0) return; // a close with no open: dropped
    for (const o of open.splice(i).reverse()) {
      if (o.out) vtt += `</${o.out}>`;
      if (o.out === "rt") inRt--;
    }
  };
  for (const tok of tokens) {
    if (tok.t === "text") {
      vtt += escapeCueText(tok.v);
      if (!inRt) plain += tok.v;
    } else if (tok.t === "br") {
      vtt += "\n";
      plain += " ";
    } else if (tok.t === "time") {
      if (tok.ms > lastTime && tok.ms < endMs) {
        vtt += `<${formatTimestamp(tok.ms)}>`;
        lastTime = tok.ms;
      }
    } else if (tok.t === "open") {
      let out: string | null = null;
      if (tok.name === "font") {
        const colour = fontColour(tok.annotation);
        if (colour) vtt += `<c.${colour}>`;
        out = colour ? "c" : null;
      } else if (VTT_TAGS.has(tok.name) && !((tok.name === "v" || tok.name === "lang") && !tok.annotation)) {
        vtt += openTag(tok.name, tok.classes, tok.name === "v" || tok.name === "lang" ? tok.annotation : "");
        out = tok.name;
        if (tok.name === "rt") inRt++;
      }
      // Unknown tags (<span>, <s>, <font> without a known colour) are dropped, their text kept.
      if (out || tok.name === "font") open.push({ name: tok.name, out });
    } else {
      close(tok.name);
    }
  }
  for (const o of open.reverse()) if (o.out) vtt += `</${o.out}>`;
  // A blank line would end the cue in WebVTT: a line with nothing visible on it joins the next
  // (its tags kept, so spans stay balanced), or the one before when it is the last.
  const lines: string[] = [];
  let carry = "";
  for (const l of vtt.split("\n")) {
    const line = carry + l.replace(/^ +/, "").replace(/ +$/, "");
    if (line.replace(/<[^>]*>/g, "").replace(/&nbsp;/g, "").trim() === "") carry = line;
    else {
      lines.push(line);
      carry = "";
    }
  }
  if (carry && lines.length) lines[lines.length - 1] += carry;
  return { text: plain.replace(/[\s\u00a0]+/g, " ").trim(), lines, line: alignment.line };
}

export { formatTimestamp };
