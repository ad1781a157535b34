// document.extractText and document.process through their typed mutations, on real pdf.js
// (child process), real tesseract.js (the OCR pool) and real ffmpeg: text-layer PDFs, scans,
// mixed documents and image documents; per-page progress; cancellation; bad input.
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { PDFDocument, StandardFonts } from "pdf-lib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../src/engine/engine.ts";
import { Ffmpeg } from "../../src/tools/ffmpeg/ffmpeg.ts";
import { OcrPool } from "../../src/tools/ocr/pool.ts";
import { createTestApi, type Api } from "../graphql/api-helpers.ts";
import { createTestDatabase, log, type TestDb } from "../helpers.ts";
import { encryptedPdf, inflateBombPdf, manyPagesPdf, metadataPdf, METADATA, renderTextPng, SENTENCES, separateRunsPdf, textPdf } from "./fixtures.ts";
import { highDpiScanPdf, pixelBombPng, scannedPdf, type ScanLine } from "./scan-fixtures.ts";

let db: TestDb;
let api: Api;
let engine: Engine;
let ocr: OcrPool;
let ffmpeg: Ffmpeg;
let base: string;
let dir: string;
let key: string;

beforeAll(async () => {
  db = await createTestDatabase();
  ocr = new OcrPool({ size: 2 });
  ffmpeg = await Ffmpeg.resolve({});
  api = await createTestApi(db, { ffmpeg, ocr, limits: { documentPages: 40, ocrPages: 6 } });
  base = (await api.listen()).http.replace(/\/graphql$/, "");
  engine = new Engine({ pool: db.pool, registry: api.registry, log, concurrency: 2 });
  key = (await api.tenant()).key;
  dir = await mkdtemp(path.join(os.tmpdir(), "spool-process-"));
});
afterAll(async () => {
  await engine?.stop(1000);
  await api?.close();
  await ocr?.close();
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const SCAN_1: ScanLine[] = [{ text: "Quarterly report", size: 56 }, { text: "Revenue grew in every region." }, { text: "Customers renewed their contracts." }];
const SCAN_2: ScanLine[] = [{ text: "Shipping schedule" }, { text: "Orders leave the warehouse on Monday." }];

async function upload(bytes: Buffer, name: string, k = key): Promise<string> {
  const r = await api.gqlUpload(`mutation($input: CreateDocumentInput!) { createDocument(input: $input) { document { id status } } }`, { input: { file: null } }, { "input.file": { bytes, name } }, k);
  expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
  return r.data.createDocument.document.id;
}
const uploadFile = async (file: string) => upload(await readFile(file), path.basename(file));

const PROCESS = `mutation($input: ProcessDocumentInput!) { processDocument(input: $input) { job { id status } document { id } } }`;
const EXTRACT = `mutation($input: ExtractDocumentTextInput!) { extractDocumentText(input: $input) { job { id status } document { id } } }`;
const JOB = `query($id: ID!) { job(id: $id) { status stage error { code message } result
  events(first: 100) { edges { node { kind stage message pagesDone pageCount } } } } }`;
const PAGES = `query($id: ID!) { document(id: $id) { pageCount language wordCount
  properties { title author subject creator producer createdAt modifiedAt }
  pages { number width height text source confidence wordCount words { text x y width height confidence } } } }`;

async function submit(mutation: string, input: Record<string, unknown>) {
  const r = await api.gql(mutation, { input }, key);
  expect(r.errors).toBeUndefined();
  return (r.data.processDocument ?? r.data.extractDocumentText).job.id as string;
}
async function finish(jobId: string) {
  await engine.drain();
  return (await api.gql(JOB, { id: jobId }, key)).data.job;
}
async function download(url: string): Promise<Response> {
  const u = new URL(url);
  return fetch(`${base}${u.pathname}${u.search}`);
}
/** The uuid inside a global id ("Job:<uuid>" in base64). */
const uuidOf = (globalId: string) => Buffer.from(globalId, "base64").toString("utf8").split(":")[1]!;
const words = (page: { words: Array<{ text: string }> }) => page.words.map((w) => w.text.replace(/[^\p{L}\p{N}]/gu, "").toLowerCase());

describe("document.extractText", () => {
  it("reads a text PDF's layer page by page with word boxes, properties and language, without OCR", async () => {
    const id = await uploadFile(await textPdf(path.join(dir, "three.pdf")));
    const job = await finish(await submit(EXTRACT, { documentId: id }));
    expect(job).toMatchObject({ status: "SUCCEEDED", result: { pageCount: 3, ocrPages: 0, language: "eng", confidence: null } });
    expect(job.result.wordCount).toBe(SENTENCES.join(" ").split(/\s+/).length);
    const d = (await api.gql(PAGES, { id }, key)).data.document;
    expect(d).toMatchObject({ pageCount: 3, language: "eng", wordCount: job.result.wordCount });
    expect(d.pages.map((p: any) => [p.number, p.source, p.confidence, p.text.trim()])).toEqual(SENTENCES.map((s, i) => [i + 1, "TEXT_LAYER", null, s]));
    const quick = d.pages[0].words.find((w: any) => w.text === "quick");
    expect(quick.confidence).toBeNull();
    // drawn at x=72, baseline 100 pt from the top, 14 pt Helvetica
    expect(quick.x).toBeGreaterThan(72);
    expect(quick.y).toBeGreaterThan(80);
    expect(quick.y + quick.height).toBeLessThan(106);
  });

  it("separates text runs in Document.pages.text where their positions say: a space across a gap, none where runs touch, a line break between lines", async () => {
    const id = await uploadFile(await separateRunsPdf(path.join(dir, "runs.pdf")));
    const job = await finish(await submit(EXTRACT, { documentId: id }));
    expect(job).toMatchObject({ status: "SUCCEEDED", result: { ocrPages: 0, wordCount: 6 } });
    const d = (await api.gql(PAGES, { id }, key)).data.document;
    expect(d.pages[0].text.trim()).toBe("[Function] int asn1_array2tree\nalpha beta\nSpool");
    // Courier, a standard font pdf.js has no ascent for: the boxes are still numbers.
    expect(d.pages[0].words.find((w: any) => w.text === "int")).toMatchObject({ x: 138, y: 92, width: 18, height: 10 });
  });

  it("moves progress page by page through the text stage of a text-layer PDF, not 2-9 % and then a jump to 90 %", async () => {
    const doc = await PDFDocument.create();
    const font = await doc.embedFont(StandardFonts.Helvetica);
    for (let i = 0; i < 36; i++) {
      const page = doc.addPage([612, 792]);
      SENTENCES.forEach((s, k) => page.drawText(`${i + 1}.${k + 1} ${s}`, { x: 72, y: 700 - k * 16, size: 11, font }));
    }
    const file = path.join(dir, "thirty-six.pdf");
    await writeFile(file, await doc.save());
    const id = await uploadFile(file);
    const jobId = await submit(EXTRACT, { documentId: id });
    // Every progress report written, so that the events show each step (the default coalesces to 300 ms).
    const eager = new Engine({ pool: db.pool, registry: api.registry, log, concurrency: 1, progressIntervalMs: 0 });
    await eager.drain();
    await eager.stop(1000);
    const events = (await api.gql(`query($id: ID!) { job(id: $id) { status events(first: 100) { edges { node { kind stage progress pagesDone pageCount } } } } }`, { id: jobId }, key)).data.job.events.edges.map((e: any) => e.node);
    const start = events.findIndex((e: any) => e.kind === "STAGE" && e.stage === "text");
    const end = events.findIndex((e: any, i: number) => i > start && e.kind === "STAGE");
    const text = events.slice(start, end).filter((e: any) => e.kind === "PROGRESS");
    expect(new Set(text.map((e: any) => e.pagesDone)).size).toBeGreaterThanOrEqual(6);
    expect(text.every((e: any) => e.pageCount === 36)).toBe(true);
    const values = text.map((e: any) => e.progress);
    expect(values).toEqual([...values].sort((a, b) => a - b));
    expect(values[0]).toBeLessThan(0.3);
    // The text stage is the whole read here: it ends near the read's share (0.9), not at 0.09.
    expect(values.at(-1)).toBeGreaterThan(0.85);
  });

  it("keeps the file's own properties on the Document", async () => {
    const id = await uploadFile(await metadataPdf(path.join(dir, "meta.pdf")));
    expect((await finish(await submit(EXTRACT, { documentId: id }))).status).toBe("SUCCEEDED");
    const d = (await api.gql(PAGES, { id }, key)).data.document;
    expect(d.properties).toEqual({
      title: METADATA.title, author: METADATA.author, subject: METADATA.subject, creator: METADATA.creator, producer: METADATA.producer,
      createdAt: METADATA.creationDate, modifiedAt: METADATA.modificationDate,
    });
  });

  it("OCRs a scanned PDF: known words, sane confidence, boxes in page points, progress page by page", async () => {
    const id = await uploadFile(await scannedPdf(path.join(dir, "scan.pdf"), [SCAN_1, SCAN_2]));
    const job = await finish(await submit(EXTRACT, { documentId: id }));
    expect(job).toMatchObject({ status: "SUCCEEDED", result: { pageCount: 2, ocrPages: 2, language: "eng" } });
    const d = (await api.gql(PAGES, { id }, key)).data.document;
    expect(d.pages.map((p: any) => p.source)).toEqual(["OCR", "OCR"]);
    for (const p of d.pages) {
      expect(p.confidence).toBeGreaterThan(70);
      expect(p.width).toBe(612);
      for (const w of p.words) {
        expect(w.confidence).toBeGreaterThanOrEqual(0);
        expect(w.x).toBeGreaterThanOrEqual(0);
        expect(w.x + w.width).toBeLessThanOrEqual(612);
        expect(w.y + w.height).toBeLessThanOrEqual(792);
      }
    }
    expect(words(d.pages[0])).toEqual(expect.arrayContaining(["quarterly", "report", "revenue", "customers", "renewed"]));
    expect(words(d.pages[1])).toEqual(expect.arrayContaining(["shipping", "warehouse", "monday"]));
    // "Revenue" was drawn at 150 px from the left at 150 dpi: 72 pt.
    const revenue = d.pages[0].words.find((w: any) => w.text.startsWith("Revenue"));
    expect(Math.abs(revenue.x - 72)).toBeLessThan(6);

    const events = job.events.edges.map((e: any) => e.node);
    const stages = events.filter((e: any) => e.kind === "STAGE").map((e: any) => e.stage);
    expect(stages).toEqual(["inspect", "text", "ocr", "store"]);
    const ocrProgress = events.filter((e: any) => e.kind === "PROGRESS" && e.pageCount === 2).map((e: any) => e.pagesDone);
    expect(ocrProgress.length).toBeGreaterThan(0);
    expect(ocrProgress.at(-1)).toBe(2);
    const logs = events.filter((e: any) => e.kind === "LOG").map((e: any) => e.message);
    expect(logs).toEqual(expect.arrayContaining([expect.stringMatching(/^page 1: OCR \d+ words, confidence \d+$/), expect.stringMatching(/^page 2: OCR/)]));
  });

  it("auto OCRs only the page without a text layer; ocrEnabled false never OCRs, true OCRs every page", async () => {
    const id = await uploadFile(await scannedPdf(path.join(dir, "mixed.pdf"), [SCAN_2, SCAN_1], [1]));
    const sources = async (ocrEnabled?: boolean) => {
      const job = await finish(await submit(EXTRACT, { documentId: id, ...(ocrEnabled === undefined ? {} : { ocrEnabled }) }));
      expect(job.status).toBe("SUCCEEDED");
      const d = (await api.gql(PAGES, { id }, key)).data.document;
      return { ocrPages: job.result.ocrPages, sources: d.pages.map((p: any) => p.source), text: d.pages.map((p: any) => p.text) };
    };
    const auto = await sources();
    expect(auto).toMatchObject({ ocrPages: 1, sources: ["TEXT_LAYER", "OCR"] });
    expect(auto.text[0]).toContain("Orders leave the warehouse on Monday.");
    expect(auto.text[1]).toMatch(/Revenue grew/);
    expect(await sources(false)).toMatchObject({ ocrPages: 0, sources: ["TEXT_LAYER", "NONE"], text: [expect.stringContaining("Shipping"), ""] });
    expect(await sources(true)).toMatchObject({ ocrPages: 2, sources: ["OCR", "OCR"] });
  });

  it("reads jpg, webp and tiff image documents too (decoded by ffmpeg, not in this process)", async () => {
    const { createCanvas, loadImage } = await import("@napi-rs/canvas");
    const png = await renderTextPng("Receipt total 1250", 1000, 160);
    const image = await loadImage(png);
    const canvas = createCanvas(1000, 160);
    canvas.getContext("2d").drawImage(image, 0, 0);
    // TIFF made by the same ffmpeg binary the jobs use.
    await writeFile(path.join(dir, "receipt.png"), png);
    execFileSync(ffmpeg.binaries.ffmpeg, ["-y", "-loglevel", "error", "-i", path.join(dir, "receipt.png"), path.join(dir, "receipt.tiff")]);
    const formats = [["jpg", await canvas.encode("jpeg", 90)], ["webp", await canvas.encode("webp", 90)], ["tiff", await readFile(path.join(dir, "receipt.tiff"))]] as const;
    for (const [format, bytes] of formats) {
      const id = await upload(bytes, `receipt.${format}`);
      const job = await finish(await submit(EXTRACT, { documentId: id }));
      expect([format, job.status]).toEqual([format, "SUCCEEDED"]);
      const d = (await api.gql(PAGES, { id }, key)).data.document;
      expect([format, d.pages[0].source, d.pages[0].width]).toEqual([format, "OCR", 1000]);
      expect(d.pages[0].text).toMatch(/Receipt total 1250/);
    }
  });

  it("OCRs an image document as one page, in pixels", async () => {
    const id = await upload(await renderTextPng("Invoice number 4711", 1000, 160), "invoice.png");
    const job = await finish(await submit(EXTRACT, { documentId: id }));
    expect(job).toMatchObject({ status: "SUCCEEDED", result: { pageCount: 1, ocrPages: 1 } });
    const d = (await api.gql(PAGES, { id }, key)).data.document;
    expect(d.pages[0]).toMatchObject({ number: 1, width: 1000, height: 160, source: "OCR" });
    expect(d.pages[0].text).toMatch(/Invoice number 4711/);
    expect(d.properties).toBeNull();
  });
});

describe("document.process", () => {
  it("turns a structured PDF into Markdown, HTML and text that keep its headings, paragraphs and lists", async () => {
    const doc = await PDFDocument.create();
    const font = await doc.embedFont(StandardFonts.Helvetica);
    const page = doc.addPage([612, 792]);
    const lines: Array<[string, number, number]> = [
      ["Release notes", 24, 700], ["This release makes uploads faster and", 11, 660], ["safer for everyone.", 11, 646],
      ["• Resumable uploads", 11, 616], ["• Signed download links", 11, 602],
    ];
    for (const [text, size, y] of lines) page.drawText(text, { x: 72, y, size, font });
    const file = path.join(dir, "release-notes.pdf");
    await writeFile(file, await doc.save());
    const id = await uploadFile(file);
    const job = await finish(await submit(PROCESS, { documentId: id, outputs: ["MARKDOWN", "HTML", "TEXT"] }));
    expect(job).toMatchObject({ status: "SUCCEEDED", result: { pageCount: 1, ocrPages: 0 } });
    const d = (await api.gql(`query($id: ID!) { document(id: $id) { outputs { role kind contentType filename url } previews { id } } }`, { id }, key)).data.document;
    expect(d.previews).toEqual([]);
    const byRole = Object.fromEntries(d.outputs.map((o: any) => [o.role, o]));
    expect(Object.keys(byRole).sort()).toEqual(["HTML", "MARKDOWN", "TEXT"]);
    expect(byRole.MARKDOWN).toMatchObject({ kind: "TEXT", contentType: "text/markdown; charset=utf-8", filename: "release-notes.md" });
    const md = await (await download(byRole.MARKDOWN.url)).text();
    expect(md).toBe("# Release notes\n\nThis release makes uploads faster and safer for everyone.\n\n- Resumable uploads\n- Signed download links\n");
    const html = await (await download(byRole.HTML.url)).text();
    expect(html).toMatch(/<h1>Release notes<\/h1>/);
    expect(html).toMatch(/<ul>\s*<li>Resumable uploads<\/li>\s*<li>Signed download links<\/li>\s*<\/ul>/);
    const txt = await (await download(byRole.TEXT.url)).text();
    expect(txt).toContain("This release makes uploads faster and safer for everyone.");
  });

  it("a scanned PDF: OCR, Markdown with the known words and previews of the right size, all downloadable", async () => {
    const id = await uploadFile(await scannedPdf(path.join(dir, "scan-process.pdf"), [SCAN_1, SCAN_2]));
    const job = await finish(await submit(PROCESS, { documentId: id, previewWidth: 306 }));
    expect(job).toMatchObject({ status: "SUCCEEDED", result: { pageCount: 2, ocrPages: 2 } });
    expect(job.events.edges.filter((e: any) => e.node.kind === "STAGE").map((e: any) => e.node.stage)).toEqual(["inspect", "text", "ocr", "assemble", "preview", "store"]);
    const d = (await api.gql(`query($id: ID!) { document(id: $id) { outputs(roles: [MARKDOWN]) { url } previews { label url media { video { width height } } } } }`, { id }, key)).data.document;
    const md = await (await download(d.outputs[0].url)).text();
    expect(md).toMatch(/^# Quarterly report\n/);
    expect(md).toMatch(/Revenue grew in every region/);
    expect(md).toMatch(/warehouse on Monday/);
    expect(d.previews.map((p: any) => [p.label, p.media.video])).toEqual([["page-1", { width: 306, height: 396 }], ["page-2", { width: 306, height: 396 }]]);
    expect((await download(d.previews[1].url)).status).toBe(200);
  });

  it("a 700 dpi scan (one 46 MP image filling the page): OCR finds its words and the preview is not blank", async () => {
    const lines: ScanLine[] = [{ text: "Harbour office invoice", size: 28 }, { text: "Payment is due within thirty days." }, { text: "Thank you for your order." }];
    const id = await uploadFile(await highDpiScanPdf(path.join(dir, "scan-700dpi.pdf"), lines, 700));
    const job = await finish(await submit(PROCESS, { documentId: id, outputs: ["MARKDOWN", "PREVIEW"], previewWidth: 612 }));
    expect(job).toMatchObject({ status: "SUCCEEDED", result: { pageCount: 1, ocrPages: 1 } });
    const d = (await api.gql(`query($id: ID!) { document(id: $id) { pages { text words { text } } previews { url } } }`, { id }, key)).data.document;
    expect(words(d.pages[0])).toEqual(expect.arrayContaining(["harbour", "office", "invoice", "payment", "thirty", "days", "order"]));
    const { createCanvas, loadImage } = await import("@napi-rs/canvas");
    const preview = await loadImage(Buffer.from(await (await download(d.previews[0].url)).arrayBuffer()));
    const ctx = createCanvas(preview.width, preview.height).getContext("2d");
    ctx.drawImage(preview, 0, 0);
    const { data } = ctx.getImageData(0, 0, preview.width, preview.height);
    let dark = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i]! < 128) dark++;
    expect(dark).toBeGreaterThan(2000);
  });

  it("extracts the images embedded in a PDF when asked", async () => {
    const doc = await PDFDocument.create();
    const png = await doc.embedPng(await renderTextPng("logo", 240, 120));
    doc.addPage([612, 792]).drawImage(png, { x: 100, y: 500, width: 240, height: 120 });
    const file = path.join(dir, "with-image.pdf");
    await writeFile(file, await doc.save());
    const id = await uploadFile(file);
    const job = await finish(await submit(PROCESS, { documentId: id, outputs: ["TEXT"], extractImages: true, ocrEnabled: false }));
    expect(job).toMatchObject({ status: "SUCCEEDED", result: { imagesTruncated: false } });
    const d = (await api.gql(`query($id: ID!) { document(id: $id) { outputs(roles: [IMAGE]) { label kind contentType media { video { width height } } } } }`, { id }, key)).data.document;
    expect(d.outputs).toEqual([{ label: "page-1-image-1", kind: "IMAGE", contentType: "image/png", media: { video: expect.objectContaining({ width: 240, height: 120 }) } }]);
  });
});

describe("cancellation and bad input", () => {
  it("cancelling during OCR stops the work and leaves no outputs and no pages; the pool serves the next job", async () => {
    const pages = Array.from({ length: 6 }, (_, i) => [{ text: `Page ${i + 1} of the long scan` }, ...SCAN_1.slice(1)]);
    const id = await uploadFile(await scannedPdf(path.join(dir, "long-scan.pdf"), pages));
    const jobId = await submit(PROCESS, { documentId: id });
    const running = engine.drain();
    // Wait for OCR to be under way (a page done), then cancel.
    for (let i = 0; i < 600; i++) {
      const { rows } = await db.pool.query(`select 1 from job_events where job_id = $1 and kind = 'LOG' and data->>'message' like 'page %: OCR%'`, [uuidOf(jobId)]);
      if (rows.length) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const c = await api.gql(`mutation($id: ID!) { cancelJob(input: { id: $id }) { job { status } } }`, { id: jobId }, key);
    expect(c.errors).toBeUndefined();
    await running;
    const job = (await api.gql(JOB, { id: jobId }, key)).data.job;
    expect(job.status).toBe("CANCELLED");
    const assets = await db.pool.query(`select role from assets where document_id = $1`, [uuidOf(id)]);
    expect(assets.rows.map((r) => r.role)).toEqual(["SOURCE"]);
    expect((await db.pool.query(`select 1 from document_pages where document_id = $1`, [uuidOf(id)])).rowCount).toBe(0);
    await new Promise((r) => setTimeout(r, 200));
    expect(ocr.runningCount).toBe(0);
    expect(ocr.queueLength).toBe(0);
    // The pool still works.
    const next = await upload(await renderTextPng("Still working", 800, 160), "next.png");
    expect((await finish(await submit(EXTRACT, { documentId: next }))).status).toBe("SUCCEEDED");
  });

  it("refuses an encrypted PDF, an inflate bomb, too many pages, too many pages to OCR and a pixel bomb with stable codes", async () => {
    const cases: Array<[string, () => Promise<string>, string]> = [
      ["encrypted", () => encryptedPdf(path.join(dir, "enc.pdf")).then(uploadFile), "DOCUMENT_CORRUPTED"],
      ["bomb", () => inflateBombPdf(path.join(dir, "bomb.pdf"), 2 * 1024 ** 3).then(uploadFile), "DOCUMENT_TOO_LARGE"],
      ["pages", () => manyPagesPdf(path.join(dir, "many.pdf"), 41).then(uploadFile), "DOCUMENT_TOO_LARGE"],
      ["ocr pages", () => scannedPdf(path.join(dir, "seven.pdf"), Array.from({ length: 7 }, () => SCAN_2)).then(uploadFile), "DOCUMENT_TOO_LARGE"],
      ["pixels", () => upload(pixelBombPng(60_000, 60_000), "huge.png"), "DOCUMENT_TOO_LARGE"],
    ];
    for (const [name, make, code] of cases) {
      const id = await make();
      const job = await finish(await submit(PROCESS, { documentId: id }));
      expect([name, job.status, job.error?.code, job.error?.message]).toEqual([name, "FAILED", code, expect.any(String)]);
      expect(job.error.message.length).toBeGreaterThan(10);
      const assets = await db.pool.query(`select role from assets where document_id = $1`, [uuidOf(id)]);
      expect(assets.rows.map((r) => r.role)).toEqual(["SOURCE"]);
      expect((await db.pool.query(`select 1 from document_pages where document_id = $1`, [uuidOf(id)])).rowCount).toBe(0);
    }
  });

  it("refuses bad input at the mutation: unknown language, bad outputs, another organization's document", async () => {
    const id = await uploadFile(await textPdf(path.join(dir, "ok.pdf")));
    const code = (r: any) => r.errors?.[0]?.extensions?.code;
    const lang = await api.gql(PROCESS, { input: { documentId: id, language: "xyz" } }, key);
    expect(code(lang)).toBe("INVALID_INPUT");
    expect(lang.errors?.[0]?.message).toMatch(/xyz is not installed; installed: .*eng/);
    expect(code(await api.gql(PROCESS, { input: { documentId: id, outputs: [] } }, key))).toBe("INVALID_INPUT");
    expect(code(await api.gql(PROCESS, { input: { documentId: id, previewPages: 0 } }, key))).toBe("INVALID_INPUT");
    const other = (await api.tenant()).key;
    expect(code(await api.gql(EXTRACT, { input: { documentId: id } }, other))).toBe("NOT_FOUND");
    expect((await api.gql(`query($id: ID!) { document(id: $id) { id } }`, { id }, other)).errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
  });
});
