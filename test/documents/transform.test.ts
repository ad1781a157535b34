// document.transform through transformDocument: operations run by the PDF adapter's child
// process on real uploaded PDFs; the new Documents are downloaded through their signed URLs
// and reopened with pdf.js. Failures (foreign ids, missing pages, encrypted files, images)
// and cancellation leave no Document and no stored file behind.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createCanvas, loadImage } from "@napi-rs/canvas";
import { PDFDocument, StandardFonts } from "pdf-lib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../src/engine/engine.ts";
import { idOf } from "../../src/graphql/ids.ts";
import { PgListener } from "../../src/pubsub/pg-listener.ts";
import { Ffmpeg } from "../../src/tools/ffmpeg/ffmpeg.ts";
import { extractText, openPdfInfo, renderPage } from "../../src/tools/pdf/pdf.ts";
import { createTestApi, type Api } from "../graphql/api-helpers.ts";
import { createTestDatabase, isProcessAlive, log, waitFor, type TestDb } from "../helpers.ts";
import { ownerOnlyEncryptedPdf, renderTextPng, SENTENCES, textPdf } from "./fixtures.ts";

const OTHER = [
  "Sphinx of black quartz, judge my vow.",
  "Jackdaws love my big sphinx of quartz.",
  "The five boxing wizards jump quickly.",
];

let db: TestDb;
let listener: PgListener;
let api: Api;
let engine: Engine;
let base: string;
let dir: string;
let key: string;
let org: string;

/** Three US-letter pages holding `lines`, one per page (like fixtures' textPdf). */
async function linesPdf(file: string, lines: string[]): Promise<string> {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  for (const s of lines) doc.addPage([612, 792]).drawText(s, { x: 72, y: 692, size: 14, font });
  await writeFile(file, await doc.save());
  return file;
}

beforeAll(async () => {
  db = await createTestDatabase();
  listener = new PgListener(db.url, log);
  await listener.start();
  api = await createTestApi(db, { ffmpeg: await Ffmpeg.resolve({}) });
  base = (await api.listen()).http.replace(/\/graphql$/, "");
  engine = new Engine({ pool: db.pool, registry: api.registry, log, listener, concurrency: 1 });
  const t = await api.tenant();
  key = t.key;
  org = t.org.id;
  dir = await mkdtemp(path.join(os.tmpdir(), "spool-transform-"));
});
afterAll(async () => {
  await api?.close();
  await listener?.stop();
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const TRANSFORM = `mutation($input: TransformDocumentInput!) { transformDocument(input: $input) { job { id status } document { id } } }`;
const JOB = `query($id: ID!) { job(id: $id) {
  id status stage error { code message } result
  events(first: 100) { edges { node { kind stage } } }
  outputDocuments { id title tags status pageCount derivedFrom { id } createdByJob { id type } source { filename contentType kind origin role url job { id } } }
} }`;

async function upload(bytes: Buffer, name: string, k = key): Promise<string> {
  const r = await api.gqlUpload(`mutation($input: CreateDocumentInput!) { createDocument(input: $input) { document { id status } } }`, { input: { file: null } }, { "input.file": { bytes, name } }, k);
  expect(r.errors).toBeUndefined();
  return r.data.createDocument.document.id;
}

async function uploadAsset(bytes: Buffer, name: string, k = key): Promise<string> {
  const r = await api.gqlUpload(`mutation($input: UploadAssetInput!) { uploadAsset(input: $input) { asset { id kind contentType } } }`, { input: { file: null } }, { "input.file": { bytes, name } }, k);
  expect(r.errors).toBeUndefined();
  expect(r.data.uploadAsset.asset).toMatchObject({ kind: "IMAGE", contentType: "image/png" });
  return r.data.uploadAsset.asset.id;
}

async function submit(input: Record<string, unknown>, k = key): Promise<string> {
  const r = await api.gql(TRANSFORM, { input }, k);
  expect(r.errors).toBeUndefined();
  expect(r.data.transformDocument.document.id).toBe(input.documentId);
  return r.data.transformDocument.job.id;
}

async function job(id: string, k = key) {
  const r = await api.gql(JOB, { id }, k);
  expect(r.errors).toBeUndefined();
  return r.data.job;
}

async function run(input: Record<string, unknown>) {
  const id = await submit(input);
  await engine.drain();
  return job(id);
}

/** The bytes behind a signed URL, fetched from the listening server. */
async function download(url: string): Promise<Buffer> {
  const u = new URL(url);
  const res = await fetch(`${base}${u.pathname}${u.search}`);
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

async function saveTo(bytes: Buffer, name: string): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, bytes);
  return file;
}

/** Every stored key of the organization. */
async function storedKeys(): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of api.storage.list(`orgs/${org}/`)) keys.push(o.key);
  return keys.sort();
}

