// tus resumable uploads at /uploads, with the real tus-js-client and with raw protocol
// requests where the test needs to cut a PATCH in the middle.
import { createHash } from "node:crypto";
import { statSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import * as tus from "tus-js-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApi, type Api } from "../graphql/api-helpers.ts";
import { createTestDatabase, waitFor, type TestDb } from "../helpers.ts";
import { filesUnder, mp4 } from "./fixtures.ts";

let db: TestDb;
let api: Api;
let base: string;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await createTestApi(db, { limits: { videoBytes: 2_000_000, documentBytes: 500_000, multipartBytes: 100_000 } });
  base = (await api.listen()).http.replace(/\/graphql$/, "");
});
afterAll(async () => {
  await api?.close();
  await db?.drop();
});

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

function tusUpload(bytes: Buffer, key: string, opts: Partial<tus.UploadOptions> = {}) {
  return new Promise<{ url: string; assetId: string | undefined }>((resolve, reject) => {
    const upload = new tus.Upload(bytes, {
      endpoint: `${base}/uploads`,
      headers: { authorization: `Bearer ${key}` },
      metadata: { filename: "movie.mp4", filetype: "video/mp4" },
      chunkSize: 64 * 1024,
      retryDelays: [],
      ...opts,
      onSuccess: (payload) => resolve({ url: upload.url!, assetId: payload.lastResponse.getHeader("Spool-Asset-Id") }),
      onError: reject,
    });
    upload.start();
  });
}

/** A raw tus request. */
async function tusRequest(method: string, url: string, key: string | null, headers: Record<string, string> = {}, body?: Buffer) {
  return fetch(url.startsWith("http") ? url : `${base}${url}`, {
    method,
    headers: { "tus-resumable": "1.0.0", ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body ? { "content-type": "application/offset+octet-stream" } : {}), ...headers },
    body: body ? new Uint8Array(body) : undefined,
  });
}

/** Sends the first `sent` bytes of a PATCH that announced more, then drops the connection. */
function interruptedPatch(url: string, key: string, offset: number, chunk: Buffer, sent: number): Promise<void> {
  return new Promise((resolve) => {
    const req = http.request(url, {
      method: "PATCH",
      headers: {
        "tus-resumable": "1.0.0", authorization: `Bearer ${key}`, "content-type": "application/offset+octet-stream",
        "upload-offset": String(offset), "content-length": String(chunk.length),
      },
    });
    req.on("error", () => resolve());
    req.on("response", () => resolve());
    req.write(chunk.subarray(0, sent), () => setTimeout(() => { req.destroy(); resolve(); }, 200));
  });
}

