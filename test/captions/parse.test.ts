// Caption files as tools and people really write them, generated here: the parser's cues
// (times, plain text for search, WebVTT lines for players), the normalized WebVTT reading
// back to the same cues, and the refusals (line numbers, limits).
import { describe, expect, it } from "vitest";
import { SpoolError } from "../../src/errors.ts";
import { decodeEntities } from "../../src/tools/captions/entities.ts";
import { MAX_CUE_CHARS, MAX_CUES, parseCaptions } from "../../src/tools/captions/parse.ts";
import { writeWebVtt } from "../../src/tools/captions/webvtt.ts";
import { REAL_SRT, REAL_VTT } from "./fixtures.ts";

function codeOf(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SpoolError);
    return { code: (err as SpoolError).code, message: (err as Error).message };
  }
  throw new Error("expected a SpoolError");
}

describe("SubRip as real files are", () => {
  it("reads a BOM + CRLF file with 0-based, missing, repeated indexes, entities, tags and overrides", () => {
    const p = parseCaptions(Buffer.from(REAL_SRT, "utf8"));
    expect(p.format).toBe("srt");
    expect(p.cues.map((c) => [c.startMs, c.endMs, c.text])).toEqual([
      [1000, 3500, 'Fish & chips for "two"'],
      [4250, 6000, "It's 4 o\u2019clock"],
      [7000, 8000, "1984"],
      [9500, 11750, "Yellow and plain second line <here>"],
    ]);
    expect(p.dropped).toBe(1);
    expect(p.warnings.join("\n")).toMatch(/line 20: the cue ends before it starts/);
    expect(p.cues[0]!.lines).toEqual(["<i>Fish &amp; chips</i> &nbsp;for \"two\""]);
    // {\an8} is "top": WebVTT's line:0; SRT's X1/Y2 coordinates are dropped.
    expect(p.cues[1]!).toMatchObject({ settings: "line:0", lines: ["It's <b>4 o\u2019clock</b>"] });
    expect(p.cues[3]!.lines).toEqual(["<c.yellow>Yellow</c> and plain", "second line &lt;here&gt;"]);
  });

  it("reads the same file as UTF-16 LE with a BOM (Notepad's \"Unicode\"), as Windows-1252 without one, and with lone CRs", () => {
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(REAL_SRT.slice(1), "utf16le")]);
    expect(parseCaptions(utf16).cues.map((c) => c.text)).toEqual(parseCaptions(REAL_SRT).cues.map((c) => c.text));
    const cp1252 = Buffer.from("1\r\n00:00:01,000 --> 00:00:02,000\r\nCaf\xe9 \x93quoted\x94\r\n", "latin1");
    expect(parseCaptions(cp1252).cues[0]!.text).toBe("Café \u201cquoted\u201d");
    const cr = REAL_SRT.replace(/\r\n/g, "\r");
    expect(parseCaptions(cr).cues.map((c) => c.startMs)).toEqual([1000, 4250, 7000, 9500]);
  });

  it("odd timing lines: no spaces, dots, 1-digit hours, no hours, 1-2 fraction digits, none, a missing blank line", () => {
    const p = parseCaptions([
      "1", "00:00:01,000-->00:00:02,000", "tight arrow",
      "2", "0:00:03.5 --> 0:00:04.25", "one-digit hours, short fractions",
      "", "00:05 --> 00:06", "no hours, no fraction",
      "", "4", "00:00:07,000   -->   00:00:08,120   ", "spaces around", "",
      "12", "00:00:09,000 --> 00:00:10,000", "index 12 right after this text", "13", "00:00:11,000 --> 00:00:12,000", "thirteen",
    ].join("\n"));
    expect(p.cues.map((c) => [c.startMs, c.endMs])).toEqual([[1000, 2000], [3500, 4250], [5000, 6000], [7000, 8120], [9000, 10000], [11000, 12000]]);
    expect(p.cues[4]!.text).toBe("index 12 right after this text");
  });

  it("cues out of order come back in time order; long files keep their hours", () => {
    const p = parseCaptions("2\n01:02:03,004 --> 01:02:05,000\nlater\n\n1\n00:00:01,000 --> 00:00:02,000\nearlier\n");
    expect(p.cues.map((c) => [c.text, c.startMs])).toEqual([["earlier", 1000], ["later", 3_723_004]]);
    expect(writeWebVtt(p.cues)).toContain("01:02:03.004 --> 01:02:05.000\nlater");
  });
});

