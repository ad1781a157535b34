// npm run bench:documents [-- --pages N]
//
// Three questions, each against a named peer in the same run, same machine, same inputs:
//  1. OCR throughput: N generated A4 "scan" pages (1654×2339 PNG, ~200 dpi) through an OcrPool of
//     1 worker vs the default pool (one worker per core); both warmed before timing
//                                                                   goal pool ≥ 1.7× on two cores
//  2. OCR per page: tesseract.js (the 1-worker pool of row 1, one page at a time) vs the native
//     `tesseract` CLI (LSTM, eng, OMP_THREAD_LIMIT=1) on the same pages, one at a time
//                                                                   goal tesseract.js ≤ 2× native
//  3. PDF text: extractText (pdf.js in a child process, one call for the whole document) on a
//     120-page text PDF, ms/page, vs `pdftotext` (poppler) on the same file        no goal given
// Native tesseract and pdftotext are optional: without them their row says "not installed".
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { createCanvas, GlobalFonts } from "@napi-rs/canvas";
import { PDFDocument, StandardFonts } from "pdf-lib";
import { OcrPool } from "../../src/tools/ocr/pool.ts";
import type { OcrResult } from "../../src/tools/ocr/types.ts";
import { extractText } from "../../src/tools/pdf/pdf.ts";
import { runBench } from "./run.ts";

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const PAGES = Math.max(1, Number(arg("pages") ?? 12));
const PDF_PAGES = 120;
const PDF_RUNS = 3;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

// Plain English prose, shuffled deterministically into paragraphs: the "known text" of the pages.
const CORPUS = [
  "The quick brown fox jumps over the lazy dog.",
  "Pack my box with five dozen liquor jugs.",
  "How vexingly quick daft zebras jump.",
  "The committee met on Tuesday to review the annual budget and the hiring plan.",
  "Every invoice must be signed by the manager before it is sent to accounting.",
  "Our warehouse in the north district received three hundred new pallets this week.",
  "Please return the enclosed form within thirty days of the date shown above.",
  "The river rose slowly through the night and flooded the lower fields by morning.",
  "A small library opened near the station, with reading rooms on two floors.",
  "The contract may be renewed for a further period of twelve months by written notice.",
  "Visitors are asked to sign the register at the front desk and wear a badge.",
  "The report describes the results of the survey carried out in the spring.",
  "Temperatures are expected to fall sharply after the weekend across the region.",
  "She wrote the letter by hand, folded it twice, and posted it the same afternoon.",
  "All equipment should be checked for damage before and after every use.",
  "The museum will be closed for repairs from the first of June until further notice.",
  "Payment is due on receipt; late payments may be charged interest at the agreed rate.",
  "The old bridge was replaced by a wider one that carries both trains and cars.",
  "Members of the public may attend the meeting but may not speak unless invited.",
  "The results were clear: the new method saved time and reduced the number of errors.",
];

function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

/** `count` paragraphs of `sentences` sentences each, deterministic per seed. */
function paragraphs(seed: number, count: number, sentences: number): string[] {
  const r = rng(seed);
  return Array.from({ length: count }, () => Array.from({ length: sentences }, () => CORPUS[Math.floor(r() * CORPUS.length)]!).join(" "));
}

let fontRegistered = false;
/** An A4 page at ~200 dpi (1654×2339): black DejaVu Sans paragraphs on white, word-wrapped. */
function renderScanPage(paras: string[]): Promise<Buffer> {
  if (!fontRegistered) {
    const root = path.dirname(createRequire(import.meta.url).resolve("dejavu-fonts-ttf/package.json"));
    GlobalFonts.registerFromPath(path.join(root, "ttf", "DejaVuSans.ttf"), "DejaVu Sans");
    fontRegistered = true;
  }
  const W = 1654;
  const H = 2339;
  const margin = 160;
  const size = 30; // ~11 pt at 200 dpi
  const lineH = Math.round(size * 1.45);
  const canvas = createCanvas(W, H);
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, W, H);
  ctx.fillStyle = "#000000";
  ctx.font = `${size}px DejaVu Sans`;
  ctx.textBaseline = "top";
  let y = margin;
  for (const p of paras) {
    let line = "";
    for (const word of p.split(" ")) {
      const next = line ? `${line} ${word}` : word;
      if (ctx.measureText(next).width > W - 2 * margin && line) {
        ctx.fillText(line, margin, y);
        y += lineH;
        line = word;
      } else line = next;
    }
    if (line) ctx.fillText(line, margin, y);
    y += lineH * 2;
    if (y > H - margin) throw new Error("page overflow: fewer paragraphs please");
  }
  return canvas.encode("png");
}

