// Layout analysis: positioned words → headings, paragraphs and lists → text, Markdown, HTML.
// Synthetic word boxes pin the exact output; a real PDF built with pdf-lib and read back by the
// PDF adapter (pdf.js in a child process) proves the heuristics hold on real extraction output.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { PDFDocument, StandardFonts } from "pdf-lib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  analyzeLayout,
  countWords,
  toHtml,
  toMarkdown,
  toText,
  type LayoutPage,
  type LayoutWord,
} from "../../src/processors/documents/layout.ts";
import { extractText } from "../../src/tools/pdf/pdf.ts";

/**
 * One line of text as a pdf.js-like word list: every character is half the font size wide,
 * a space is one character, the box is 1.1 × the size tall, `top` is the box's top edge.
 */
function line(text: string, top: number, size: number, x = 72): LayoutWord[] {
  const cw = size / 2;
  const words: LayoutWord[] = [];
  let at = x;
  for (const t of text.split(" ")) {
    words.push({ text: t, x: at, y: top, width: t.length * cw, height: size * 1.1 });
    at += (t.length + 1) * cw;
  }
  return words;
}
/** Consecutive lines at `size`, `pitch` points apart. */
function lines(texts: string[], top: number, size: number, pitch = size * 1.2, x = 72): LayoutWord[] {
  return texts.flatMap((t, i) => line(t, top + i * pitch, size, x));
}
const page = (n: number, words: LayoutWord[]): LayoutPage => ({ page: n, width: 612, height: 792, words });

// Body 11 pt at a 13.2 pt pitch; blocks separated by ~24 pt pitches.
const DOC: LayoutPage[] = [
  page(1, [
    ...line("Field Guide", 40, 24),
    ...line("Getting started", 80, 16),
    ...lines(["Spool reads every exam-", "ple you give it, even <script> tags", "& ampersands."], 115, 11),
    ...lines(["A second paragraph with *stars* and", "[brackets] and `ticks`."], 115 + 2 * 13.2 + 24, 11),
    ...lines(["• First item", "• Second item that wraps"], 205, 11),
    ...line("onto the next line", 205 + 2 * 13.2, 11, 83),
    ...line("• Third item", 205 + 3 * 13.2, 11),
    ...lines(["1. Alpha", "2. Beta"], 270, 11),
    ...line("1999. was a year.", 310, 11),
  ]),
  page(2, [...line("Appendix", 40, 24), ...line("Notes", 80, 14), ...line("The end.", 105, 11)]),
];

