// inputUrl: Spool downloads the URL itself in an asset.ingest job, through the SSRF-safe
// client. A loopback origin server counts every connection: under the default policy it
// must see none, whatever spelling or redirect the URL uses.
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../src/engine/engine.ts";
import { createTestApi, type Api } from "../graphql/api-helpers.ts";
import { createTestDatabase, log, waitFor, type TestDb } from "../helpers.ts";
import { filesUnder, mp4 } from "./fixtures.ts";

let db: TestDb;
let origin: http.Server;
let port: number;
const connections: string[] = [];
const clip = mp4(200_000);

beforeAll(async () => {
  db = await createTestDatabase();
  origin = http.createServer((req, res) => {
    const url = req.url ?? "/";
    if (url === "/clip.mp4") return res.writeHead(200, { "content-type": "video/mp4", "content-length": clip.length }).end(clip);
    if (url === "/named") return res.writeHead(200, { "content-disposition": `attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.mp4` }).end(clip);
    if (url === "/redirect-ok") return res.writeHead(302, { location: "/clip.mp4" }).end();
    if (url === "/redirect-private") return res.writeHead(302, { location: `http://127.0.0.2:${port}/clip.mp4` }).end();
    if (url === "/redirect-file") return res.writeHead(302, { location: "file:///etc/passwd" }).end();
    if (url === "/text") return res.writeHead(200, { "content-type": "video/mp4" }).end("not a video at all\n".repeat(50));
    if (url === "/slow.mp4") {
      // Headers and a first chunk, then a trickle: a download that is still running when cancelled.
      res.writeHead(200, { "content-length": 10_000_000 });
      res.write(clip.subarray(0, 50_000));
      const timer = setInterval(() => res.write(Buffer.alloc(1_000)), 50);
      res.on("close", () => clearInterval(timer));
      return;
    }
    res.writeHead(404).end("missing");
  });
  origin.on("connection", (s: Socket) => connections.push(s.localAddress ?? "?"));
  await new Promise<void>((r) => origin.listen(0, "0.0.0.0", r));
  port = (origin.address() as AddressInfo).port;
});
afterAll(async () => {
  origin?.closeAllConnections();
  await new Promise((r) => origin?.close(r));
  await db?.drop();
});

const CREATE = `mutation($url: String!) { createVideo(input: { inputUrl: $url }) { video { id title status ingestJob { id status } } } }`;
const VIDEO = `query($id: ID!) { video(id: $id) { title status error { code message } source { kind size filename origin sourceUrl } ingestJob { status error { code } } } }`;

