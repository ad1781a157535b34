// HTML character references as caption files carry them: SubRip has no escaping of its own,
// so tools copy HTML's (`&amp;`, `&nbsp;`, `&#39;`, `&#x2019;`), and WebVTT defines a few
// named ones and reads HTML's. Decoding is one pass over the text (no double decoding:
// `&amp;lt;` is "&lt;"); an unknown name stays as written, as a browser leaves it.

/** Latin-1's names, for U+00A0 to U+00FF in order (HTML 4's list). */
const LATIN1 = (
  "nbsp iexcl cent pound curren yen brvbar sect uml copy ordf laquo not shy reg macr deg plusmn sup2 sup3 acute micro " +
  "para middot cedil sup1 ordm raquo frac14 frac12 frac34 iquest Agrave Aacute Acirc Atilde Auml Aring AElig Ccedil " +
  "Egrave Eacute Ecirc Euml Igrave Iacute Icirc Iuml ETH Ntilde Ograve Oacute Ocirc Otilde Ouml times Oslash Ugrave " +
  "Uacute Ucirc Uuml Yacute THORN szlig agrave aacute acirc atilde auml aring aelig ccedil egrave eacute ecirc euml " +
  "igrave iacute icirc iuml eth ntilde ograve oacute ocirc otilde ouml divide oslash ugrave uacute ucirc uuml yacute thorn yuml"
).split(" ");

/** The other names subtitle tools write: punctuation, typographic quotes, a few symbols. */
const OTHERS: Record<string, number> = {
  quot: 0x22, amp: 0x26, apos: 0x27, lt: 0x3c, gt: 0x3e,
  OElig: 0x152, oelig: 0x153, Scaron: 0x160, scaron: 0x161, Yuml: 0x178, fnof: 0x192, circ: 0x2c6, tilde: 0x2dc,
  ensp: 0x2002, emsp: 0x2003, thinsp: 0x2009, zwnj: 0x200c, zwj: 0x200d, lrm: 0x200e, rlm: 0x200f,
  ndash: 0x2013, mdash: 0x2014, horbar: 0x2015, lsquo: 0x2018, rsquo: 0x2019, sbquo: 0x201a, ldquo: 0x201c, rdquo: 0x201d,
  bdquo: 0x201e, dagger: 0x2020, Dagger: 0x2021, bull: 0x2022, hellip: 0x2026, permil: 0x2030, prime: 0x2032,
  Prime: 0x2033, lsaquo: 0x2039, rsaquo: 0x203a, oline: 0x203e, euro: 0x20ac, trade: 0x2122, larr: 0x2190,
  uarr: 0x2191, rarr: 0x2192, darr: 0x2193, harr: 0x2194, hearts: 0x2665, spades: 0x2660, clubs: 0x2663, diams: 0x2666,
  sung: 0x266a, music: 0x266a, flat: 0x266d, sharp: 0x266f, star: 0x2606, starf: 0x2605, check: 0x2713, cross: 0x2717,
  minus: 0x2212, le: 0x2264, ge: 0x2265, ne: 0x2260, infin: 0x221e, deg: 0xb0, half: 0xbd,
};

const NAMED = new Map<string, number>([...LATIN1.map((n, i) => [n, 0xa0 + i] as [string, number]), ...Object.entries(OTHERS)]);

const REFERENCE = /&(?:#(\d{1,8})|#[xX]([0-9a-fA-F]{1,6})|([A-Za-z][A-Za-z0-9]{1,31}));?/g;

function fromCodePoint(cp: number): string {
  // NUL, surrogates and beyond Unicode are what HTML replaces with U+FFFD.
  if (cp === 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return "\ufffd";
  return String.fromCodePoint(cp);
}

/** `text` with its character references decoded; unknown names are kept as written. */
export function decodeEntities(text: string): string {
  if (!text.includes("&")) return text;
  return text.replace(REFERENCE, (whole, dec?: string, hex?: string, name?: string) => {
    if (dec !== undefined) return fromCodePoint(Number(dec));
    if (hex !== undefined) return fromCodePoint(parseInt(hex, 16));
    const cp = NAMED.get(name!);
    // A name needs its semicolon except the few HTML also reads without one (`&amp` `&lt`…).
    if (cp === undefined || (!whole.endsWith(";") && !["amp", "lt", "gt", "quot", "nbsp"].includes(name!))) return whole;
    return String.fromCodePoint(cp);
  });
}

/** Text escaped for a WebVTT cue: `&`, `<` and `>` (so no "-->" can appear), and nbsp kept visible as its reference. */
export function escapeCueText(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/\u00a0/g, "&nbsp;");
}
