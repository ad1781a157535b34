// Multipart uploads into Videos, Documents and standalone Assets; the content allowlist and
// size limits with their codes; nothing left behind by a refusal; signed downloads.
import { createHash } from "node:crypto";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signedFilePath } from "../../src/services/files.ts";
import { createTestApi, TEST_FILES_SECRET, type Api } from "../graphql/api-helpers.ts";
import { createTestDatabase, type TestDb } from "../helpers.ts";
import { filesUnder, mp4, pdf, png, vtt } from "./fixtures.ts";

let db: TestDb;
let api: Api;
let base: string;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await createTestApi(db, { limits: { videoBytes: 300_000, documentBytes: 100_000, multipartBytes: 1_000_000 } });
  base = (await api.listen()).http.replace(/\/graphql$/, "");
});
afterAll(async () => {
  await api?.close();
  await db?.drop();
});

const CREATE_VIDEO = `mutation($input: CreateVideoInput!) { createVideo(input: $input) { video { id title tags status metadata source { id kind contentType size sha256 filename origin role url } } } }`;
const CREATE_DOCUMENT = `mutation($input: CreateDocumentInput!) { createDocument(input: $input) { document { id title status source { id kind contentType size } } } }`;

async function counts() {
  const { rows } = await db.pool.query(`select (select count(*) from assets)::int as assets, (select count(*) from videos)::int as videos, (select count(*) from documents)::int as documents`);
  return { ...rows[0], files: filesUnder(path.join(api.dataDir, "files")).length };
}