/** Share of the known words found by OCR (bag of words, case and punctuation ignored). */
function wordRecall(truth: string, ocr: string): number {
  const words = (s: string) => s.toLowerCase().match(/[a-z0-9]+/g) ?? [];
  const have = new Map<string, number>();
  for (const w of words(ocr)) have.set(w, (have.get(w) ?? 0) + 1);
  const want = words(truth);
  let hit = 0;
  for (const w of want) {
    const n = have.get(w) ?? 0;
    if (n > 0) {
      hit++;
      have.set(w, n - 1);
    }
  }
  return want.length ? hit / want.length : 1;
}

/** Runs a command; resolves with its stdout and wall time, or null when the binary is missing. */
function run(bin: string, args: string[], env?: NodeJS.ProcessEnv): Promise<{ ms: number; stdout: string } | null> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const p = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"], env: env ?? process.env });
    const out: Buffer[] = [];
    let tail = "";
    p.stdout.on("data", (d: Buffer) => out.push(d));
    p.stderr.on("data", (d) => (tail = (tail + d).slice(-2000)));
    p.on("error", (err: NodeJS.ErrnoException) => (err.code === "ENOENT" ? resolve(null) : reject(err)));
    p.on("close", (code) =>
      code === 0 ? resolve({ ms: performance.now() - t0, stdout: Buffer.concat(out).toString("utf8") }) : reject(new Error(`${bin} exited ${code}: ${tail}`)),
    );
  });
}

async function textPdf120(file: string): Promise<string[]> {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  const pages: string[] = [];
  for (let i = 0; i < PDF_PAGES; i++) {
    const page = doc.addPage([595, 842]);
    const paras = paragraphs(1000 + i, 4, 4);
    let y = 842 - 72;
    for (const p of paras) {
      page.drawText(p, { x: 72, y, size: 11, font, maxWidth: 595 - 144, lineHeight: 14 });
      const lines = Math.ceil(font.widthOfTextAtSize(p, 11) / (595 - 144)) + 1;
      y -= lines * 14 + 14;
    }
    pages.push(paras.join("\n"));
  }
  await writeFile(file, await doc.save());
  return pages;
}

