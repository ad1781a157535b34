// The whole asset path on the S3 backend, against s3rver (a local server speaking S3's
// protocol): multipart and tus uploads and URL downloads land in the bucket, Asset.url is
// the bucket's presigned URL, and deleting a Video deletes its objects.
import { createRequire } from "node:module";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import * as tus from "tus-js-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../src/engine/engine.ts";
import { createStorage } from "../../src/tools/storage/create-storage.ts";
import type { Storage } from "../../src/tools/storage/storage.ts";
import { createTestApi, type Api } from "../graphql/api-helpers.ts";
import { createTestDatabase, log, type TestDb } from "../helpers.ts";
import { mp4 } from "./fixtures.ts";

const require = createRequire(import.meta.url);
const S3rver = require("s3rver") as new (o: Record<string, unknown>) => { run(): Promise<{ port: number }>; close(): Promise<void> };

let db: TestDb;
let api: Api;
let storage: Storage;
let s3dir: string;
let s3: { close(): Promise<void> };
let origin: http.Server;
let base: string;
const clip = mp4(120_000);

beforeAll(async () => {
  db = await createTestDatabase();
  s3dir = await mkdtemp(path.join(os.tmpdir(), "spool-s3-"));
  const server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory: s3dir, configureBuckets: [{ name: "media" }] });
  const { port } = await server.run();
  s3 = server;
  storage = createStorage({
    kind: "s3", bucket: "media", region: "us-east-1", endpoint: `http://127.0.0.1:${port}`, forcePathStyle: true,
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
  });
  origin = http.createServer((_req, res) => res.writeHead(200, { "content-length": clip.length }).end(clip));
  await new Promise<void>((r) => origin.listen(0, "127.0.0.1", r));
  api = await createTestApi(db, {
    storage,
    outbound: { allowCidrs: ["127.0.0.1/32"], allowedPorts: [(origin.address() as AddressInfo).port] },
  });
  base = (await api.listen()).http.replace(/\/graphql$/, "");
});
afterAll(async () => {
  await api?.close();
  await s3?.close();
  await new Promise((r) => origin?.close(r));
  await rm(s3dir, { recursive: true, force: true });
  await db?.drop();
});

const objects = async (prefix = "orgs/") => {
  const keys: string[] = [];
  for await (const o of storage.list(prefix)) keys.push(o.key);
  return keys;
};

describe("assets on S3", () => {
  it("multipart upload → object in the bucket; Asset.url is a presigned bucket URL; deleteVideo deletes the object", async () => {
    const { key, org } = await api.tenant();
    const r = await api.gqlUpload(`mutation($input: CreateVideoInput!) { createVideo(input: $input) { video { id source { size url(disposition: INLINE) } } } }`,
      { input: { file: null } }, { "input.file": { bytes: clip, name: "s3.mp4" } }, key);
    expect(r.errors).toBeUndefined();
    const v = r.data.createVideo.video;
    expect(await objects(`orgs/${org.id}/`)).toHaveLength(1);
    const url = new URL(v.source.url);
    expect(url.pathname).toMatch(/^\/media\/orgs\//);
    expect(url.searchParams.get("X-Amz-Signature")).toBeTruthy();
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-disposition")).toBe(`inline; filename="s3.mp4"`);
    expect(Buffer.from(await res.arrayBuffer()).equals(clip)).toBe(true);
    await api.gql(`mutation($id: ID!) { deleteVideo(input: { id: $id }) { deletedId } }`, { id: v.id }, key);
    expect(await objects(`orgs/${org.id}/`)).toEqual([]);
  });

  it("a refused upload leaves no object", async () => {
    const { key, org } = await api.tenant();
    const r = await api.gqlUpload(`mutation($input: CreateVideoInput!) { createVideo(input: $input) { video { id } } }`,
      { input: { file: null } }, { "input.file": { bytes: Buffer.from("text, not video\n".repeat(500)), name: "x.mp4" } }, key);
    expect(r.errors?.[0]?.extensions?.code).toBe("VIDEO_FORMAT_UNSUPPORTED");
    expect(await objects(`orgs/${org.id}/`)).toEqual([]);
  });

  it("a tus upload (spooled in the local tus folder) becomes an asset in the bucket", async () => {
    const { key, org } = await api.tenant();
    const assetId = await new Promise<string>((resolve, reject) => {
      const u = new tus.Upload(clip, {
        endpoint: `${base}/uploads`, headers: { authorization: `Bearer ${key}` }, chunkSize: 6 * 1024 * 1024, retryDelays: [],
        onSuccess: ({ lastResponse }) => resolve(lastResponse.getHeader("Spool-Asset-Id")!), onError: reject,
      });
      u.start();
    });
    const a = await api.gql(`query($id: ID!) { asset(id: $id) { size kind } }`, { id: assetId }, key);
    expect(a.data.asset).toEqual({ size: clip.length, kind: "VIDEO" });
    expect(await objects(`orgs/${org.id}/`)).toHaveLength(1);
  });

  it("an inputUrl download lands in the bucket", async () => {
    const { key, org } = await api.tenant();
    const port = (origin.address() as AddressInfo).port;
    const c = await api.gql(`mutation($u: String!) { createVideo(input: { inputUrl: $u }) { video { id } } }`, { u: `http://127.0.0.1:${port}/a.mp4` }, key);
    await new Engine({ pool: db.pool, registry: api.registry, log, concurrency: 1 }).drain();
    const v = await api.gql(`query($id: ID!) { video(id: $id) { status source { size origin } } }`, { id: c.data.createVideo.video.id }, key);
    expect(v.data.video).toEqual({ status: "READY", source: { size: clip.length, origin: "URL" } });
    expect(await objects(`orgs/${org.id}/`)).toHaveLength(1);
  });
});