async function madeBy(jobGlobalId: string) {
  const { rows } = await db.pool.query(`select * from documents where created_by_job_id = $1`, [idOf("Job", jobGlobalId)]);
  return rows;
}

const raw = (globalId: string) => Buffer.from(globalId, "base64").toString().split(":")[1]!;

describe("document.transform", () => {
  let a: string;
  let b: string;
  let aFile: string;

  beforeAll(async () => {
    aFile = await textPdf(path.join(dir, "a.pdf"));
    a = await upload(await readFile(aFile), "a.pdf");
    b = await upload(await readFile(await linesPdf(path.join(dir, "b.pdf"), OTHER)), "b.pdf");
  });

  it("merges, extracts, rotates, stamps and retitles into one new Document, leaving the sources untouched", async () => {
    const sourcesBefore = (await db.pool.query(`select id, key, sha256, document_id from assets where document_id = any($1::uuid[]) order by id`, [[raw(a), raw(b)]])).rows;

    const j = await run({
      documentId: a,
      title: "Merged and stamped",
      tags: ["q3", "legal", "q3"],
      operations: [
        { merge: { documentIds: [b] } },
        { extractPages: { pages: [6, 1] } },
        { rotate: { degrees: 90 } },
        { stampText: { text: "CONFIDENTIAL COPY", fontSize: 18, color: "#cc0000", opacity: 0.8, position: { anchor: "BOTTOM_CENTER" } } },
        { setMetadata: { title: "Merged PDF title", author: "Spool", creationDate: "2024-01-02T03:04:05.000Z" } },
      ],
    });
    expect(j).toMatchObject({ status: "SUCCEEDED", error: null, result: { pageCounts: [2] } });
    expect(j.result.documentIds).toHaveLength(1);
    const stages = j.events.edges.map((e: any) => e.node).filter((n: any) => n.kind === "STAGE").map((n: any) => n.stage);
    expect(stages).toEqual(["load", "merge", "extractPages", "rotate", "stampText", "setMetadata", "store"]);

    expect(j.outputDocuments).toHaveLength(1);
    const out = j.outputDocuments[0];
    expect(idOf("Document", out.id)).toBe(j.result.documentIds[0]);
    expect(out).toMatchObject({
      title: "Merged and stamped", tags: ["q3", "legal"], status: "READY", pageCount: 2,
      derivedFrom: { id: a }, createdByJob: { id: j.id, type: "document.transform" },
      source: { filename: "merged-and-stamped.pdf", contentType: "application/pdf", kind: "PDF", origin: "JOB_OUTPUT", role: "SOURCE", job: { id: j.id } },
    });
    const { rows: [row] } = await db.pool.query(`select page_count, created_by_job_id, derived_from_id from documents where id = $1`, [j.result.documentIds[0]]);
    expect(row).toEqual({ page_count: 2, created_by_job_id: idOf("Job", j.id), derived_from_id: raw(a) });

    // The same answers from the Document's side.
    const d = await api.gql(`query($id: ID!) { document(id: $id) { derivedFrom { id title pageCount } createdByJob { id outputDocuments { id } } } }`, { id: out.id }, key);
    expect(d.errors).toBeUndefined();
    expect(d.data.document).toEqual({ derivedFrom: { id: a, title: "a.pdf", pageCount: null }, createdByJob: { id: j.id, outputDocuments: [{ id: out.id }] } });

    const file = await saveTo(await download(out.source.url), "merged.pdf");
    const info = await openPdfInfo(file);
    expect(info.pageCount).toBe(2);
    expect(info.metadata).toMatchObject({ title: "Merged PDF title", author: "Spool", creationDate: "2024-01-02T03:04:05.000Z" });
    const text = await extractText(file);
    expect(text.map((p) => p.text.includes(OTHER[2]!))).toEqual([true, false]);
    expect(text.map((p) => p.text.includes(SENTENCES[0]!))).toEqual([false, true]);
    for (const p of text) {
      expect(p.text).toContain("CONFIDENTIAL COPY");
      // Turned a quarter: the displayed page is landscape.
      expect({ width: p.width, height: p.height }).toEqual({ width: 792, height: 612 });
    }

    // The sources: same rows, same bytes, no new asset, no page count written.
    const sourcesAfter = (await db.pool.query(`select id, key, sha256, document_id from assets where document_id = any($1::uuid[]) order by id`, [[raw(a), raw(b)]])).rows;
    expect(sourcesAfter).toEqual(sourcesBefore);
    const stored = await api.storage.withLocalFile(sourcesBefore.find((s) => s.document_id === raw(a))!.key, (p) => readFile(p));
    expect(createHash("sha256").update(stored).digest("hex")).toBe(createHash("sha256").update(await readFile(aFile)).digest("hex"));
    const { rows: src } = await db.pool.query(`select page_count, created_by_job_id, derived_from_id from documents where id = any($1::uuid[])`, [[raw(a), raw(b)]]);
    expect(src).toEqual([{ page_count: null, created_by_job_id: null, derived_from_id: null }, { page_count: null, created_by_job_id: null, derived_from_id: null }]);
  });

  it("stamps an uploaded PNG asset where asked, on the pages asked", async () => {
    const assetId = await uploadAsset(await renderTextPng("STAMP", 200, 50), "stamp.png");
    const j = await run({
      documentId: a,
      operations: [{ stampImage: { assetId, scale: 0.5, position: { anchor: "TOP_RIGHT" }, pages: [1, 3] } }],
    });
    expect(j).toMatchObject({ status: "SUCCEEDED", result: { pageCounts: [3] } });
    const out = j.outputDocuments[0];
    expect(out.title).toBe("a.pdf (transformed)");
    expect(out.source.filename).toBe("a-pdf-transformed.pdf");
    const file = await saveTo(await download(out.source.url), "stamped.pdf");

    // The stamp is 100×25 points, 36 points from the top and right edges: dark pixels there on
    // pages 1 and 3 (the rendered word), none on page 2.
    const darkInCorner = async (page: number) => {
      const png = path.join(dir, `stamped-${page}.png`);
      await renderPage(file, page, { width: 612, format: "png", out: png });
      const img = await loadImage(await readFile(png));
      const ctx = createCanvas(img.width, img.height).getContext("2d");
      ctx.drawImage(img, 0, 0);
      const { data } = ctx.getImageData(612 - 36 - 100, 36, 100, 25);
      let dark = 0;
      for (let i = 0; i < data.length; i += 4) if (data[i]! < 100 && data[i + 1]! < 100 && data[i + 2]! < 100) dark++;
      return dark;
    };
    expect(await darkInCorner(1)).toBeGreaterThan(20);
    expect(await darkInCorner(2)).toBe(0);
    expect(await darkInCorner(3)).toBeGreaterThan(20);
    // The text layer is kept.
    expect((await extractText(file)).map((p) => p.text.trim())).toEqual(SENTENCES);
  });

  it("splits every page into its own Document, and by ranges", async () => {
    const j = await run({ documentId: a, title: "Pangrams", operations: [{ split: { everyPages: 1 } }] });
    expect(j).toMatchObject({ status: "SUCCEEDED", result: { pageCounts: [1, 1, 1] } });
    expect(j.outputDocuments.map((d: any) => d.title)).toEqual(["Pangrams (part 1)", "Pangrams (part 2)", "Pangrams (part 3)"]);
    expect(j.outputDocuments.map((d: any) => d.pageCount)).toEqual([1, 1, 1]);
    expect(j.outputDocuments.map((d: any) => idOf("Document", d.id))).toEqual(j.result.documentIds);
    for (const [i, d] of j.outputDocuments.entries()) {
      expect(d).toMatchObject({ derivedFrom: { id: a }, createdByJob: { id: j.id }, source: { filename: `pangrams-part-${i + 1}.pdf` } });
      const text = await extractText(await saveTo(await download(d.source.url), `part-${i + 1}.pdf`));
      expect(text.map((p) => p.text.trim())).toEqual([SENTENCES[i]]);
    }

    const r = await run({ documentId: b, operations: [{ rotate: { degrees: -90, pages: [2] } }, { split: { ranges: [{ from: 2, to: 3 }, { from: 1, to: 1 }] } }] });
    expect(r).toMatchObject({ status: "SUCCEEDED", result: { pageCounts: [2, 1] } });
    expect(r.outputDocuments.map((d: any) => [d.title, d.pageCount])).toEqual([["b.pdf (transformed) (part 1)", 2], ["b.pdf (transformed) (part 2)", 1]]);
    const first = await extractText(await saveTo(await download(r.outputDocuments[0].source.url), "range-1.pdf"));
    expect(first.map((p) => [p.text.trim(), p.width])).toEqual([[OTHER[1], 792], [OTHER[2], 612]]);
    const second = await extractText(await saveTo(await download(r.outputDocuments[1].source.url), "range-2.pdf"));
    expect(second.map((p) => p.text.trim())).toEqual([OTHER[0]]);
    const { rows } = await db.pool.query(`select page_count from documents where created_by_job_id = $1 order by created_at, id`, [idOf("Job", r.id)]);
    expect(rows.map((x) => x.page_count)).toEqual([2, 1]);
  });

  it("a second attempt replaces the Documents and files an earlier attempt stored", async () => {
    const id = await submit({ documentId: a, operations: [{ extractPages: { pages: [2] } }] });
    // What a first attempt that crashed after its commit would have left.
    const jobId = idOf("Job", id);
    const { rows: [stale] } = await db.pool.query(`insert into documents (organization_id, title, created_by_job_id, derived_from_id) values ($1, 'stale', $2, $3) returning id`, [org, jobId, raw(a)]);
    const staleKey = `orgs/${org}/assets/00000000-0000-4000-8000-${jobId.slice(-12)}`;
    await writeFile(path.join(dir, "stale.pdf"), await readFile(aFile));
    await api.storage.putFile(staleKey, path.join(dir, "stale.pdf"));
    await db.pool.query(
      `insert into assets (id, organization_id, key, size, content_type, kind, sha256, origin, job_id, document_id, role) values ($1, $2, $3, 1, 'application/pdf', 'PDF', 'x', 'JOB_OUTPUT', $4, $5, 'SOURCE')`,
      [staleKey.split("/").pop(), org, staleKey, jobId, stale.id],
    );
    await engine.drain();
    const j = await job(id);
    expect(j).toMatchObject({ status: "SUCCEEDED", result: { pageCounts: [1] } });
    expect((await madeBy(id)).map((d) => d.id)).toEqual(j.result.documentIds);
    expect(await api.storage.stat(staleKey)).toBeNull();
  });

  describe("refusals leave no Document and no file", () => {
    async function expectNothingMade(jobId: string, keysBefore: string[]) {
      expect(await madeBy(jobId)).toEqual([]);
      expect(await storedKeys()).toEqual(keysBefore);
      expect((await job(jobId)).outputDocuments).toEqual([]);
    }

    it("another organization's Document to merge, or its image to stamp: NOT_FOUND", async () => {
      const other = await api.tenant();
      const foreignDoc = await upload(await readFile(aFile), "theirs.pdf", other.key);
      const foreignAsset = await uploadAsset(await renderTextPng("X", 40, 20), "theirs.png", other.key);
      const before = await storedKeys();

      const merge = await run({ documentId: a, operations: [{ merge: { documentIds: [foreignDoc] } }] });
      expect(merge).toMatchObject({ status: "FAILED", error: { code: "NOT_FOUND" } });
      expect(merge.error.message).toContain(raw(foreignDoc));
      await expectNothingMade(merge.id, before);

      const stamp = await run({ documentId: a, operations: [{ rotate: { degrees: 180 } }, { stampImage: { assetId: foreignAsset } }] });
      expect(stamp).toMatchObject({ status: "FAILED", error: { code: "NOT_FOUND" } });
      await expectNothingMade(stamp.id, before);

      // Nor can the other organization start from this one's Document.
      const theirs = await api.gql(TRANSFORM, { input: { documentId: a, operations: [{ rotate: { degrees: 90 } }] } }, other.key);
      expect(theirs.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    });

    it("a page that does not exist: INVALID_INPUT", async () => {
      const before = await storedKeys();
      const j = await run({ documentId: a, operations: [{ merge: { documentIds: [b] } }, { extractPages: { pages: [1, 7] } }] });
      expect(j).toMatchObject({ status: "FAILED", error: { code: "INVALID_INPUT" } });
      expect(j.error.message).toMatch(/Page 7 does not exist/);
      await expectNothingMade(j.id, before);

      const split = await run({ documentId: a, operations: [{ split: { ranges: [{ from: 2, to: 4 }] } }] });
      expect(split).toMatchObject({ status: "FAILED", error: { code: "INVALID_INPUT" } });
      await expectNothingMade(split.id, before);
    });

    it("an image Document as the source: INVALID_INPUT", async () => {
      const image = await upload(await renderTextPng("A scan", 300, 100), "scan.png");
      const before = await storedKeys();
      const j = await run({ documentId: image, operations: [{ rotate: { degrees: 90 } }] });
      expect(j).toMatchObject({ status: "FAILED", error: { code: "INVALID_INPUT" } });
      expect(j.error.message).toMatch(/transform needs a PDF/);
      await expectNothingMade(j.id, before);

      const merged = await run({ documentId: a, operations: [{ merge: { documentIds: [image] } }] });
      expect(merged).toMatchObject({ status: "FAILED", error: { code: "INVALID_INPUT" } });
      await expectNothingMade(merged.id, before);
    });

    it("an encrypted PDF that opens but cannot be rewritten: DOCUMENT_CORRUPTED", async () => {
      const locked = await upload(await readFile(await ownerOnlyEncryptedPdf(path.join(dir, "owner-only.pdf"))), "owner-only.pdf");
      const before = await storedKeys();
      const j = await run({ documentId: locked, operations: [{ stampText: { text: "DRAFT" } }] });
      expect(j).toMatchObject({ status: "FAILED", error: { code: "DOCUMENT_CORRUPTED" } });
      expect(j.error.message).toMatch(/encrypted/);
      await expectNothingMade(j.id, before);

      const split = await run({ documentId: locked, operations: [{ split: { everyPages: 1 } }] });
      expect(split).toMatchObject({ status: "FAILED", error: { code: "DOCUMENT_CORRUPTED" } });
      await expectNothingMade(split.id, before);
    });

    it("refuses bad inputs at the mutation, before any job exists", async () => {
      const { rows: [{ n: jobsBefore }] } = await db.pool.query(`select count(*)::int as n from jobs`);
      const code = async (input: Record<string, unknown>) => {
        const r = await api.gql(TRANSFORM, { input }, key);
        expect(r.data).toBeNull();
        return { code: r.errors?.[0]?.extensions?.code, message: r.errors?.[0]?.message };
      };
      const notLast = await code({ documentId: a, operations: [{ split: { everyPages: 1 } }, { rotate: { degrees: 90 } }] });
      expect(notLast.code).toBe("INVALID_INPUT");
      expect(notLast.message).toMatch(/split is only allowed as the last operation/);
      expect((await code({ documentId: a, operations: [{ rotate: { degrees: 45 } }] })).code).toBe("INVALID_INPUT");
      expect((await code({ documentId: a, operations: [] })).code).toBe("INVALID_INPUT");
      expect((await code({ documentId: a, operations: [{ split: { everyPages: 1, ranges: [{ from: 1, to: 1 }] } }] })).message).toMatch(/exactly one of ranges or everyPages/);
      expect((await code({ documentId: a, operations: [{ stampText: { text: "x", color: "red" } }] })).message).toMatch(/#rrggbb/);
      expect((await code({ documentId: a, operations: [{ setMetadata: {} }] })).message).toMatch(/at least one field/);
      // A Job's id where a Document's is expected, or garbage: NOT_FOUND, as a foreign id (ids.ts).
      const jobId = (await db.pool.query(`select id from jobs limit 1`)).rows[0].id;
      const { encodeGlobalID } = await import("@pothos/plugin-relay");
      expect((await code({ documentId: a, operations: [{ merge: { documentIds: [encodeGlobalID("Job", jobId)] } }] })).code).toBe("NOT_FOUND");
      expect((await code({ documentId: a, operations: [{ stampImage: { assetId: "nope" } }] })).code).toBe("NOT_FOUND");
      // oneOf: two operations in one entry.
      const two = await api.gql(TRANSFORM, { input: { documentId: a, operations: [{ rotate: { degrees: 90 }, extractPages: { pages: [1] } }] } }, key);
      expect(two.errors?.[0]?.message).toMatch(/exactly one/i);
      const { rows: [{ n: jobsAfter }] } = await db.pool.query(`select count(*)::int as n from jobs`);
      expect(jobsAfter).toBe(jobsBefore);
    });
  });

  it("cancelled while the PDF child works: the child is killed, no Document, no file, no work folder", async () => {
    // 2,000 text pages; merged with itself and stamped on every page keeps the child busy for seconds.
    const big = await PDFDocument.create();
    const font = await big.embedFont(StandardFonts.Helvetica);
    for (let i = 1; i <= 2000; i++) big.addPage([612, 792]).drawText(`Page ${i}: ${SENTENCES[i % 3]}`, { x: 72, y: 692, size: 14, font });
    const bigId = await upload(Buffer.from(await big.save()), "big.pdf");
    const before = await storedKeys();

    const id = await submit({
      documentId: bigId,
      operations: [{ merge: { documentIds: [bigId] } }, { stampText: { text: "COPY" } }, { rotate: { degrees: 90 } }, { stampText: { text: "AGAIN" } }],
    });
    const OP_STAGES = ["merge", "stampText[1]", "rotate", "stampText[2]"];
    const drained = engine.drain();
    const workers = () => execFileSync("ps", ["-o", "pid=,args=", "--ppid", String(process.pid)], { encoding: "utf8" })
      .split("\n").filter((l) => l.includes("pdf-worker")).map((l) => Number(l.trim().split(/\s+/)[0]));
    const running = await waitFor(async () => {
      const j = await job(id);
      const pids = workers();
      return j.status === "RUNNING" && OP_STAGES.includes(j.stage) && pids.length > 0 ? { stage: j.stage as string, pids } : null;
    }, "a PDF child at work", 30_000);
    expect(OP_STAGES).toContain(running.stage);

    const c = await api.gql(`mutation($id: ID!) { cancelJob(input: { id: $id }) { job { status } } }`, { id }, key);
    expect(c.data.cancelJob.job.status).toBe("CANCELLED");
    await drained;

    const j = await job(id);
    expect(j).toMatchObject({ status: "CANCELLED", result: null, outputDocuments: [] });
    expect(await madeBy(id)).toEqual([]);
    for (const pid of running.pids) await waitFor(async () => !isProcessAlive(pid), `pdf child ${pid} to be gone`, 5_000);
    expect(await storedKeys()).toEqual(before);
    const left = (await readdir(os.tmpdir())).filter((n) => n.startsWith(`spool-${idOf("Job", id).slice(0, 8)}-`));
    expect(left).toEqual([]);
  });
});