describe("WebVTT", () => {
  it("skips header text, NOTE blocks; keeps STYLE/REGION, cue ids, settings and the spans WebVTT knows", () => {
    const p = parseCaptions(REAL_VTT);
    expect(p.format).toBe("webvtt");
    expect(p.cues.map((c) => [c.id, c.startMs, c.endMs, c.text])).toEqual([
      ["intro", 1000, 3000, "We are in New York"],
      [null, 4000, 6500, "Bonjour 漢字 karaoke now"],
    ]);
    expect(p.cues[0]!).toMatchObject({ settings: "align:start position:10% region:top", lines: ["<v Roger Bingham><c.yellow>We are</c> in</v> <b>New York</b>"] });
    expect(p.cues[1]!.lines).toEqual(["<lang fr>Bonjour</lang> <ruby>漢<rt>かん</rt></ruby>字", "karaoke <00:00:05.000>now"]);
    expect(p.blocks).toEqual(["STYLE\n::cue(.yellow) { color: yellow; }", "REGION\nid:top\nwidth:40%"]);
  });

  it("the normalized file parses back to the same cues, and keeps STYLE before the first cue", () => {
    for (const source of [REAL_VTT, REAL_SRT]) {
      const p = parseCaptions(source);
      const out = writeWebVtt(p.cues, p.blocks);
      expect(out.startsWith("WEBVTT\n\n")).toBe(true);
      expect(out).not.toMatch(/\r/);
      const again = parseCaptions(out);
      expect(again.cues).toEqual(p.cues);
      expect(again.dropped).toBe(0);
    }
    expect(writeWebVtt(parseCaptions(REAL_VTT).cues, parseCaptions(REAL_VTT).blocks).indexOf("STYLE")).toBeLessThan(writeWebVtt(parseCaptions(REAL_VTT).cues, parseCaptions(REAL_VTT).blocks).indexOf("-->"));
  });

  it("a STYLE that would load a resource is dropped, with a warning", () => {
    const p = parseCaptions("WEBVTT\n\nSTYLE\n::cue { background-image: url(https://tracker.example/p.gif); }\n\nSTYLE\n::cue(b) { color: red; }\n\n00:01.000 --> 00:02.000\nhi\n");
    expect(p.blocks).toEqual(["STYLE\n::cue(b) { color: red; }"]);
    expect(p.warnings).toEqual(["line 3: a STYLE block that loads a resource (url() or @import) is dropped"]);
    expect(writeWebVtt(p.cues, p.blocks)).not.toMatch(/url|tracker/);
  });

  it("a cue text with '-->' cannot end the cue in the output; timestamps outside the cue are dropped", () => {
    const p = parseCaptions("1\n00:00:01,000 --> 00:00:02,000\nan arrow --> in text <00:00:09.000>late\n");
    expect(p.cues[0]!.lines).toEqual(["an arrow --&gt; in text late"]);
    expect(parseCaptions(writeWebVtt(p.cues)).cues[0]!.text).toBe("an arrow --> in text late");
  });
});

describe("entities", () => {
  it("named, decimal and hex references; unknown names kept; no double decoding", () => {
    expect(decodeEntities("&amp;lt; &lt;&gt; &quot;&apos;&#39;&#x2019; &eacute;&Eacute; &hellip;&mdash;&euro; &bogus; &#0; &#xD800; R&D")).toBe(
      "&lt; <> \"''\u2019 éÉ …—€ &bogus; \ufffd \ufffd R&D");
    expect(decodeEntities("&nbsp;&yuml;&iexcl;")).toBe("\u00a0\u00ff\u00a1");
  });
});

describe("refusals", () => {
  it("not captions: the line that is wrong is named", () => {
    expect(codeOf(() => parseCaptions("Dear diary,\ntoday I wrote no subtitles.\n"))).toMatchObject({ code: "INVALID_INPUT", message: expect.stringMatching(/line 1: expected a cue/) });
    expect(codeOf(() => parseCaptions(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13])))).toMatchObject({ code: "INVALID_INPUT", message: expect.stringMatching(/line 1/) });
    expect(codeOf(() => parseCaptions("1\n00:00:01,000 --> 00:00:02,000\nfine\n\n2\n00:00:03,000 --> 00:00:0x,000\nbroken\n"))).toMatchObject({ code: "INVALID_INPUT", message: expect.stringMatching(/line 6: a malformed cue timing/) });
    expect(codeOf(() => parseCaptions("1\n00:00:01,000 --> 00:61:02,000\nbad minutes\n"))).toMatchObject({ code: "INVALID_INPUT", message: expect.stringMatching(/line 2: minutes and seconds must be below 60/) });
    expect(codeOf(() => parseCaptions("WEBVTT\n\n00:01.000 --> 00:0a.000\nx\n"))).toMatchObject({ code: "INVALID_INPUT", message: expect.stringMatching(/line 3/) });
    expect(codeOf(() => parseCaptions("   \r\n\r\n"))).toMatchObject({ code: "INVALID_INPUT", message: expect.stringMatching(/empty/) });
    expect(codeOf(() => parseCaptions("WEBVTT\n\nNOTE only a note\n"))).toMatchObject({ code: "INVALID_INPUT", message: expect.stringMatching(/no cues/) });
    expect(codeOf(() => parseCaptions("1\n00:00:05,000 --> 00:00:01,000\nbackwards\n"))).toMatchObject({ code: "INVALID_INPUT", message: expect.stringMatching(/all 1 cues end before they start/) });
  });

  it("too many cues, too long a cue", () => {
    const cue = (i: number) => `${i}\n${time(i * 10)} --> ${time(i * 10 + 5)}\nc${i}\n`;
    const many = Array.from({ length: MAX_CUES + 1 }, (_, i) => cue(i)).join("\n");
    expect(codeOf(() => parseCaptions(many))).toMatchObject({ code: "INVALID_INPUT", message: expect.stringMatching(/more than 50000 cues/) });
    expect(parseCaptions(Array.from({ length: MAX_CUES }, (_, i) => cue(i)).join("\n")).cues).toHaveLength(MAX_CUES);
    const long = `1\n00:00:01,000 --> 00:00:02,000\n${"x".repeat(MAX_CUE_CHARS + 1)}\n`;
    expect(codeOf(() => parseCaptions(long))).toMatchObject({ code: "INVALID_INPUT", message: expect.stringMatching(/line 2 has 2001 characters/) });
  });
});

function time(ms: number): string {
  const h = Math.floor(ms / 3_600_000), m = Math.floor(ms / 60_000) % 60, s = Math.floor(ms / 1000) % 60;
  return `${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")},${String(ms % 1000).padStart(3, "0")}`;
}