describe("analyzeLayout", () => {
  it("finds headings, paragraphs and lists", () => {
    const layout = analyzeLayout(DOC);
    expect(layout.map((p) => ({ page: p.page, blocks: p.blocks }))).toEqual([
      {
        page: 1,
        blocks: [
          { type: "heading", level: 1, text: "Field Guide" },
          { type: "heading", level: 2, text: "Getting started" },
          { type: "paragraph", lines: ["Spool reads every exam-", "ple you give it, even <script> tags", "& ampersands."] },
          { type: "paragraph", lines: ["A second paragraph with *stars* and", "[brackets] and `ticks`."] },
          { type: "list", ordered: false, items: ["First item", "Second item that wraps onto the next line", "Third item"] },
          { type: "list", ordered: true, items: ["Alpha", "Beta"] },
          { type: "paragraph", lines: ["1999. was a year."] },
        ],
      },
      {
        // Body size is document-wide: a page of big text alone still has headings.
        page: 2,
        blocks: [
          { type: "heading", level: 1, text: "Appendix" },
          { type: "heading", level: 3, text: "Notes" },
          { type: "paragraph", lines: ["The end."] },
        ],
      },
    ]);
  });

  it("renders Markdown with escaping", () => {
    expect(toMarkdown(analyzeLayout(DOC))).toBe(
      [
        "# Field Guide",
        "",
        "## Getting started",
        "",
        "Spool reads every example you give it, even \\<script> tags & ampersands.",
        "",
        "A second paragraph with \\*stars\\* and \\[brackets\\] and \\`ticks\\`.",
        "",
        "- First item",
        "- Second item that wraps onto the next line",
        "- Third item",
        "",
        "1. Alpha",
        "2. Beta",
        "",
        "1999\\. was a year.",
        "",
        "# Appendix",
        "",
        "### Notes",
        "",
        "The end.",
        "",
      ].join("\n"),
    );
    const kept = toMarkdown(analyzeLayout(DOC), { preserveFormatting: true });
    expect(kept).toContain("Spool reads every exam-  \nple you give it, even \\<script> tags  \n& ampersands.\n");
  });

  it("renders plain text, reflowed or as laid out", () => {
    const layout = analyzeLayout(DOC);
    expect(toText(layout)).toBe(
      [
        "Field Guide",
        "",
        "Getting started",
        "",
        "Spool reads every example you give it, even <script> tags & ampersands.",
        "",
        "A second paragraph with *stars* and [brackets] and `ticks`.",
        "",
        "- First item",
        "- Second item that wraps onto the next line",
        "- Third item",
        "",
        "1. Alpha",
        "2. Beta",
        "",
        "1999. was a year.",
        "\fAppendix",
        "",
        "Notes",
        "",
        "The end.",
        "",
      ].join("\n"),
    );
    // As laid out: markers kept, the continuation's indent kept, blank lines only at real gaps.
    expect(toText(layout, { preserveFormatting: true })).toBe(
      [
        "Field Guide",
        "",
        "Getting started",
        "",
        "Spool reads every exam-",
        "ple you give it, even <script> tags",
        "& ampersands.",
        "",
        "A second paragraph with *stars* and",
        "[brackets] and `ticks`.",
        "",
        "• First item",
        "• Second item that wraps",
        "  onto the next line",
        "• Third item",
        "",
        "1. Alpha",
        "2. Beta",
        "",
        "1999. was a year.",
        "\fAppendix",
        "",
        "Notes",
        "",
        "The end.",
        "",
      ].join("\n"),
    );
  });

  it("renders an escaped HTML document", () => {
    const html = toHtml(analyzeLayout(DOC), { title: `Tom's "<b>" & co`, lang: "fr" });
    expect(html.startsWith("<!doctype html>\n<html lang=\"fr\">\n<head>\n<meta charset=\"utf-8\">\n")).toBe(true);
    expect(html).toContain("<title>Tom&#39;s &quot;&lt;b&gt;&quot; &amp; co</title>");
    expect(html).toContain('<section data-page="1">\n<h1>Field Guide</h1>\n<h2>Getting started</h2>\n');
    expect(html).toContain("<p>Spool reads every example you give it, even &lt;script&gt; tags &amp; ampersands.</p>");
    expect(html).toContain("<ul>\n<li>First item</li>\n<li>Second item that wraps onto the next line</li>\n<li>Third item</li>\n</ul>");
    expect(html).toContain("<ol>\n<li>Alpha</li>\n<li>Beta</li>\n</ol>");
    expect(html).toContain('<section data-page="2">\n<h1>Appendix</h1>\n<h3>Notes</h3>\n<p>The end.</p>\n</section>');
    expect(html).not.toMatch(/<script|<link|src=/i);
    expect(html.endsWith("</body>\n</html>\n")).toBe(true);

    const kept = toHtml(analyzeLayout(DOC), { preserveFormatting: true });
    expect(kept).toContain('<html lang="en">');
    expect(kept).toContain("<title>Field Guide</title>"); // first heading by default
    expect(kept).toContain("<p>Spool reads every exam-<br>\nple you give it, even &lt;script&gt; tags<br>\n&amp; ampersands.</p>");
  });

  it("orders out-of-order words and lines", () => {
    const words = [...line("the quick brown fox", 100, 11), ...line("jumps over it", 113.2, 11)];
    const layout = analyzeLayout([page(1, [...words].reverse())]);
    expect(layout[0]!.blocks).toEqual([{ type: "paragraph", lines: ["the quick brown fox", "jumps over it"] }]);
  });

  it("keeps a larger word on its line's baseline", () => {
    // "BIG" at 16 pt sits on the same baseline (box bottom 112.1) as the 11 pt words around it.
    const words = [...line("small", 100, 11), { text: "BIG", x: 105, y: 112.1 - 17.6, width: 24, height: 17.6 }, ...line("words", 100, 11, 135)];
    expect(analyzeLayout([page(1, words)])[0]!.blocks).toEqual([{ type: "paragraph", lines: ["small BIG words"] }]);
  });

  it("glues runs that touch and keeps one copy of fake bold", () => {
    const words: LayoutWord[] = [
      { text: "Hel", x: 72, y: 100, width: 16.5, height: 12 },
      { text: "lo", x: 88.5, y: 100, width: 11, height: 12 },
      { text: "world", x: 105, y: 100, width: 27.5, height: 12 },
      { text: "world", x: 105.4, y: 100, width: 27.5, height: 12 },
    ];
    expect(analyzeLayout([page(1, words)])[0]!.blocks).toEqual([{ type: "paragraph", lines: ["Hello world"] }]);
  });

  it("handles empty pages and garbage boxes", () => {
    const garbage: LayoutWord[] = [
      { text: "nan", x: NaN, y: 10, width: 10, height: 10 },
      { text: "inf", x: 10, y: Infinity, width: 10, height: 10 },
      { text: "flat", x: 10, y: 10, width: 10, height: 0 },
      { text: "thin", x: 10, y: 10, width: 0, height: 10 },
      { text: "neg", x: 10, y: 10, width: 10, height: -5 },
      { text: "   ", x: 10, y: 10, width: 10, height: 10 },
      { text: "\u0000\u0001", x: 10, y: 10, width: 10, height: 10 },
      // Rotated text: a tall, narrow box across many lines.
      { text: "CONFIDENTIAL", x: 20, y: 100, width: 12, height: 90 },
    ];
    const layout = analyzeLayout([
      page(1, []),
      page(2, garbage),
      page(3, [...garbage, ...line("Only\fthis", 100, 11)]),
      { page: 4, width: 0, height: 0, words: undefined as unknown as LayoutWord[] },
    ]);
    expect(layout.map((p) => p.blocks)).toEqual([[], [], [{ type: "paragraph", lines: ["Onlythis"] }], []]);
    expect(toText(layout)).toBe("\f\fOnlythis\n\f");
    expect(toMarkdown(layout)).toBe("Onlythis\n");
    expect(toMarkdown(analyzeLayout([page(1, [])]))).toBe("");
    expect(analyzeLayout([])).toEqual([]);
    expect(toHtml([])).toContain("<body>\n</body>");
  });

  it("escapes Markdown only where it would change meaning", () => {
    const md = (lines: string[]) => toMarkdown([{ page: 1, blocks: [{ type: "paragraph", lines }] }]).trimEnd();
    expect(md(["# not a heading"])).toBe("\\# not a heading");
    expect(md(["#hashtag and C# stay"])).toBe("#hashtag and C# stay");
    expect(md(["2) second"])).toBe("2\\) second");
    expect(md(["- dash", "+ plus"])).toBe("\\- dash + plus");
    expect(md(["> quoted"])).toBe("\\> quoted");
    expect(md(["snake_case stays, _emphasis_ does not"])).toBe("snake_case stays, \\_emphasis\\_ does not");
    expect(md(["AT&T and &amp; and ~approx"])).toBe("AT&T and \\&amp; and \\~approx");
    expect(md(["a\\b"])).toBe("a\\\\b");
    expect(toMarkdown([{ page: 1, blocks: [{ type: "paragraph", lines: ["Title", "==="] }] }], { preserveFormatting: true })).toBe("Title  \n\\===\n");
    expect(toMarkdown([{ page: 1, blocks: [{ type: "list", ordered: false, items: ["1. nested?"] }] }])).toBe("- 1\\. nested?\n");
    expect(toMarkdown([{ page: 1, blocks: [{ type: "heading", level: 2, text: "Use #" }] }])).toBe("## Use \\#\n");
  });

  it("keeps a lone numbered line at body size as it is: a list is several consecutive items", () => {
    const words = [...line("2. Unified system", 100, 11), ...lines(["One engine runs every job type.", "It is small."], 124, 11)];
    expect(toMarkdown(analyzeLayout([page(1, words)]))).toBe("2\\. Unified system\n\nOne engine runs every job type. It is small.\n");
  });

  it("counts words", () => {
    expect(countWords("")).toBe(0);
    expect(countWords("  Hello, world — 42 • x  ")).toBe(4);
    expect(countWords("one\ntwo\tthree\ffour")).toBe(4);
  });
});