describe("multipart uploads", () => {
  it("creates a Video from an upload: type from the bytes, sha256, size, and a signed URL that downloads the same bytes", async () => {
    const { key } = await api.tenant();
    const bytes = mp4(100_000);
    const r = await api.gqlUpload(CREATE_VIDEO, { input: { file: null, tags: ["demo", "demo", "a"], metadata: { customer: 7 } } }, { "input.file": { bytes, name: "clip.bin", type: "text/plain" } }, key);
    expect(r.errors).toBeUndefined();
    const v = r.data.createVideo.video;
    expect(v).toMatchObject({ title: "clip.bin", tags: ["demo", "a"], status: "READY", metadata: { customer: 7 } });
    // The declared type (text/plain) and the name are ignored: the bytes are an MP4.
    expect(v.source).toMatchObject({ kind: "VIDEO", contentType: "video/mp4", size: 100_000, filename: "clip.bin", origin: "UPLOAD", role: "SOURCE" });
    expect(v.source.sha256).toBe(createHash("sha256").update(bytes).digest("hex"));
    const url = new URL(v.source.url);
    expect(url.pathname).toMatch(/^\/files\/[0-9a-f-]{36}\/\d+-a-[A-Za-z0-9_-]{43}\/clip\.bin$/);
    const res = await fetch(`${base}${url.pathname}${url.search}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("video/mp4");
    expect(res.headers.get("content-disposition")).toMatch(/^attachment; filename="clip.bin"/);
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it("creates a Document from a PDF or an image, and a standalone Asset from captions", async () => {
    const { key } = await api.tenant();
    const d = await api.gqlUpload(CREATE_DOCUMENT, { input: { file: null, title: "Invoice" } }, { "input.file": { bytes: pdf(), name: "invoice.pdf" } }, key);
    expect(d.errors).toBeUndefined();
    expect(d.data.createDocument.document).toMatchObject({ title: "Invoice", status: "READY", source: { kind: "PDF", contentType: "application/pdf" } });
    const i = await api.gqlUpload(CREATE_DOCUMENT, { input: { file: null } }, { "input.file": { bytes: png, name: "scan.png" } }, key);
    expect(i.data.createDocument.document.source).toMatchObject({ kind: "IMAGE", contentType: "image/png", size: png.length });
    const a = await api.gqlUpload(`mutation($input: UploadAssetInput!) { uploadAsset(input: $input) { asset { id kind contentType video { id } document { id } } } }`,
      { input: { file: null } }, { "input.file": { bytes: vtt, name: "en.vtt" } }, key);
    expect(a.errors).toBeUndefined();
    expect(a.data.uploadAsset.asset).toMatchObject({ kind: "CAPTIONS", contentType: "text/vtt", video: null, document: null });
  });

  it("takes SubRip files as real tools write them: short or no milliseconds, BOM, CRLF, no or a 0-based index, tags and entities", async () => {
    const { key } = await api.tenant();
    const srt = (text: string) => Buffer.from(text, "utf8");
    const cases: Array<[string, Buffer]> = [
      ["one or two millisecond digits", srt("1\n00:00:00,1 --> 00:00:04,5\nHello\n\n2\n00:00:04,50 --> 00:00:06,75\nWorld\n")],
      ["no milliseconds", srt("1\n00:00:01 --> 00:00:04\nHello\n")],
      ["a UTF-8 BOM and CRLF", srt("\uFEFF1\r\n00:00:01,000 --> 00:00:04,000\r\n<i>Hello</i> &amp; welcome\r\n\r\n")],
      ["no index", srt("00:00:01,000 --> 00:00:04,000\n<b>Hello</b>\n\n00:00:05,000 --> 00:00:06,000\nAgain\n")],
      ["a 0-based index", srt("0\n00:00:00,000 --> 00:00:02,000\nFirst &lt;cue&gt;\n")],
      ["blank lines first, one-digit hours, dots, coordinates", srt("\n\n1 \n0:00:01.500-->0:00:03.250 X1:40 X2:600 Y1:20 Y2:50\n<font color=\"#ffff00\">Hi</font>\n")],
      ["UTF-16 with a BOM (Notepad's \"Unicode\")", Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from("1\r\n00:00:01,000 --> 00:00:02,000\r\nHéllo\r\n", "utf16le")])],
    ];
    for (const [what, bytes] of cases) {
      const r = await api.gqlUpload(`mutation($input: UploadAssetInput!) { uploadAsset(input: $input) { asset { kind contentType size } } }`,
        { input: { file: null } }, { "input.file": { bytes, name: "subs.srt" } }, key);
      expect({ what, errors: r.errors, asset: r.data?.uploadAsset?.asset }).toEqual({ what, errors: undefined, asset: { kind: "CAPTIONS", contentType: "application/x-subrip", size: bytes.length } });
    }
    const notSubtitles: Array<[string, string]> = [["counted text", "12 apples\nand 3 pears\n"], ["a time without a cue", "1\n00:00:01,000 is when it starts\n"]];
    for (const [what, text] of notSubtitles) {
      const r = await api.gqlUpload(`mutation($input: UploadAssetInput!) { uploadAsset(input: $input) { asset { id } } }`,
        { input: { file: null } }, { "input.file": { bytes: Buffer.from(text), name: "subs.srt" } }, key);
      expect({ what, code: r.errors?.[0]?.extensions?.code }).toEqual({ what, code: "INVALID_INPUT" });
    }
  });

  it("refuses what is not allowed, with a stable code each, leaving no row and no file", async () => {
    const { key } = await api.tenant();
    const before = await counts();
    const truncatedPdf = pdf().subarray(0, 200);
    const cases: Array<[string, string, Buffer, string]> = [
      [CREATE_VIDEO, "a text file named .mp4", Buffer.from("just some text, not a video\n".repeat(10)), "VIDEO_FORMAT_UNSUPPORTED"],
      [CREATE_VIDEO, "an image as a video", png, "VIDEO_FORMAT_UNSUPPORTED"],
      [CREATE_VIDEO, "a PDF as a video", pdf(), "VIDEO_FORMAT_UNSUPPORTED"],
      [CREATE_VIDEO, "a zero-length file", Buffer.alloc(0), "INVALID_INPUT"],
      [CREATE_VIDEO, "a video over the video limit", mp4(300_001), "VIDEO_TOO_LARGE"],
      [CREATE_DOCUMENT, "a video as a document", mp4(10_000), "DOCUMENT_FORMAT_UNSUPPORTED"],
      [CREATE_DOCUMENT, "garbage as a document", Buffer.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]), "DOCUMENT_FORMAT_UNSUPPORTED"],
      [CREATE_DOCUMENT, "a truncated PDF", truncatedPdf, "DOCUMENT_CORRUPTED"],
      [CREATE_DOCUMENT, "a PDF over the document limit", Buffer.concat([pdf().subarray(0, 100), Buffer.alloc(100_000, 32), Buffer.from("%%EOF")]), "DOCUMENT_TOO_LARGE"],
    ];
    for (const [query, what, bytes, code] of cases) {
      const r = await api.gqlUpload(query, { input: { file: null } }, { "input.file": { bytes, name: "upload.mp4" } }, key);
      expect({ what, code: r.errors?.[0]?.extensions?.code }).toEqual({ what, code });
      expect(r.errors?.[0]?.message.length).toBeGreaterThan(20);
    }
    expect(await counts()).toEqual(before);
  });

  it("refuses a multipart file over SPOOL_MAX_MULTIPART_BYTES with yoga's 413 before any of it is stored", async () => {
    const { key } = await api.tenant();
    const before = await counts();
    const r = await api.gqlUpload(CREATE_VIDEO, { input: { file: null } }, { "input.file": { bytes: mp4(1_000_001), name: "big.mp4" } }, key);
    expect(r.res.status).toBe(413);
    expect(r.errors?.[0]?.extensions?.code).toBe("REQUEST_ENTITY_TOO_LARGE");
    expect(r.errors?.[0]?.message).toMatch(/File size limit exceeded: 1000000 bytes/);
    expect(await counts()).toEqual(before);
  });

  it("asks for exactly one way in, and validates the fields", async () => {
    const { key } = await api.tenant();
    const before = await counts();
    const none = await api.gql(CREATE_VIDEO, { input: { title: "x" } }, key);
    expect(none.errors?.[0]?.extensions?.code).toBe("INVALID_INPUT");
    const two = await api.gql(CREATE_VIDEO, { input: { inputUrl: "https://example.com/a.mp4", assetId: "x" } }, key);
    expect(two.errors?.[0]?.extensions?.code).toBe("INVALID_INPUT");
    const tags = await api.gql(CREATE_VIDEO, { input: { inputUrl: "https://example.com/a.mp4", tags: Array.from({ length: 51 }, (_, i) => `t${i}`) } }, key);
    expect(tags.errors?.[0]).toMatchObject({ extensions: { code: "INVALID_INPUT" } });
    const meta = await api.gql(CREATE_VIDEO, { input: { inputUrl: "https://example.com/a.mp4", metadata: { big: "x".repeat(20_000) } } }, key);
    expect(meta.errors?.[0]?.extensions?.code).toBe("INVALID_INPUT");
    expect(await counts()).toEqual(before);
  });

  it("uses an existing asset once: a second Video from it is a CONFLICT; a wrong kind is refused", async () => {
    const { key } = await api.tenant();
    const up = await api.gqlUpload(`mutation($input: UploadAssetInput!) { uploadAsset(input: $input) { asset { id } } }`, { input: { file: null } }, { "input.file": { bytes: mp4(5_000), name: "a.mp4" } }, key);
    const assetId = up.data.uploadAsset.asset.id;
    const first = await api.gql(CREATE_VIDEO, { input: { assetId } }, key);
    expect(first.data.createVideo.video).toMatchObject({ title: "a.mp4", status: "READY", source: { id: assetId } });
    const second = await api.gql(CREATE_VIDEO, { input: { assetId } }, key);
    expect(second.errors?.[0]?.extensions?.code).toBe("CONFLICT");
    const asDocument = await api.gql(CREATE_DOCUMENT, { input: { assetId } }, key);
    expect(asDocument.errors?.[0]?.extensions?.code).toBe("DOCUMENT_FORMAT_UNSUPPORTED");
    // An attached asset goes with its Video, not on its own.
    const del = await api.gql(`mutation($id: ID!) { deleteAsset(input: { id: $id }) { deletedId } }`, { id: assetId }, key);
    expect(del.errors?.[0]?.extensions?.code).toBe("CONFLICT");
  });
});

describe("signed downloads", () => {
  let asset: { id: string; url: string };
  let bytes: Buffer;
  beforeAll(async () => {
    const { key } = await api.tenant();
    bytes = mp4(50_000);
    const r = await api.gqlUpload(`mutation($input: UploadAssetInput!) { uploadAsset(input: $input) { asset { id rawId: sha256 url(expiresIn: 600, disposition: INLINE) } } }`,
      { input: { file: null } }, { "input.file": { bytes, name: "naïve clip.mp4" } }, key);
    asset = r.data.uploadAsset.asset;
  });
  const local = (u: string) => { const url = new URL(u); return `${base}${url.pathname}${url.search}`; };

  it("serves byte ranges for players, HEAD, and 416 outside the file", async () => {
    const url = local(asset.url);
    const head = await fetch(url, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe("50000");
    expect(head.headers.get("accept-ranges")).toBe("bytes");
    expect(head.headers.get("content-disposition")).toBe(`inline; filename="na_ve clip.mp4"; filename*=UTF-8''na%C3%AFve%20clip.mp4`);
    const plain = new URL(local(asset.url));
    expect(plain.pathname).toMatch(/\/na%C3%AFve%20clip\.mp4$/);
    const mid = await fetch(url, { headers: { range: "bytes=100-199" } });
    expect(mid.status).toBe(206);
    expect(mid.headers.get("content-range")).toBe("bytes 100-199/50000");
    expect(Buffer.from(await mid.arrayBuffer()).equals(bytes.subarray(100, 200))).toBe(true);
    const tail = await fetch(url, { headers: { range: "bytes=-10" } });
    expect(Buffer.from(await tail.arrayBuffer()).equals(bytes.subarray(-10))).toBe(true);
    const open = await fetch(url, { headers: { range: "bytes=49990-" } });
    expect(open.headers.get("content-range")).toBe("bytes 49990-49999/50000");
    const outside = await fetch(url, { headers: { range: "bytes=50000-50010" } });
    expect(outside.status).toBe(416);
    expect(outside.headers.get("content-range")).toBe("bytes */50000");
  });

  it("answers 403 to any tampering and 410 once expired", async () => {
    const good = new URL(local(asset.url));
    const [, , id, token, name] = good.pathname.split("/") as [string, string, string, string, string];
    const [exp, d, sig] = token.split("-") as [string, string, string];
    const withPath = (p: string) => fetch(`${base}${p}`).then((r) => r.status);
    const flipped = sig.slice(0, -2) + (sig.endsWith("AA") ? "BB" : "AA");
    const statuses = await Promise.all([
      withPath(`/files/${id}/${exp}-${d}-${flipped}/${name}`),
      withPath(`/files/${id}/${Number(exp) + 3600}-${d}-${sig}/${name}`),
      withPath(`/files/${id}/${exp}-a-${sig}/${name}`),
      withPath(`/files/${id}/${exp}-${d}/${name}`),
      withPath(`/files/${id.replace(/^[0-9a-f]{8}/, "00000000")}/${token}/${name}`),
    ]);
    expect(statuses).toEqual([403, 403, 403, 403, 403]);
    // The name after the token is cosmetic for a single file.
    expect(await withPath(`/files/${id}/${token}/other-name.mp4`)).toBe(200);
    const asBody = await (await fetch(`${base}/files/${id}/${exp}-${d}-${flipped}/${name}`)).json();
    expect(asBody.error.code).toBe("FORBIDDEN");
    const expired = signedFilePath(TEST_FILES_SECRET, { id, name: "x.mp4" }, { expiresIn: 60, disposition: "inline", now: Date.now() - 120_000 });
    const res = await fetch(`${base}${expired}`);
    expect(res.status).toBe(410);
    expect((await res.json()).error.code).toBe("URL_EXPIRED");
    // A URL signed with another secret is as good as tampered.
    const foreign = signedFilePath("another-secret-another-secret-another", { id, name: "x" }, { expiresIn: 60, disposition: "inline" });
    expect((await fetch(`${base}${foreign}`)).status).toBe(403);
  });

  it("bounds expiresIn and answers 404 once the asset is deleted", async () => {
    const { key } = await api.tenant();
    const up = await api.gqlUpload(`mutation($input: UploadAssetInput!) { uploadAsset(input: $input) { asset { id url } } }`, { input: { file: null } }, { "input.file": { bytes: png, name: "p.png" } }, key);
    const a = up.data.uploadAsset.asset;
    const tooLong = await api.gql(`query($id: ID!) { asset(id: $id) { url(expiresIn: 604801) } }`, { id: a.id }, key);
    expect(tooLong.errors?.[0]?.extensions?.code).toBe("INVALID_INPUT");
    expect((await fetch(local(a.url))).status).toBe(200);
    const del = await api.gql(`mutation($id: ID!) { deleteAsset(input: { id: $id }) { deletedId } }`, { id: a.id }, key);
    expect(del.data.deleteAsset.deletedId).toBe(a.id);
    expect((await fetch(local(a.url))).status).toBe(404);
  });
});