describe("inputUrl under a policy that allows this loopback origin (a self-hoster's SPOOL_URL_ALLOW_CIDRS)", () => {
  let api: Api;
  let engine: Engine;
  let key: string;
  beforeAll(async () => {
    api = await createTestApi(db, { outbound: { allowCidrs: ["127.0.0.1/32"], allowedPorts: [port] } });
    engine = new Engine({ pool: db.pool, registry: api.registry, log, concurrency: 1, pollMs: 50 });
    key = (await api.tenant()).key;
  });
  afterAll(async () => {
    await engine?.stop(1_000);
    await api?.close();
  });

  async function ingest(url: string) {
    const created = await api.gql(CREATE, { url }, key);
    expect(created.errors).toBeUndefined();
    expect(created.data.createVideo.video.status).toBe("PENDING");
    await engine.drain();
    return (await api.gql(VIDEO, { id: created.data.createVideo.video.id }, key)).data.video;
  }

  it("downloads the URL in an asset.ingest job and makes it the Video's source", async () => {
    const v = await ingest(`http://127.0.0.1:${port}/redirect-ok`);
    expect(v).toMatchObject({
      title: "redirect-ok", status: "READY", error: null, ingestJob: { status: "SUCCEEDED" },
      source: { kind: "VIDEO", size: clip.length, filename: "clip.mp4", origin: "URL", sourceUrl: `http://127.0.0.1:${port}/clip.mp4` },
    });
    expect((await ingest(`http://127.0.0.1:${port}/named`)).source.filename).toBe("résumé.mp4");
  });

  it("fails the Video with a stable code: 404, wrong content, redirects to other addresses or to file:", async () => {
    const files = () => filesUnder(path.join(api.dataDir, "files")).length;
    const before = { files: files(), assets: (await db.pool.query(`select count(*)::int as n from assets`)).rows[0].n };
    const cases: Array<[string, string]> = [
      ["/missing", "URL_UNREACHABLE"],
      ["/text", "VIDEO_FORMAT_UNSUPPORTED"],
      ["/redirect-private", "URL_NOT_ALLOWED"],
      ["/redirect-file", "URL_NOT_ALLOWED"],
    ];
    for (const [p, code] of cases) {
      const v = await ingest(`http://127.0.0.1:${port}${p}`);
      expect({ p, status: v.status, code: v.error?.code, job: v.ingestJob.status }).toEqual({ p, status: "FAILED", code, job: "FAILED" });
    }
    expect(connections.filter((a) => a === "127.0.0.2")).toEqual([]);
    expect({ files: files(), assets: (await db.pool.query(`select count(*)::int as n from assets`)).rows[0].n }).toEqual(before);
  });

  it("an asset.ingest submitted by hand for another organization's Video fails NOT_FOUND and touches nothing", async () => {
    const victim = await api.tenant();
    const v = await ingest(`http://127.0.0.1:${port}/clip.mp4`);
    expect(v.status).toBe("READY");
    const victimVideo = await api.gql(CREATE, { url: `http://127.0.0.1:${port}/clip.mp4` }, victim.key);
    await engine.drain();
    const victimId = victimVideo.data.createVideo.video.id;
    const rawId = Buffer.from(victimId, "base64").toString().split(":")[1];
    const before = await db.pool.query(`select id, organization_id from assets where video_id = $1`, [rawId]);
    expect(before.rowCount).toBe(1);
    const sub = await api.gql(`mutation($input: JSON!) { submitJob(input: { type: "asset.ingest", input: $input }) { job { id } } }`,
      { input: { url: `http://127.0.0.1:${port}/clip.mp4`, kind: "video", itemId: rawId } }, key);
    await engine.drain();
    const job = await api.gql(`query($id: ID!) { job(id: $id) { status error { code } } }`, { id: sub.data.submitJob.job.id }, key);
    expect(job.data.job).toEqual({ status: "FAILED", error: { code: "NOT_FOUND" } });
    expect((await db.pool.query(`select id, organization_id from assets where video_id = $1`, [rawId])).rows).toEqual(before.rows);
  });

  it("cancelling the download, or deleting the Video, stops it and keeps nothing", async () => {
    engine.start();
    for (const how of ["cancel", "delete"] as const) {
      const created = await api.gql(CREATE, { url: `http://127.0.0.1:${port}/slow.mp4` }, key);
      const { id, ingestJob } = created.data.createVideo.video;
      await waitFor(async () => (await api.gql(`query($id: ID!) { job(id: $id) { progress } }`, { id: ingestJob.id }, key)).data.job.progress > 0, "the download to start");
      if (how === "cancel") {
        const c = await api.gql(`mutation($id: ID!) { cancelJob(input: { id: $id }) { job { status } } }`, { id: ingestJob.id }, key);
        expect(c.data.cancelJob.job.status).toBe("CANCELLED");
        const v = await waitFor(async () => {
          const r = (await api.gql(VIDEO, { id }, key)).data.video;
          return r.status === "FAILED" ? r : null;
        }, "the video to fail");
        expect(v.error).toEqual({ code: "CANCELLED", message: "The download was cancelled." });
      } else {
        const d = await api.gql(`mutation($id: ID!) { deleteVideo(input: { id: $id }) { deletedId } }`, { id }, key);
        expect(d.data.deleteVideo.deletedId).toBe(id);
        expect((await api.gql(VIDEO, { id }, key)).errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
      }
      // The aborted storage write removes its partial file; no row ever existed.
      await waitFor(async () => engine.runningCount === 0, "the job to stop");
      const raw = Buffer.from(id, "base64").toString().split(":")[1];
      expect((await db.pool.query(`select count(*)::int as n from assets where video_id = $1`, [raw])).rows[0].n).toBe(0);
      expect(filesUnder(path.join(api.dataDir, "files")).filter((f) => f.startsWith(".tmp"))).toEqual([]);
    }
  });
});

describe("inputUrl under the default policy", () => {
  let api: Api;
  let engine: Engine;
  beforeAll(async () => {
    // The origin's port is allowed, so only the address rules can refuse.
    api = await createTestApi(db, { outbound: { allowedPorts: [80, 443, port] } });
    engine = new Engine({ pool: db.pool, registry: api.registry, log, concurrency: 1 });
  });
  afterAll(async () => {
    await api?.close();
  });

  it("refuses every private, loopback and metadata spelling and non-http scheme before anything is created", async () => {
    const { key, org } = await api.tenant();
    const seen = connections.length;
    const urls = [
      `http://127.0.0.1:${port}/clip.mp4`, `http://2130706433:${port}/clip.mp4`, `http://0177.0.0.1:${port}/clip.mp4`, `http://0x7f.1:${port}/clip.mp4`,
      `http://127.1:${port}/clip.mp4`, `http://[::1]:${port}/clip.mp4`, `http://[::ffff:127.0.0.1]:${port}/clip.mp4`, `http://0.0.0.0:${port}/clip.mp4`,
      "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/a.mp4", "http://192.168.1.1/a.mp4", "http://[fd00::1]/a.mp4",
      "file:///etc/passwd", "ftp://example.com/a.mp4", "gopher://example.com/a", "http://user:pw@example.com/a.mp4", "http://example.com:8080/a.mp4",
      `http://localhost:${port}/clip.mp4`, `http://media.localhost:${port}/clip.mp4`,
    ];
    for (const url of urls) {
      const r = await api.gql(CREATE, { url }, key);
      expect({ url, code: r.errors?.[0]?.extensions?.code }).toEqual({ url, code: "URL_NOT_ALLOWED" });
    }
    const bad = await api.gql(CREATE, { url: "not a url" }, key);
    expect(bad.errors?.[0]?.extensions?.code).toBe("INVALID_INPUT");
    expect((await db.pool.query(`select count(*)::int as n from videos where organization_id = $1`, [org.id])).rows[0].n).toBe(0);
    expect((await db.pool.query(`select count(*)::int as n from jobs where organization_id = $1`, [org.id])).rows[0].n).toBe(0);
    expect(connections.length).toBe(seen);
  });

  it("refuses a loopback hostname in the job too: the Video fails, the origin sees nothing", async () => {
    // localhost is refused at create under this policy: the Video is made through an API
    // that allows loopback, and its job runs on this policy's engine, which checks the URL again.
    const lenient = await createTestApi(db, { outbound: { allowCidrs: ["127.0.0.1/32"], allowedPorts: [port] } });
    try {
      const { key } = await lenient.tenant();
      const seen = connections.length;
      const created = await lenient.gql(CREATE, { url: `http://localhost:${port}/clip.mp4` }, key);
      expect(created.data.createVideo.video.status).toBe("PENDING");
      await engine.drain();
      const v = (await lenient.gql(VIDEO, { id: created.data.createVideo.video.id }, key)).data.video;
      expect(v).toMatchObject({ status: "FAILED", error: { code: "URL_NOT_ALLOWED" }, source: null });
      expect(connections.length).toBe(seen);
    } finally {
      await lenient.close();
    }
  });
});