async function main() {
  const work = await mkdtemp(path.join(os.tmpdir(), "spool-bench-documents-"));
  const cores = os.availableParallelism();
  const pools: OcrPool[] = [];
  try {
    process.stdout.write(`documents benchmark: ${cores} cores, ${PAGES} OCR pages, ${PDF_PAGES}-page PDF, load average ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}\n`);
    process.stdout.write("generating inputs…\n");
    const truths: string[] = [];
    const pngs: string[] = [];
    for (let i = 0; i < PAGES; i++) {
      const paras = paragraphs(i + 1, 5, 4);
      const file = path.join(work, `scan-${i + 1}.png`);
      await writeFile(file, await renderScanPage(paras));
      truths.push(paras.join("\n"));
      pngs.push(file);
    }
    const pdf = path.join(work, "text-120.pdf");
    const pdfTruth = await textPdf120(pdf);

    const rows: string[][] = [];
    const notes: string[] = [];

    // 1 + 2. OCR -------------------------------------------------------------------------
    const single = new OcrPool({ size: 1 });
    const pool = new OcrPool();
    pools.push(single, pool);
    process.stdout.write(`warming OCR pools (1 and ${pool.size} workers)…\n`);
    await single.warm("eng");
    await pool.warm("eng");

    // One worker, one page at a time: row 1's single-worker throughput and row 2's per-page time.
    process.stdout.write("OCR: 1 worker…\n");
    const perPage: number[] = [];
    const singleResults: OcrResult[] = [];
    const t1 = performance.now();
    for (const f of pngs) {
      const t = performance.now();
      singleResults.push(await single.recognize(f));
      perPage.push(performance.now() - t);
    }
    const singleMs = performance.now() - t1;
    await single.close();

    process.stdout.write(`OCR: pool of ${pool.size}…\n`);
    const t2 = performance.now();
    const poolResults = await Promise.all(pngs.map((f) => pool.recognize(f)));
    const poolMs = performance.now() - t2;
    await pool.close();

    const ppmSingle = (PAGES / singleMs) * 60_000;
    const ppmPool = (PAGES / poolMs) * 60_000;
    const speedup = ppmPool / ppmSingle;
    const conf = mean(poolResults.map((r) => r.confidence));
    const recallJs = mean(poolResults.map((r, i) => wordRecall(truths[i]!, r.text)));
    rows.push([
      `OCR ${PAGES} A4 pages, pages/min`,
      `pool of ${pool.size}: ${ppmPool.toFixed(1)}/min (${secs(poolMs)})`,
      `1 worker: ${ppmSingle.toFixed(1)}/min (${secs(singleMs)})`,
      `${speedup.toFixed(2)}×`,
      cores === 2 ? "≥ 1.7× (2 cores)" : `≥ 1.7× (goal is for 2 cores; ${cores} here)`,
      speedup >= 1.7 ? "met" : "NOT met",
    ]);
    notes.push(
      `OCR mean confidence ${conf.toFixed(1)} (pool), ${mean(singleResults.map((r) => r.confidence)).toFixed(1)} (1 worker); known-word recall ${(recallJs * 100).toFixed(1)}%`,
    );

    process.stdout.write("OCR: native tesseract…\n");
    const version = await run("tesseract", ["--version"]).catch(() => null);
    const jsPerPage = singleMs / PAGES;
    if (!version) {
      rows.push([`OCR per page, one at a time`, `tesseract.js ${secs(jsPerPage)}`, "native tesseract not installed", "—", "≤ 2×", ""]);
    } else {
      const native: number[] = [];
      const nativeRecall: number[] = [];
      // Single-threaded like a tesseract.js worker (native uses OpenMP threads by default).
      const env = { ...process.env, OMP_THREAD_LIMIT: "1" };
      for (let i = 0; i < PAGES; i++) {
        const r = (await run("tesseract", [pngs[i]!, "-", "-l", "eng", "--oem", "1", "--psm", "3"], env))!;
        native.push(r.ms);
        nativeRecall.push(wordRecall(truths[i]!, r.stdout));
      }
      const nativePerPage = mean(native);
      const ratio = jsPerPage / nativePerPage;
      const v = /tesseract\s+v?([\d.]+)/i.exec(version.stdout)?.[1] ?? "?";
      rows.push([
        `OCR per page, one at a time`,
        `tesseract.js ${secs(jsPerPage)} (median ${secs(median(perPage))})`,
        `native tesseract ${v} ${secs(nativePerPage)} (median ${secs(median(native))})`,
        `${ratio.toFixed(2)}×`,
        "≤ 2×",
        ratio <= 2 ? "met" : "NOT met",
      ]);
      notes.push(`native tesseract: --oem 1 --psm 3, OMP_THREAD_LIMIT=1, process start included; known-word recall ${(mean(nativeRecall) * 100).toFixed(1)}%`);
    }

    // 3. PDF text ------------------------------------------------------------------------
    process.stdout.write("PDF text: extractText…\n");
    const spoolPdf: number[] = [];
    let extracted: string[] = [];
    for (let i = 0; i < PDF_RUNS; i++) {
      const t = performance.now();
      const pages = await extractText(pdf);
      spoolPdf.push(performance.now() - t);
      if (pages.length !== PDF_PAGES) throw new Error(`extractText returned ${pages.length} pages, expected ${PDF_PAGES}`);
      extracted = pages.map((p) => p.text);
    }
    const spoolPerPage = median(spoolPdf) / PDF_PAGES;
    const pdfRecall = mean(extracted.map((t, i) => wordRecall(pdfTruth[i]!, t)));
    process.stdout.write("PDF text: pdftotext…\n");
    const popplerRuns: number[] = [];
    let poppler = await run("pdftotext", ["-v"]).catch(() => null);
    if (poppler) {
      for (let i = 0; i < PDF_RUNS; i++) {
        const r = await run("pdftotext", ["-enc", "UTF-8", pdf, "-"]);
        if (!r) {
          poppler = null;
          break;
        }
        popplerRuns.push(r.ms);
      }
    }
    const spoolCell = `extractText ${(spoolPerPage).toFixed(2)} ms/page (${secs(median(spoolPdf))} total)`;
    if (poppler && popplerRuns.length) {
      const popPerPage = median(popplerRuns) / PDF_PAGES;
      rows.push([`PDF text, ${PDF_PAGES} pages, ms/page`, spoolCell, `pdftotext ${popPerPage.toFixed(2)} ms/page (${secs(median(popplerRuns))} total)`, `${(spoolPerPage / popPerPage).toFixed(2)}×`, "none given", "—"]);
    } else {
      rows.push([`PDF text, ${PDF_PAGES} pages, ms/page`, spoolCell, "pdftotext not installed", "—", "none given", "—"]);
    }
    notes.push(`PDF text: median of ${PDF_RUNS} runs, child process start included; known-word recall ${(pdfRecall * 100).toFixed(1)}%`);

    const head = ["case", "spool", "peer", "ratio", "goal", ""];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
    process.stdout.write(`\n${line(head)}\n|${widths.map((w) => "-".repeat(w + 2)).join("|")}|\n${rows.map(line).join("\n")}\n`);
    process.stdout.write(`${notes.map((n) => `  ${n}`).join("\n")}\n  load average at end ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}\n`);
  } finally {
    await Promise.all(pools.map((p) => p.close().catch(() => {})));
    await rm(work, { recursive: true, force: true });
  }
}

runBench(main);