describe("tus uploads", () => {
  it("uploads with tus-js-client in chunks; the last PATCH names the Asset, and uploadId makes a Video of it", async () => {
    const { key } = await api.tenant();
    const bytes = mp4(500_000);
    const { url, assetId } = await tusUpload(bytes, key);
    expect(assetId).toBeTruthy();
    const a = await api.gql(`query($id: ID!) { asset(id: $id) { kind contentType size sha256 filename origin } }`, { id: assetId }, key);
    expect(a.data.asset).toEqual({ kind: "VIDEO", contentType: "video/mp4", size: 500_000, sha256: sha(bytes), filename: "movie.mp4", origin: "UPLOAD" });
    const v = await api.gql(`mutation($u: String!) { createVideo(input: { uploadId: $u, title: "From tus" }) { video { title status source { id url } } } }`, { u: url }, key);
    expect(v.data.createVideo.video).toMatchObject({ title: "From tus", status: "READY", source: { id: assetId } });
    const u = new URL(v.data.createVideo.video.source.url);
    expect(sha(Buffer.from(await (await fetch(`${base}${u.pathname}${u.search}`)).arrayBuffer()))).toBe(sha(bytes));
    // The tus store keeps nothing once the upload became an asset.
    const id = url.split("/").pop()!;
    expect(filesUnder(path.join(api.dataDir, "uploads")).filter((f) => f.startsWith(id))).toEqual([]);
  });

  it("resumes an interrupted upload where the server says it stopped (raw protocol)", async () => {
    const { key } = await api.tenant();
    const bytes = mp4(300_000);
    const created = await tusRequest("POST", "/uploads", key, { "upload-length": String(bytes.length), "upload-metadata": `filename ${Buffer.from("cut.mp4").toString("base64")}` });
    expect(created.status).toBe(201);
    const location = created.headers.get("location")!;
    expect(location).toMatch(/\/uploads\/up[0-9a-f]{32}$/);
    const first = await tusRequest("PATCH", location, key, { "upload-offset": "0" }, bytes.subarray(0, 100_000));
    expect(first.status).toBe(204);
    expect(first.headers.get("upload-offset")).toBe("100000");
    // The connection drops 50 kB into a 200 kB PATCH.
    await interruptedPatch(location, key, 100_000, bytes.subarray(100_000), 50_000);
    const head = await waitFor(async () => {
      const h = await tusRequest("HEAD", location, key);
      return Number(h.headers.get("upload-offset")) > 100_000 ? h : null;
    }, "the interrupted PATCH's bytes to be counted");
    const offset = Number(head.headers.get("upload-offset"));
    expect(offset).toBeLessThanOrEqual(150_000);
    const rest = await tusRequest("PATCH", location, key, { "upload-offset": String(offset) }, bytes.subarray(offset));
    expect(rest.status).toBe(200);
    const assetId = rest.headers.get("spool-asset-id");
    const body = await rest.json();
    expect(body.asset).toMatchObject({ id: assetId, kind: "VIDEO", size: 300_000, sha256: sha(bytes) });
  });

  it("lets a browser page on another origin read Spool-Asset-Id (CORS)", async () => {
    const { key } = await api.tenant();
    const origin = { origin: "http://app.example" };
    const preflight = await tusRequest("OPTIONS", "/uploads", null, { ...origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization,tus-resumable,upload-length" });
    expect(preflight.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("authorization");
    const bytes = mp4(20_000);
    const created = await tusRequest("POST", "/uploads", key, { ...origin, "upload-length": String(bytes.length) });
    const last = await tusRequest("PATCH", created.headers.get("location")!, key, { ...origin, "upload-offset": "0" }, bytes);
    expect(last.status).toBe(200);
    expect(last.headers.get("access-control-allow-origin")).toBeTruthy();
    const exposed = (last.headers.get("access-control-expose-headers") ?? "").split(",").map((h) => h.trim().toLowerCase());
    expect(exposed).toEqual(expect.arrayContaining(["spool-asset-id", "location", "upload-offset"]));
    expect(last.headers.get("spool-asset-id")).toMatch(/^[A-Za-z0-9+/=]+$/);
  });

  it("resumes with tus-js-client after an abort, from the upload URL", async () => {
    const { key } = await api.tenant();
    const bytes = mp4(600_000);
    const started = new tus.Upload(bytes, { endpoint: `${base}/uploads`, headers: { authorization: `Bearer ${key}` }, chunkSize: 50_000, retryDelays: [] });
    await new Promise<void>((resolve, reject) => {
      started.options.onError = reject;
      started.options.onChunkComplete = (_c, accepted) => {
        if (accepted >= 200_000) started.abort().then(() => resolve(), reject);
      };
      started.start();
    });
    const { assetId } = await tusUpload(bytes, key, { uploadUrl: started.url!, chunkSize: 50_000 });
    const a = await api.gql(`query($id: ID!) { asset(id: $id) { size sha256 } }`, { id: assetId }, key);
    expect(a.data.asset).toEqual({ size: 600_000, sha256: sha(bytes) });
  });

  it("refuses without a key, without assets:write, across organizations, over the size limit, without a length, and GET", async () => {
    const { key } = await api.tenant();
    const other = await api.tenant();
    const readOnly = await api.keyFor((await db.pool.query(`select organization_id from api_keys limit 1`)).rows[0].organization_id, ["assets:read"]);
    const created = await tusRequest("POST", "/uploads", key, { "upload-length": "1000" });
    const location = created.headers.get("location")!;
    const codeOf = async (r: Response) => ({ status: r.status, code: (await r.json().catch(() => ({}))).error?.code });
    expect(await codeOf(await tusRequest("POST", "/uploads", null, { "upload-length": "10" }))).toEqual({ status: 401, code: "UNAUTHENTICATED" });
    expect(await codeOf(await tusRequest("POST", "/uploads", "spool_bad", { "upload-length": "10" }))).toEqual({ status: 401, code: "UNAUTHENTICATED" });
    expect(await codeOf(await tusRequest("POST", "/uploads", readOnly, { "upload-length": "10" }))).toEqual({ status: 403, code: "FORBIDDEN" });
    expect(await codeOf(await tusRequest("HEAD", location, other.key))).toMatchObject({ status: 404 });
    expect(await codeOf(await tusRequest("PATCH", location, other.key, { "upload-offset": "0" }, Buffer.alloc(10)))).toEqual({ status: 404, code: "NOT_FOUND" });
    expect(await codeOf(await tusRequest("DELETE", location, other.key))).toEqual({ status: 404, code: "NOT_FOUND" });
    expect((await tusRequest("HEAD", location, key)).headers.get("upload-offset")).toBe("0");
    expect((await tusRequest("POST", "/uploads", key, { "upload-length": "2000001" })).status).toBe(413);
    expect(await codeOf(await tusRequest("POST", "/uploads", key, { "upload-defer-length": "1" }))).toEqual({ status: 400, code: "INVALID_INPUT" });
    expect(await codeOf(await tusRequest("GET", location, key))).toEqual({ status: 405, code: "METHOD_NOT_ALLOWED" });
  });

  it("refuses finished bytes that are not an accepted type, and keeps nothing of them", async () => {
    const { key } = await api.tenant();
    const before = (await db.pool.query(`select count(*)::int as n from assets`)).rows[0].n;
    const text = Buffer.from("this is not a video\n".repeat(100));
    const created = await tusRequest("POST", "/uploads", key, { "upload-length": String(text.length) });
    const res = await tusRequest("PATCH", created.headers.get("location")!, key, { "upload-offset": "0" }, text);
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.error.code).toBe("INVALID_INPUT");
    expect(body.error.message).toMatch(/^Expected a video, audio, image, PDF or captions/);
    expect((await tusRequest("HEAD", created.headers.get("location")!, key)).status).toBe(404);
    expect((await db.pool.query(`select count(*)::int as n from assets`)).rows[0].n).toBe(before);
    const id = created.headers.get("location")!.split("/").pop()!;
    expect(filesUnder(path.join(api.dataDir, "uploads")).filter((f) => f.startsWith(id))).toEqual([]);
  });
});

describe("unfinished uploads", () => {
  it("are private to the server's user: the folder 0700, each upload's bytes and info 0600", async () => {
    const { key } = await api.tenant();
    const created = await tusRequest("POST", "/uploads", key, { "upload-length": "100000", "upload-metadata": `filename ${Buffer.from("secret.mp4").toString("base64")}` });
    const location = created.headers.get("location")!;
    expect((await tusRequest("PATCH", location, key, { "upload-offset": "0" }, mp4(100_000).subarray(0, 10_000))).status).toBe(204);
    const dir = path.join(api.dataDir, "uploads");
    const id = location.split("/").pop()!;
    const mode = (p: string) => statSync(p).mode & 0o777;
    expect(mode(dir)).toBe(0o700);
    expect([mode(path.join(dir, id)), mode(path.join(dir, `${id}.json`))]).toEqual([0o600, 0o600]);
  });

  it("are capped per organization (RATE_LIMITED, 429) until one finishes or is deleted", async () => {
    const capped = await createTestApi(db, { maxOpenUploads: 3 });
    try {
      const b = (await capped.listen()).http.replace(/\/graphql$/, "");
      const post = (key: string, length = 1000) => tusRequest("POST", `${b}/uploads`, key, { "upload-length": String(length) });
      const a = await capped.tenant();
      const other = await capped.tenant();
      const open = [];
      for (let i = 0; i < 3; i++) {
        const r = await post(a.key);
        expect(r.status).toBe(201);
        open.push(r.headers.get("location")!);
      }
      const refused = await post(a.key);
      expect(refused.status).toBe(429);
      const body = await refused.json();
      expect(body.error.code).toBe("RATE_LIMITED");
      expect(body.error.message).toMatch(/3 unfinished uploads/);
      // Concurrent creations do not slip past the cap together.
      const burst = await Promise.all([post(other.key), post(other.key), post(other.key), post(other.key), post(other.key)]);
      expect(burst.map((r) => r.status).sort()).toEqual([201, 201, 201, 429, 429]);

      // A deleted upload frees its place; so does a finished one.
      expect((await tusRequest("DELETE", open[0]!, a.key)).status).toBe(204);
      const again = await post(a.key, 10_000);
      expect(again.status).toBe(201);
      expect((await post(a.key)).status).toBe(429);
      const done = await tusRequest("PATCH", again.headers.get("location")!, a.key, { "upload-offset": "0" }, mp4(10_000));
      expect(done.status).toBe(200);
      expect((await post(a.key)).status).toBe(201);
    } finally {
      await capped.close();
    }
  });

  it("no longer count against the cap once expired, whether or not the hourly sweep has removed them", async () => {
    const capped = await createTestApi(db, { maxOpenUploads: 1, uploadExpiryMs: 1_000 });
    try {
      const url = `${(await capped.listen()).http.replace(/\/graphql$/, "")}/uploads`;
      const { key } = await capped.tenant();
      expect((await tusRequest("POST", url, key, { "upload-length": "1000" })).status).toBe(201);
      expect((await tusRequest("POST", url, key, { "upload-length": "1000" })).status).toBe(429);
      await new Promise((r) => setTimeout(r, 1_100));
      expect((await tusRequest("POST", url, key, { "upload-length": "1000" })).status).toBe(201);
    } finally {
      await capped.close();
    }
  });
});

describe("abandoned uploads", () => {
  it("are removed after the expiry", async () => {
    const expiring = await createTestApi(db, { uploadExpiryMs: 300 });
    try {
      const b = (await expiring.listen()).http.replace(/\/graphql$/, "");
      const { key } = await expiring.tenant();
      const created = await fetch(`${b}/uploads`, { method: "POST", headers: { "tus-resumable": "1.0.0", authorization: `Bearer ${key}`, "upload-length": "100000" } });
      const location = created.headers.get("location")!;
      await fetch(location, { method: "PATCH", headers: { "tus-resumable": "1.0.0", authorization: `Bearer ${key}`, "content-type": "application/offset+octet-stream", "upload-offset": "0" }, body: new Uint8Array(mp4(100_000).subarray(0, 10_000)) });
      expect(filesUnder(path.join(expiring.dataDir, "uploads")).length).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 400));
      expect(await expiring.uploads.cleanUpExpired()).toBe(1);
      expect(filesUnder(path.join(expiring.dataDir, "uploads"))).toEqual([]);
      const after = await fetch(location, { method: "HEAD", headers: { "tus-resumable": "1.0.0", authorization: `Bearer ${key}` } });
      expect(after.status).toBe(404);
    } finally {
      await expiring.close();
    }
  });
});