describe("on a real PDF", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(os.tmpdir(), "spool-layout-"));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("reads what pdf.js extracts", async () => {
    const doc = await PDFDocument.create();
    const font = await doc.embedFont(StandardFonts.Helvetica);
    const p = doc.addPage([612, 792]);
    // `baseline` from the top of the page; pdf-lib's y is from the bottom.
    const draw = (text: string, baseline: number, size: number) => p.drawText(text, { x: 72, y: 792 - baseline, size, font });
    // Drawn first in the content stream, yet it comes last on the page.
    draw("Closing words.", 250, 11);
    draw("Quarterly Report", 80, 24);
    ["The quarter went well for every team and the numbers", "were better than expected in most regions, with", "a few excep-", "tions noted below."].forEach((t, i) => draw(t, 120 + i * 13.2, 11));
    ["• Revenue grew", "• Costs fell"].forEach((t, i) => draw(t, 200 + i * 13.2, 11));
    const path = join(dir, "report.pdf");
    await writeFile(path, await doc.save());

    const pages = await extractText(path);
    const layout = analyzeLayout(pages);
    expect(toMarkdown(layout)).toBe(
      [
        "# Quarterly Report",
        "",
        "The quarter went well for every team and the numbers were better than expected in most regions, with a few exceptions noted below.",
        "",
        "- Revenue grew",
        "- Costs fell",
        "",
        "Closing words.",
        "",
      ].join("\n"),
    );
    expect(toText(layout, { preserveFormatting: true })).toMatch(/^Quarterly Report\n\nThe quarter went well .*\n.*\na few excep-\ntions noted below\.\n\n• Revenue +grew\n• Costs +fell\n\nClosing words\.\n$/);
  });

  it("numbered section titles set larger than the body are headings; a numbered list at body size is a list; contents lines stay lines", async () => {
    const doc = await PDFDocument.create();
    const font = await doc.embedFont(StandardFonts.Helvetica);
    const bold = await doc.embedFont(StandardFonts.HelveticaBold);
    const p = doc.addPage([612, 792]);
    const draw = (text: string, x: number, baseline: number, size: number, f = font) => p.drawText(text, { x, y: 792 - baseline, size, font: f });
    draw("Spool design notes", 72, 70, 24, bold);
    draw("Contents", 72, 110, 16, bold);
    // Contents entries as generators set them: title, then dot leaders, then the page number at the right margin.
    const leaders = Array(24).fill(".").join(" ");
    const toc: Array<[string, string]> = [["1. Introduction", "1"], ["2. Unified system", "2"]];
    toc.forEach(([title, pageNo], i) => {
      draw(title, 72, 145 + i * 30, 14, bold);
      draw(leaders, 250, 145 + i * 30, 14, bold);
      draw(pageNo, 530, 145 + i * 30, 14, bold);
    });
    draw("1. Introduction", 72, 240, 16, bold);
    ["Spool turns documents into text. It reads the text layer where", "there is one and recognises the rest."].forEach((t, i) => draw(t, 72, 265 + i * 13.2, 11));
    draw("2. Unified system", 72, 320, 16, bold);
    draw("One engine runs every job:", 72, 345, 11);
    ["1. Collect the pages", "2. Read the text layer", "3. Recognise what is left"].forEach((t, i) => draw(t, 72, 370 + i * 13.2, 11));
    const path = join(dir, "numbered.pdf");
    await writeFile(path, await doc.save());

    expect(toMarkdown(analyzeLayout(await extractText(path)))).toBe(
      [
        "# Spool design notes",
        "",
        "## Contents",
        "",
        `1\\. Introduction ${leaders} 1`,
        "",
        `2\\. Unified system ${leaders} 2`,
        "",
        "## 1. Introduction",
        "",
        "Spool turns documents into text. It reads the text layer where there is one and recognises the rest.",
        "",
        "## 2. Unified system",
        "",
        "One engine runs every job:",
        "",
        "1. Collect the pages",
        "2. Read the text layer",
        "3. Recognise what is left",
        "",
      ].join("\n"),
    );
  });
});
