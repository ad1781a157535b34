// Videos and Documents as objects: queries with filters, updates, deletion with their
// files, the orphan-file sweep, and tenancy on every path (a foreign id is NOT_FOUND).
import { randomUUID } from "node:crypto";
import path from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../src/engine/engine.ts";
import { assetKey } from "../../src/services/assets.ts";
import { createTestApi, type Api } from "../graphql/api-helpers.ts";
import { createTestDatabase, log, type TestDb } from "../helpers.ts";
import { filesUnder, mp4, pdf, png } from "./fixtures.ts";

let db: TestDb;
let api: Api;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await createTestApi(db);
});
afterAll(async () => {
  await api?.close();
  await db?.drop();
});

const files = () => filesUnder(path.join(api.dataDir, "files")).filter((f) => !f.startsWith(".tmp"));

async function video(key: string, input: Record<string, unknown>, bytes = mp4(20_000)) {
  const r = await api.gqlUpload(`mutation($input: CreateVideoInput!) { createVideo(input: $input) { video { id source { id url } } } }`, { input: { ...input, file: null } }, { "input.file": { bytes, name: "v.mp4" } }, key);
  expect(r.errors).toBeUndefined();
  return r.data.createVideo.video as { id: string; source: { id: string; url: string } };
}

describe("Videos and Documents", () => {
  it("lists with filters (tags, title search, status, dates) and totalCount, newest first", async () => {
    const { key } = await api.tenant();
    const a = await video(key, { title: "Launch keynote", tags: ["launch", "2026"] });
    const b = await video(key, { title: "Launch teaser", tags: ["launch"] });
    await video(key, { title: "Office tour", tags: ["culture"] });
    const pending = await api.gql(`mutation { createVideo(input: { inputUrl: "https://example.com/later.mp4" }) { video { id status } } }`, {}, key);
    expect(pending.data.createVideo.video.status).toBe("PENDING");
    const q = `query($f: VideoFilter) { videos(filter: $f, first: 10) { totalCount edges { node { id title status } } } }`;
    const list = async (f: unknown) => (await api.gql(q, { f }, key)).data.videos;
    expect((await list(null)).totalCount).toBe(4);
    expect((await list({ tags: ["launch"] })).edges.map((e: any) => e.node.id)).toEqual([b.id, a.id]);
    expect((await list({ tags: ["launch", "2026"] })).edges.map((e: any) => e.node.id)).toEqual([a.id]);
    expect((await list({ search: "TEASER" })).edges.map((e: any) => e.node.id)).toEqual([b.id]);
    expect((await list({ status: ["PENDING"] })).edges.map((e: any) => e.node.id)).toEqual([pending.data.createVideo.video.id]);
    expect((await list({ status: ["READY"] })).totalCount).toBe(3);
    expect((await list({ status: ["FAILED"] })).totalCount).toBe(0);
    expect((await list({ createdAfter: new Date(Date.now() + 60_000).toISOString() })).totalCount).toBe(0);
    const tooMany = await api.gql(q, { f: { tags: Array.from({ length: 21 }, (_, i) => `t${i}`) } }, key);
    expect(tooMany.errors?.[0]?.extensions?.code).toBe("INVALID_INPUT");
  });

  it("updates title, description, tags and metadata", async () => {
    const { key } = await api.tenant();
    const v = await video(key, { title: "Draft", description: "old", tags: ["a"] });
    const r = await api.gql(`mutation($id: ID!) { updateVideo(input: { id: $id, title: "Final", tags: ["b", "c"], metadata: { k: 1 } }) { video { title description tags metadata } } }`, { id: v.id }, key);
    expect(r.data.updateVideo.video).toEqual({ title: "Final", description: "old", tags: ["b", "c"], metadata: { k: 1 } });
    const cleared = await api.gql(`mutation($id: ID!) { updateVideo(input: { id: $id, description: null }) { video { title description } } }`, { id: v.id }, key);
    expect(cleared.data.updateVideo.video).toEqual({ title: "Final", description: null });
    const empty = await api.gql(`mutation($id: ID!) { updateVideo(input: { id: $id, title: "  " }) { video { title } } }`, { id: v.id }, key);
    expect(empty.errors?.[0]?.extensions?.code).toBe("INVALID_INPUT");
  });

  it("deleting a Video or Document removes its rows and its stored files", async () => {
    const { key } = await api.tenant();
    const before = files();
    const v = await video(key, { title: "Gone soon" });
    const d = await api.gqlUpload(`mutation($input: CreateDocumentInput!) { createDocument(input: $input) { document { id } } }`, { input: { file: null } }, { "input.file": { bytes: pdf(), name: "d.pdf" } }, key);
    expect(files().length).toBe(before.length + 2);
    const dv = await api.gql(`mutation($id: ID!) { deleteVideo(input: { id: $id }) { deletedId } }`, { id: v.id }, key);
    expect(dv.data.deleteVideo.deletedId).toBe(v.id);
    const dd = await api.gql(`mutation($id: ID!) { deleteDocument(input: { id: $id }) { deletedId } }`, { id: d.data.createDocument.document.id }, key);
    expect(dd.errors).toBeUndefined();
    expect(files()).toEqual(before);
    expect((await api.gql(`query($id: ID!) { asset(id: $id) { id } }`, { id: v.source.id }, key)).errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    const again = await api.gql(`mutation($id: ID!) { deleteVideo(input: { id: $id }) { deletedId } }`, { id: v.id }, key);
    expect(again.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
  });

  it("system.cleanup removes the organization's orphaned files older than the grace period, and only those", async () => {
    const { key, org } = await api.tenant();
    const other = await api.tenant();
    const kept = await video(key, { title: "Keep" });
    // Files no row names: what a crash between the write and the commit leaves.
    const orphan = assetKey(org.id, randomUUID());
    const young = assetKey(org.id, randomUUID());
    const othersOrphan = assetKey(other.org.id, randomUUID());
    for (const k of [orphan, young, othersOrphan]) await api.storage.put(k, Readable.from([png]));
    const { utimes } = await import("node:fs/promises");
    const old = new Date(Date.now() - 2 * 3_600_000);
    for (const k of [orphan, othersOrphan]) await utimes(path.join(api.dataDir, "files", k), old, old);

    const engine = new Engine({ pool: db.pool, registry: api.registry, log, concurrency: 1 });
    const submit = async (dryRun: boolean) => {
      const r = await api.gql(`mutation($d: Boolean) { cleanupJobs(input: { maxAgeSeconds: 3600, dryRun: $d }) { job { id } } }`, { d: dryRun }, key);
      await engine.drain();
      return (await api.gql(`query($id: ID!) { job(id: $id) { status result } }`, { id: r.data.cleanupJobs.job.id }, key)).data.job;
    };
    expect(await submit(true)).toMatchObject({ status: "SUCCEEDED", result: { dryRun: true, orphanFiles: 1 } });
    expect(await api.storage.stat(orphan)).not.toBeNull();
    expect(await submit(false)).toMatchObject({ status: "SUCCEEDED", result: { dryRun: false, orphanFiles: 1 } });
    expect(await api.storage.stat(orphan)).toBeNull();
    expect(await api.storage.stat(young)).not.toBeNull();
    expect(await api.storage.stat(othersOrphan)).not.toBeNull();
    const source = await api.gql(`query($id: ID!) { video(id: $id) { status source { size } } }`, { id: kept.id }, key);
    expect(source.data.video).toEqual({ status: "READY", source: { size: 20_000 } });
  });
});

describe("tenancy", () => {
  it("another organization's assets, videos, documents and uploads are NOT_FOUND on every path", async () => {
    const a = await api.tenant();
    const b = await api.tenant();
    const v = await video(a.key, { title: "Private" });
    const d = await api.gqlUpload(`mutation($input: CreateDocumentInput!) { createDocument(input: $input) { document { id source { id } } } }`, { input: { file: null } }, { "input.file": { bytes: png, name: "p.png" } }, a.key);
    const docId = d.data.createDocument.document.id;
    const loose = await api.gqlUpload(`mutation($input: UploadAssetInput!) { uploadAsset(input: $input) { asset { id } } }`, { input: { file: null } }, { "input.file": { bytes: mp4(5_000), name: "l.mp4" } }, a.key);
    const looseId = loose.data.uploadAsset.asset.id;
    await db.pool.query(`update assets set upload_id = 'upforeign1' where id = $1`, [Buffer.from(looseId, "base64").toString().split(":")[1]]);

    const code = async (query: string, variables: Record<string, unknown>) => (await api.gql(query, variables, b.key)).errors?.[0]?.extensions?.code;
    const probes: Array<[string, Record<string, unknown>]> = [
      [`query($id: ID!) { video(id: $id) { id } }`, { id: v.id }],
      [`query($id: ID!) { document(id: $id) { id } }`, { id: docId }],
      [`query($id: ID!) { asset(id: $id) { id } }`, { id: v.source.id }],
      [`query($id: ID!) { asset(id: $id) { url } }`, { id: looseId }],
      [`mutation($id: ID!) { updateVideo(input: { id: $id, title: "mine" }) { video { id } } }`, { id: v.id }],
      [`mutation($id: ID!) { deleteVideo(input: { id: $id }) { deletedId } }`, { id: v.id }],
      [`mutation($id: ID!) { deleteDocument(input: { id: $id }) { deletedId } }`, { id: docId }],
      [`mutation($id: ID!) { deleteAsset(input: { id: $id }) { deletedId } }`, { id: looseId }],
      [`mutation($id: ID!) { createVideo(input: { assetId: $id }) { video { id } } }`, { id: looseId }],
      [`mutation { createVideo(input: { uploadId: "upforeign1" }) { video { id } } }`, {}],
    ];
    for (const [query, variables] of probes) expect({ query, code: await code(query, variables) }).toEqual({ query, code: "NOT_FOUND" });
    // node(id:) answers null for another organization's object, as for a missing one.
    for (const id of [v.id, docId, looseId]) {
      const n = await api.gql(`query($id: ID!) { node(id: $id) { id } }`, { id }, b.key);
      expect(n.data?.node ?? null).toBeNull();
      expect(n.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    }
    const lists = await api.gql(`{ videos { totalCount } documents { totalCount } assets { totalCount } }`, {}, b.key);
    expect(lists.data).toEqual({ videos: { totalCount: 0 }, documents: { totalCount: 0 }, assets: { totalCount: 0 } });
    // The owner still has everything.
    const mine = await api.gql(`{ videos { totalCount } documents { totalCount } assets { totalCount } }`, {}, a.key);
    expect(mine.data).toEqual({ videos: { totalCount: 1 }, documents: { totalCount: 1 }, assets: { totalCount: 3 } });
  });

  it("the database refuses an asset of one organization attached to another's Video or Document", async () => {
    const a = await api.tenant();
    const b = await api.tenant();
    const v = await video(a.key, { title: "A's" });
    const videoId = Buffer.from(v.id, "base64").toString().split(":")[1];
    const insert = db.pool.query(
      `insert into assets (organization_id, key, size, content_type, kind, sha256, origin, video_id) values ($1, 'k-' || gen_random_uuid(), 1, 'video/mp4', 'VIDEO', 'x', 'UPLOAD', $2)`,
      [b.org.id, videoId],
    );
    await expect(insert).rejects.toMatchObject({ code: "23503", constraint: "assets_video_same_organization_fkey" });
  });

  it("reads need assets:read and writes assets:write", async () => {
    const { org } = await api.tenant();
    const jobsOnly = await api.keyFor(org.id, ["jobs:read", "jobs:write"]);
    const readOnly = await api.keyFor(org.id, ["assets:read"]);
    expect((await api.gql(`{ videos { totalCount } }`, {}, jobsOnly)).errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    expect((await api.gql(`{ videos { totalCount } }`, {}, readOnly)).data.videos.totalCount).toBe(0);
    const w = await api.gql(`mutation { createVideo(input: { inputUrl: "https://example.com/a.mp4" }) { video { id } } }`, {}, readOnly);
    expect(w.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    const anon = await api.gql(`{ assets { totalCount } }`, {}, null);
    expect(anon.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
  });
});
