// document.preview through its typed mutation: PDF pages rendered by pdf.js in the PDF
// adapter's child process, image documents scaled by ffmpeg; previews are Assets of the
// Document with signed URLs. Bad pages, broken PDFs, bombs and other organizations fail
// with stable codes and leave no preview behind.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../src/engine/engine.ts";
import { Ffmpeg } from "../../src/tools/ffmpeg/ffmpeg.ts";
import { createTestApi, type Api } from "../graphql/api-helpers.ts";
import { createTestDatabase, log, type TestDb } from "../helpers.ts";
import { inflateBombPdf, renderTextPng, textPdf } from "./fixtures.ts";

let db: TestDb;
let api: Api;
let engine: Engine;
let base: string;
let dir: string;
let key: string;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await createTestApi(db, { ffmpeg: await Ffmpeg.resolve({}) });
  base = (await api.listen()).http.replace(/\/graphql$/, "");
  engine = new Engine({ pool: db.pool, registry: api.registry, log, concurrency: 1 });
  key = (await api.tenant()).key;
  dir = await mkdtemp(path.join(os.tmpdir(), "spool-preview-"));
});
afterAll(async () => {
  await api?.close();
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const PREVIEWS = `mutation($input: CreateDocumentPreviewsInput!) { createDocumentPreviews(input: $input) { job { id status } document { id } } }`;
const JOB = `query($id: ID!) { job(id: $id) { status stage error { code message } result } }`;

async function upload(bytes: Buffer, name: string, k = key): Promise<string> {
  const r = await api.gqlUpload(`mutation($input: CreateDocumentInput!) { createDocument(input: $input) { document { id status } } }`, { input: { file: null } }, { "input.file": { bytes, name } }, k);
  expect(r.errors).toBeUndefined();
  return r.data.createDocument.document.id;
}

async function run(input: Record<string, unknown>) {
  const r = await api.gql(PREVIEWS, { input }, key);
  expect(r.errors).toBeUndefined();
  await engine.drain();
  return (await api.gql(JOB, { id: r.data.createDocumentPreviews.job.id }, key)).data.job;
}

/** Width and height from a PNG's IHDR. */
function pngSize(b: Buffer) {
  expect(b.subarray(1, 4).toString()).toBe("PNG");
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

describe("document.preview", () => {
  it("renders chosen PDF pages at a width; each preview downloads through its signed URL", async () => {
    const docId = await upload(await readFile(await textPdf(path.join(dir, "three.pdf"))), "three.pdf");
    const j = await run({ documentId: docId, pages: [3, 1], width: 306 });
    expect(j).toMatchObject({ status: "SUCCEEDED", error: null, result: { pageCount: 3 } });
    const d = await api.gql(`query($id: ID!) { document(id: $id) { previews { label kind contentType url media { video { width height } } } } }`, { id: docId }, key);
    const previews = d.data.document.previews;
    expect(previews.map((p: any) => p.label)).toEqual(["page-1", "page-3"]);
    for (const p of previews) {
      expect(p).toMatchObject({ kind: "IMAGE", contentType: "image/png", media: { video: { width: 306, height: 396 } } });
      const u = new URL(p.url);
      const res = await fetch(`${base}${u.pathname}${u.search}`);
      expect(res.status).toBe(200);
      expect(pngSize(Buffer.from(await res.arrayBuffer()))).toEqual({ width: 306, height: 396 });
    }
  });

  it("scales an image document with ffmpeg", async () => {
    const docId = await upload(await renderTextPng("A scanned page", 800, 400), "scan.png");
    const j = await run({ documentId: docId, width: 200, format: "JPG" });
    expect(j).toMatchObject({ status: "SUCCEEDED", result: { pageCount: 1, previews: [{ page: 1, width: 200, height: 100 }] } });
  });

  it("refuses a page beyond the end, a decompression bomb and another organization's document, keeping no preview", async () => {
    const docId = await upload(await readFile(await textPdf(path.join(dir, "again.pdf"))), "again.pdf");
    const beyond = await run({ documentId: docId, pages: [9] });
    expect(beyond).toMatchObject({ status: "FAILED", error: { code: "INVALID_INPUT", message: "Page 9 does not exist: the document has 3 pages." } });

    const bombId = await upload(await readFile(await inflateBombPdf(path.join(dir, "bomb.pdf"), 512 * 1024 ** 2)), "bomb.pdf");
    const before = process.memoryUsage().rss;
    const bomb = await run({ documentId: bombId, width: 800 });
    expect(bomb.status).toBe("FAILED");
    expect(["DOCUMENT_TOO_LARGE", "DOCUMENT_CORRUPTED"]).toContain(bomb.error.code);
    // The bomb went off in the PDF adapter's child process, not here.
    expect(process.memoryUsage().rss - before).toBeLessThan(300 * 1024 ** 2);

    const other = await api.tenant();
    const r = await api.gql(PREVIEWS, { input: { documentId: docId } }, other.key);
    expect(r.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    const tooMany = await api.gql(PREVIEWS, { input: { documentId: docId, pages: Array.from({ length: 51 }, (_, i) => i + 1) } }, key);
    expect(tooMany.errors?.[0]?.extensions?.code).toBe("INVALID_INPUT");
    // A value outside the enum is the caller's mistake, not a masked server error.
    const badEnum = await api.gql(PREVIEWS, { input: { documentId: docId, format: "gif" } }, key);
    expect(badEnum.errors?.[0]?.extensions?.code).toBe("INVALID_INPUT");
    expect(badEnum.errors?.[0]?.message).toMatch(/PreviewFormat/);

    const { rows } = await db.pool.query(`select count(*)::int as n from assets a join documents d on d.id = a.document_id where a.role = 'PREVIEW' and d.id = any($1::uuid[])`,
      [[docId, bombId].map((g) => Buffer.from(g, "base64").toString().split(":")[1])]);
    expect(rows[0].n).toBe(0);
  });
});
