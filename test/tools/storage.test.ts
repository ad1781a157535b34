// The storage adapter, one suite run against both backends: a temp folder, and a real S3 API
// (s3rver on loopback, path-style). s3rver lacks AbortMultipartUpload and
// ListMultipartUploads, so a small shim in front of it records the multipart uploads it sees
// and honours aborts by deleting the upload's parts from s3rver's own folder — that is how the
// tests check that a failed put leaves no multipart upload behind.
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { pipeline, Readable, Transform } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SpoolError } from "../../src/errors.ts";
import { createStorage } from "../../src/tools/storage/create-storage.ts";
import { assertValidKey } from "../../src/tools/storage/keys.ts";
import type { Storage, StorageOptions } from "../../src/tools/storage/storage.ts";

// s3rver ships no types; this is the part of it the tests use.
type KoaContext = {
  method: string;
  path: string;
  query: Record<string, string | string[] | undefined>;
  status: number;
  body: unknown;
};
type S3rverInstance = {
  middleware: Array<(ctx: KoaContext, next: () => Promise<void>) => Promise<void>>;
  store: { getResourcePath(bucket: string, key: string | undefined, resource: string): string };
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
};
type S3rverClass = new (options: Record<string, unknown>) => S3rverInstance;
const require = createRequire(import.meta.url);
const S3rver = require("s3rver") as S3rverClass;

/**
 * s3rver encrypts its ListObjectsV2 continuation tokens with DES, which OpenSSL 3 (Node ≥ 17)
 * no longer offers, so its second page fails with a 500. Tokens are opaque to clients: for
 * DES only, swap in an identity transform, so pagination can be tested at all.
 */
function letS3rverPaginate(): () => void {
  type CipherFactory = (algorithm: string, key: unknown, iv: unknown) => unknown;
  const nodeCrypto = require("node:crypto") as Record<"createCipheriv" | "createDecipheriv", CipherFactory>;
  const originals = { createCipheriv: nodeCrypto.createCipheriv, createDecipheriv: nodeCrypto.createDecipheriv };
  const identity = () => ({
    update: (data: string | Buffer, encoding?: BufferEncoding) => (typeof data === "string" ? Buffer.from(data, encoding) : data),
    final: () => Buffer.alloc(0),
  });
  for (const name of ["createCipheriv", "createDecipheriv"] as const) {
    nodeCrypto[name] = (algorithm, key, iv) => (algorithm === "des" ? identity() : originals[name](algorithm, key, iv));
  }
  return () => Object.assign(nodeCrypto, originals);
}

let restoreCrypto: () => void;
beforeAll(() => {
  restoreCrypto = letS3rverPaginate();
});
afterAll(() => restoreCrypto());

const BUCKET = "spool-test";
const S3_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };
const MB = 1024 * 1024;

type Env = {
  storage: Storage;
  /** Files left in the local backend's .tmp (always [] for S3). */
  strayTemps(): Promise<string[]>;
  /** Multipart uploads started and neither completed nor aborted, plus parts left on s3rver's disk (S3). */
  openUploads(): Promise<string[]>;
  /** A storage of the same kind whose backend fails (a file as root; a missing bucket). */
  broken(): Storage;
  /** Removed before `storage` is used, so its creation (mode 0700) can be checked. */
  root?: string;
  s3?: { server: S3rverInstance; endpoint: string; dir: string; abortsHonoured: boolean; abortRequests: string[]; created: Set<string> };
  close(): Promise<void>;
};

async function localEnv(): Promise<Env> {
  const base = await mkdtemp(path.join(os.tmpdir(), "spool-storage-"));
  const root = path.join(base, "root");
  const storage = createStorage({ kind: "local", root });
  const notADir = path.join(base, "a-file");
  await writeFile(notADir, "x");
  return {
    storage,
    root,
    async strayTemps() {
      return readdir(path.join(root, ".tmp")).catch(() => []);
    },
    async openUploads() {
      return [];
    },
    broken: () => createStorage({ kind: "local", root: path.join(notADir, "root") }),
    async close() {
      await storage.close();
      await rm(base, { recursive: true, force: true });
    },
  };
}

async function s3Env(): Promise<Env> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "spool-s3rver-"));
  const server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory: dir, configureBuckets: [{ name: BUCKET }] });
  const created = new Set<string>();
  const finished = new Set<string>();
  const state = { server, endpoint: "", dir, abortsHonoured: true, abortRequests: [] as string[], created };
  // Runs before s3rver's own routing (Koa composes the middleware array at listen time).
  server.middleware.unshift(async (ctx, next) => {
    const uploadId = typeof ctx.query.uploadId === "string" ? ctx.query.uploadId : undefined;
    if (ctx.method === "DELETE" && uploadId) {
      state.abortRequests.push(uploadId);
      if (state.abortsHonoured) {
        const bucket = ctx.path.split("/")[1]!;
        await rm(path.join(server.store.getResourcePath(bucket, undefined, "uploads"), uploadId), { recursive: true, force: true });
        finished.add(uploadId);
        ctx.status = 204;
        return;
      }
    }
    await next();
    if (ctx.method === "POST" && "uploads" in ctx.query && ctx.status === 200) {
      const id = /<UploadId>([^<]+)<\/UploadId>/.exec(String(ctx.body))?.[1];
      if (id) created.add(id);
    }
    if (ctx.method === "POST" && uploadId && ctx.status === 200) finished.add(uploadId);
  });
  const { port } = await server.run();
  state.endpoint = `http://127.0.0.1:${port}`;
  const options = (over: Partial<Extract<StorageOptions, { kind: "s3" }>> = {}): StorageOptions => ({
    kind: "s3",
    bucket: BUCKET,
    region: "us-east-1",
    endpoint: state.endpoint,
    forcePathStyle: true,
    credentials: S3_CREDENTIALS,
    ...over,
  });
  const storage = createStorage(options());
  const extra: Storage[] = [];
  return {
    storage,
    s3: state,
    async strayTemps() {
      return [];
    },
    async openUploads() {
      const open = [...created].filter((id) => !finished.has(id));
      const uploadsDir = server.store.getResourcePath(BUCKET, undefined, "uploads");
      const onDisk = await readdir(uploadsDir).catch(() => []);
      return [...open, ...onDisk.map((d) => `on disk: ${d}`)];
    },
    broken() {
      const s = createStorage(options({ bucket: "no-such-bucket" }));
      extra.push(s);
      return s;
    },
    async close() {
      await Promise.all([storage, ...extra].map((s) => s.close()));
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** `total` random bytes in 64 KiB chunks, hashed on the way out. */
function generated(total: number) {
  const hash = createHash("sha256");
  let sent = 0;
  const stream = Readable.from(
    (async function* () {
      while (sent < total) {
        const chunk = randomBytes(Math.min(64 * 1024, total - sent));
        hash.update(chunk);
        sent += chunk.length;
        yield chunk;
      }
    })(),
  );
  return { stream, sha256: () => hash.digest("hex") };
}

/** Random bytes forever, a little slowly; `onBytes` sees the running total. */
function endless(onBytes: (total: number) => void): Readable {
  let sent = 0;
  return Readable.from(
    (async function* () {
      for (;;) {
        await new Promise((r) => setImmediate(r));
        const chunk = randomBytes(256 * 1024);
        sent += chunk.length;
        yield chunk;
        onBytes(sent);
      }
    })(),
  );
}

/** Like Spool's upload inspector: a Transform that fails with the caller's own error past `limit` bytes. */
function limited(source: Readable, limit: number, error: Error): Transform {
  let seen = 0;
  const t = new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      done(seen > limit ? error : null, seen > limit ? undefined : chunk);
    },
  });
  pipeline(source, t, () => undefined);
  return t;
}

async function bytesOf(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

async function putBuffer(storage: Storage, key: string, data: Buffer) {
  return storage.put(key, Readable.from([data.subarray(0, Math.floor(data.length / 2)), data.subarray(Math.floor(data.length / 2))]));
}

async function listKeys(storage: Storage, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of storage.list(prefix)) keys.push(o.key);
  return keys;
}

async function expectCode(p: Promise<unknown>, code: string): Promise<SpoolError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, `expected a SpoolError ${code}`).toBeInstanceOf(SpoolError);
  expect((err as SpoolError).code).toBe(code);
  return err as SpoolError;
}

const INVALID_KEYS = ["../x", "/abs", "a//b", "a/./b", "a/../b", "a\\b", "", "a/", "a\u0000b", "a b", ".tmp/x", "x".repeat(513)];

describe("assertValidKey", () => {
  it("accepts Spool's keys and refuses everything that could address something else", () => {
    expect(() => assertValidKey(`orgs/${randomUUID()}/assets/${randomUUID()}/source`)).not.toThrow();
    expect(() => assertValidKey("a/.hidden/x_y-z.mp4")).not.toThrow();
    expect(() => assertValidKey("x".repeat(512))).not.toThrow();
    for (const key of INVALID_KEYS) {
      let err: unknown;
      try {
        assertValidKey(key);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(key)).toBeInstanceOf(SpoolError);
      expect((err as SpoolError).code).toBe("INVALID_INPUT");
    }
  });
});

describe.each([
  { kind: "local" as const, make: localEnv },
  { kind: "s3" as const, make: s3Env },
])("$kind storage", ({ kind, make }) => {
  let env: Env;
  let storage: Storage;
  // Every test writes under its own prefix, so none sees another's objects.
  const ns = () => `t/${randomUUID()}`;

  beforeAll(async () => {
    env = await make();
    storage = env.storage;
  });
  afterAll(async () => {
    await env?.close();
  });

  it("is the requested kind", () => {
    expect(storage.kind).toBe(kind);
  });

  it("round-trips a few MB streamed in (multipart on S3) and reports its size and time", async () => {
    const key = `${ns()}/big.bin`;
    const size = 7 * MB + 12345;
    const src = generated(size);
    const before = Date.now();
    expect(await storage.put(key, src.stream, { contentType: "application/octet-stream" })).toEqual({ size });
    const got = await bytesOf(await storage.get(key));
    expect(got.length).toBe(size);
    expect(sha256(got)).toBe(src.sha256());
    const info = await storage.stat(key);
    expect(info).toMatchObject({ key, size });
    // Backends keep whole seconds; allow for that and for clock jitter.
    expect(Math.abs(info!.modifiedAt.getTime() - before)).toBeLessThan(60_000);
    expect(await env.openUploads()).toEqual([]);
    expect(await env.strayTemps()).toEqual([]);
  });

  it("stores small and empty objects", async () => {
    const key = `${ns()}/small`;
    expect(await putBuffer(storage, key, Buffer.from("hello"))).toEqual({ size: 5 });
    expect((await bytesOf(await storage.get(key))).toString()).toBe("hello");
    const empty = `${ns()}/empty`;
    expect(await storage.put(empty, Readable.from([]))).toEqual({ size: 0 });
    expect(await storage.stat(empty)).toMatchObject({ size: 0 });
    expect((await bytesOf(await storage.get(empty))).length).toBe(0);
  });

  it("reads inclusive byte ranges", async () => {
    const key = `${ns()}/ranges`;
    const data = randomBytes(300_000);
    await putBuffer(storage, key, data);
    expect(await bytesOf(await storage.get(key, { start: 0, end: 9 }))).toEqual(data.subarray(0, 10));
    expect(await bytesOf(await storage.get(key, { start: 100_000, end: 199_999 }))).toEqual(data.subarray(100_000, 200_000));
    expect(await bytesOf(await storage.get(key, { start: 299_900 }))).toEqual(data.subarray(299_900));
    expect(await bytesOf(await storage.get(key, { start: 299_999, end: 299_999 }))).toEqual(data.subarray(299_999));
    // An end past the last byte reads to the end, as HTTP ranges do.
    expect(await bytesOf(await storage.get(key, { start: 299_000, end: 10_000_000 }))).toEqual(data.subarray(299_000));
    await expectCode(storage.get(key, { start: 300_000 }), "INVALID_INPUT");
    await expectCode(storage.get(key, { start: 10, end: 5 }), "INVALID_INPUT");
    await expectCode(storage.get(key, { start: -1 }), "INVALID_INPUT");
    await expectCode(storage.get(key, { start: 1.5 }), "INVALID_INPUT");
  });

  it("answers NOT_FOUND / null for a missing object", async () => {
    const key = `${ns()}/missing`;
    const err = await expectCode(storage.get(key), "NOT_FOUND");
    expect(err.message).toContain(key);
    await expectCode(storage.get(key, { start: 0, end: 1 }), "NOT_FOUND");
    expect(await storage.stat(key)).toBeNull();
    await expectCode(storage.withLocalFile(key, async () => "never"), "NOT_FOUND");
  });

  it("deletes idempotently, leaving no empty folders behind", async () => {
    const dir = ns();
    const key = `${dir}/deep/er/obj`;
    await putBuffer(storage, key, Buffer.from("bye"));
    await storage.delete(key);
    expect(await storage.stat(key)).toBeNull();
    await expectCode(storage.get(key), "NOT_FOUND");
    await storage.delete(key);
    await storage.delete(`${ns()}/never/existed`);
    expect(await listKeys(storage, `${dir}/`)).toEqual([]);
    if (storage.localPath) expect(existsSync(storage.localPath(dir))).toBe(false);
  });

  it("lists by string prefix, in key order, with sizes", async () => {
    const dir = ns();
    const keys = [`${dir}/a/1`, `${dir}/a/2`, `${dir}/ab/1`, `${dir}/b/1`, `${dir}/b/c/d`];
    for (const [i, key] of keys.entries()) await putBuffer(storage, key, Buffer.alloc(i + 1, 1));
    expect(await listKeys(storage, `${dir}/a/`)).toEqual([`${dir}/a/1`, `${dir}/a/2`]);
    expect(await listKeys(storage, `${dir}/a`)).toEqual([`${dir}/a/1`, `${dir}/a/2`, `${dir}/ab/1`]);
    expect(await listKeys(storage, `${dir}/b/c/d`)).toEqual([`${dir}/b/c/d`]);
    expect(await listKeys(storage, `${dir}/zzz/`)).toEqual([]);
    const all: { key: string; size: number; modifiedAt: Date }[] = [];
    for await (const o of storage.list(`${dir}/`)) all.push(o);
    expect(all.map((o) => [o.key, o.size])).toEqual(keys.map((k, i) => [k, i + 1]));
    expect(all.every((o) => o.modifiedAt instanceof Date && !Number.isNaN(o.modifiedAt.getTime()))).toBe(true);
    // The whole store includes them too.
    const everything = await listKeys(storage, "");
    expect(everything).toEqual(expect.arrayContaining(keys));
    await expectCode(listKeys(storage, "../"), "INVALID_INPUT");
  });

  it("lists past one page (S3 pages hold 1000 keys)", async () => {
    const dir = ns();
    const keys = Array.from({ length: 1003 }, (_, i) => `${dir}/k${String(i).padStart(4, "0")}`);
    for (let i = 0; i < keys.length; i += 25) {
      await Promise.all(keys.slice(i, i + 25).map((k) => putBuffer(storage, k, Buffer.from("x"))));
    }
    expect(await listKeys(storage, `${dir}/`)).toEqual(keys);
  });

  it("replaces an existing object", async () => {
    const key = `${ns()}/over`;
    await storage.put(key, generated(6 * MB).stream);
    await putBuffer(storage, key, Buffer.from("second"));
    expect((await bytesOf(await storage.get(key))).toString()).toBe("second");
    expect(await storage.stat(key)).toMatchObject({ size: 6 });
    expect(await env.strayTemps()).toEqual([]);
  });

  it.each([
    { label: "before the first part (single PutObject on S3)", limit: 1 * MB },
    { label: "after the first part (multipart on S3)", limit: 7 * MB },
  ])("put whose input fails $label rethrows that very error and stores nothing", async ({ limit }) => {
    const key = `${ns()}/fails`;
    const tooLarge = new SpoolError("VIDEO_TOO_LARGE", "over the limit");
    const body = limited(generated(20 * MB).stream, limit, tooLarge);
    const abortsBefore = env.s3?.abortRequests.length ?? 0;
    const createdBefore = env.s3?.created.size ?? 0;
    await expect(storage.put(key, body)).rejects.toBe(tooLarge);
    expect(await storage.stat(key)).toBeNull();
    expect(await env.strayTemps()).toEqual([]);
    expect(await env.openUploads()).toEqual([]);
    if (env.s3) {
      const multipart = limit > 5 * MB ? 1 : 0;
      expect(env.s3.created.size - createdBefore).toBe(multipart);
      expect(env.s3.abortRequests.length - abortsBefore).toBe(multipart);
    }
  });

  it("a failed overwrite keeps the previous object whole", async () => {
    const key = `${ns()}/keep`;
    await putBuffer(storage, key, Buffer.from("original"));
    const boom = new Error("client went away");
    await expect(storage.put(key, limited(generated(8 * MB).stream, 6 * MB, boom))).rejects.toBe(boom);
    expect((await bytesOf(await storage.get(key))).toString()).toBe("original");
    expect(await env.strayTemps()).toEqual([]);
    expect(await env.openUploads()).toEqual([]);
  });

  it.each([
    { label: "early (single PutObject on S3)", after: 1 * MB },
    { label: "mid-multipart", after: 6 * MB },
  ])("put aborted by its signal $label rejects with the reason and stores nothing", async ({ after }) => {
    const key = `${ns()}/aborted`;
    const controller = new AbortController();
    const reason = new SpoolError("ABORTED", "job cancelled");
    const body = endless((n) => {
      if (n >= after && !controller.signal.aborted) controller.abort(reason);
    });
    const abortsBefore = env.s3?.abortRequests.length ?? 0;
    const createdBefore = env.s3?.created.size ?? 0;
    await expect(storage.put(key, body, { signal: controller.signal })).rejects.toBe(reason);
    expect(body.destroyed).toBe(true);
    expect(await storage.stat(key)).toBeNull();
    expect(await env.strayTemps()).toEqual([]);
    expect(await env.openUploads()).toEqual([]);
    if (env.s3) {
      const multipart = after > 5 * MB ? 1 : 0;
      expect(env.s3.created.size - createdBefore).toBe(multipart);
      expect(env.s3.abortRequests.length - abortsBefore).toBe(multipart);
    }
  });

  it("put with an already aborted signal rejects at once and releases the body", async () => {
    const key = `${ns()}/pre-aborted`;
    const reason = new Error("too late");
    const body = generated(MB).stream;
    await expect(storage.put(key, body, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(body.destroyed).toBe(true);
    expect(await storage.stat(key)).toBeNull();
  });

  it("withLocalFile hands fn a readable path (a temp copy on S3, removed afterwards)", async () => {
    const key = `${ns()}/clip.mp4`;
    const data = randomBytes(2 * MB);
    await putBuffer(storage, key, data);
    let seen = "";
    const result = await storage.withLocalFile(key, async (file) => {
      seen = file;
      expect(sha256(await readFile(file))).toBe(sha256(data));
      return 42;
    });
    expect(result).toBe(42);
    if (kind === "s3") {
      expect(seen.startsWith(os.tmpdir() + path.sep)).toBe(true);
      expect(path.basename(seen)).toBe("clip.mp4");
      expect(existsSync(seen)).toBe(false);
      expect(existsSync(path.dirname(seen))).toBe(false);
    } else {
      expect(seen).toBe(storage.localPath!(key));
      expect(existsSync(seen)).toBe(true);
    }
  });

  it("withLocalFile cleans up and rethrows when fn throws", async () => {
    const key = `${ns()}/x.wav`;
    await putBuffer(storage, key, Buffer.from("RIFF"));
    const failure = new Error("ffmpeg exited with 1");
    let seen = "";
    await expect(
      storage.withLocalFile(key, async (file) => {
        seen = file;
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(seen).not.toBe("");
    expect(existsSync(seen)).toBe(kind === "local");
    const reason = new Error("cancelled");
    await expect(storage.withLocalFile(key, async () => 1, AbortSignal.abort(reason))).rejects.toBe(reason);
  });

  it("putFile uploads a local file; a missing source is the caller's error", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "spool-putfile-"));
    try {
      const file = path.join(dir, "out.mp4");
      const data = randomBytes(6 * MB + 7);
      await writeFile(file, data);
      const key = `${ns()}/out.mp4`;
      expect(await storage.putFile(key, file, { contentType: "video/mp4" })).toEqual({ size: data.length });
      expect(sha256(await bytesOf(await storage.get(key)))).toBe(sha256(data));
      // The source is the caller's and stays.
      expect(existsSync(file)).toBe(true);
      const missing = `${ns()}/missing`;
      await expect(storage.putFile(missing, path.join(dir, "nope"))).rejects.toMatchObject({ code: "ENOENT" });
      expect(await storage.stat(missing)).toBeNull();
      const reason = new Error("stop");
      await expect(storage.putFile(missing, file, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
      expect(await storage.stat(missing)).toBeNull();
      expect(await env.strayTemps()).toEqual([]);
      expect(await env.openUploads()).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses invalid keys in every operation", async () => {
    for (const key of INVALID_KEYS) {
      const body = Readable.from([Buffer.from("x")]);
      await expectCode(storage.put(key, body), "INVALID_INPUT");
      expect(body.destroyed).toBe(true);
      await expectCode(storage.get(key), "INVALID_INPUT");
      await expectCode(storage.stat(key), "INVALID_INPUT");
      await expectCode(storage.delete(key), "INVALID_INPUT");
      await expectCode(storage.presignGet(key, { expiresIn: 60 }), "INVALID_INPUT");
      await expectCode(storage.withLocalFile(key, async () => 1), "INVALID_INPUT");
      await expectCode(storage.putFile(key, "/etc/hostname"), "INVALID_INPUT");
    }
    if (env.root) expect(existsSync(path.join(env.root, "..", "x"))).toBe(false);
  });

  it("reports a failing backend as STORAGE_FAILED naming backend and operation, without secrets", async () => {
    const broken = env.broken();
    const body = generated(MB).stream;
    const err = await expectCode(broken.put("a/b", body), "STORAGE_FAILED");
    expect(err.message).toMatch(new RegExp(`^${kind} storage: put of a/b failed`));
    expect(body.destroyed).toBe(true);
    expect(err.details).toEqual({ backend: kind, operation: "put" });
    await expectCode(listKeys(broken, ""), "STORAGE_FAILED");
    if (kind === "s3") {
      // A missing bucket is the backend's failure, not a missing object.
      await expectCode(broken.get("a/b"), "STORAGE_FAILED");
      await expectCode(broken.delete("a/b"), "STORAGE_FAILED");
    }
  });

  it("survives puts racing deletes that prune the same folders", async () => {
    const dir = ns();
    // allSettled: no operation may outlive the test (and recreate folders during cleanup).
    const results = await Promise.allSettled(
      Array.from({ length: 60 }, async (_, i) => {
        await putBuffer(storage, `${dir}/f/${i}`, Buffer.from(String(i)));
        await storage.delete(`${dir}/f/${i}`);
        await putBuffer(storage, `${dir}/f/${i}-again`, Buffer.from(String(i)));
      }),
    );
    expect(results.filter((r) => r.status === "rejected")).toEqual([]);
    expect((await listKeys(storage, `${dir}/`)).length).toBe(60);
  });

  if (kind === "local") {
    it("presignGet is null: Spool serves local files itself", async () => {
      expect(await storage.presignGet(`${ns()}/x`, { expiresIn: 60, filename: "x.mp4" })).toBeNull();
    });
  } else {
    it("presignGet gives a URL that serves the bytes with the requested disposition and type", async () => {
      const key = `${ns()}/report.pdf`;
      const data = randomBytes(100_000);
      await putBuffer(storage, key, data);
      const url = await storage.presignGet(key, { expiresIn: 300, filename: "Résumé \"final\" (1).pdf", contentType: "application/pdf" });
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);
      expect(new URL(url!).searchParams.get("X-Amz-Expires")).toBe("300");
      const res = await fetch(url!);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("application/pdf");
      expect(res.headers.get("content-disposition")).toBe(
        `attachment; filename="R_sum_ _final_ (1).pdf"; filename*=UTF-8''R%C3%A9sum%C3%A9%20%22final%22%20%281%29.pdf`,
      );
      expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(sha256(data));

      const inline = await fetch((await storage.presignGet(key, { expiresIn: 60, inline: true, filename: "plain.pdf" }))!);
      expect(inline.headers.get("content-disposition")).toBe(`inline; filename="plain.pdf"`);
      await inline.arrayBuffer();

      const bare = await fetch((await storage.presignGet(key, { expiresIn: 60 }))!);
      expect(bare.headers.get("content-disposition")).toBe("attachment");
      await bare.arrayBuffer();
    });

    it("presignGet clamps expiresIn to [1, 604800] and the URL expires", async () => {
      const key = `${ns()}/short`;
      await putBuffer(storage, key, Buffer.from("soon gone"));
      const long = await storage.presignGet(key, { expiresIn: 10 ** 9 });
      expect(new URL(long!).searchParams.get("X-Amz-Expires")).toBe("604800");
      expect((await fetch(long!)).status).toBe(200);
      const short = await storage.presignGet(key, { expiresIn: 0 });
      expect(new URL(short!).searchParams.get("X-Amz-Expires")).toBe("1");
      await new Promise((r) => setTimeout(r, 2_100));
      const res = await fetch(short!);
      expect(res.status).toBe(403);
      await res.arrayBuffer();
    });
  }
});

describe("local storage specifics", () => {
  let env: Env;
  beforeAll(async () => {
    env = await localEnv();
  });
  afterAll(async () => {
    await env?.close();
  });

  it("creates its root with mode 0700 and keeps every path inside it", async () => {
    const storage = env.storage;
    expect(existsSync(env.root!)).toBe(false);
    await putBuffer(storage, "a/b", Buffer.from("x"));
    expect((await stat(env.root!)).mode & 0o777).toBe(0o700);
    expect(storage.localPath!("a/b")).toBe(path.join(env.root!, "a", "b"));
    for (const key of INVALID_KEYS) expect(() => storage.localPath!(key)).toThrow(SpoolError);
  });

  it("lists in plain string order and skips .tmp and names no key could have", async () => {
    const storage = env.storage;
    await putBuffer(storage, "o/a/b", Buffer.from("1"));
    await putBuffer(storage, "o/a-c", Buffer.from("2"));
    await putBuffer(storage, "o/a.d", Buffer.from("3"));
    await mkdir(path.join(env.root!, ".tmp"), { recursive: true });
    await writeFile(path.join(env.root!, ".tmp", "stray.part"), "x");
    await writeFile(path.join(env.root!, "o", "not a key"), "x");
    // "-" and "." sort before "/": S3's order, which the folder walk reproduces.
    expect(await listKeys(storage, "o/")).toEqual(["o/a-c", "o/a.d", "o/a/b"]);
    expect(await listKeys(storage, "")).not.toContain(".tmp/stray.part");
    await rm(path.join(env.root!, ".tmp", "stray.part"));
  });

  it("a key below an existing object is missing, and writing it fails cleanly", async () => {
    const storage = env.storage;
    await putBuffer(storage, "f/obj", Buffer.from("1"));
    expect(await storage.stat("f/obj/below")).toBeNull();
    await expectCode(storage.get("f/obj/below"), "NOT_FOUND");
    await storage.delete("f/obj/below");
    await expectCode(putBuffer(storage, "f/obj/below", Buffer.from("2")), "STORAGE_FAILED");
    expect(await env.strayTemps()).toEqual([]);
    // A key that is a folder of other keys is not an object either.
    expect(await storage.stat("f")).toBeNull();
    await expectCode(storage.get("f"), "NOT_FOUND");
    await storage.delete("f");
    expect(await storage.stat("f/obj")).not.toBeNull();
  });
});

describe("s3 storage specifics", () => {
  let env: Env;
  beforeAll(async () => {
    env = await s3Env();
  });
  afterAll(async () => {
    await env?.close();
  });

  const make = (over: Partial<Extract<StorageOptions, { kind: "s3" }>>) =>
    createStorage({ kind: "s3", bucket: BUCKET, region: "us-east-1", endpoint: env.s3!.endpoint, forcePathStyle: true, credentials: S3_CREDENTIALS, ...over });

  it("namespaces every key under the prefix option", async () => {
    const scoped = make({ prefix: "/tenant-1/" });
    try {
      await putBuffer(scoped, "a/b", Buffer.from("scoped"));
      expect(await listKeys(scoped, "")).toEqual(["a/b"]);
      expect(await listKeys(env.storage, "tenant-1/")).toEqual(["tenant-1/a/b"]);
      expect((await bytesOf(await env.storage.get("tenant-1/a/b"))).toString()).toBe("scoped");
      expect(await scoped.stat("a/b")).toMatchObject({ key: "a/b", size: 6 });
      const url = await scoped.presignGet("a/b", { expiresIn: 60 });
      expect(new URL(url!).pathname).toBe(`/${BUCKET}/tenant-1/a/b`);
      await scoped.delete("a/b");
      expect(await env.storage.stat("tenant-1/a/b")).toBeNull();
    } finally {
      await scoped.close();
    }
    expect(() => make({ prefix: "../x" })).toThrow(SpoolError);
  });

  // s3rver checks only that the access key id exists (it does not verify SigV4 signatures),
  // so "wrong credentials" here is an unknown key id.
  it("wrong credentials are STORAGE_FAILED and the secret appears nowhere in the error", async () => {
    const secret = "wrong-secret-0123456789abcdef";
    const bad = make({ credentials: { accessKeyId: "NOT-A-KEY", secretAccessKey: secret } });
    try {
      const err = await expectCode(bad.put("a/b", Readable.from([Buffer.from("x")])), "STORAGE_FAILED");
      expect(err.message).toMatch(/^s3 storage: put of a\/b failed/);
      expect(err.message).not.toContain(secret);
      expect(JSON.stringify(err.details)).not.toContain(secret);
      await expectCode(bad.get("a/b"), "STORAGE_FAILED");
    } finally {
      await bad.close();
    }
  });

  it("still rethrows the input's error when aborting the multipart upload fails too", async () => {
    env.s3!.abortsHonoured = false;
    try {
      const key = "unaborted/x";
      const tooLarge = new SpoolError("VIDEO_TOO_LARGE", "over");
      const before = env.s3!.abortRequests.length;
      await expect(env.storage.put(key, limited(generated(12 * MB).stream, 7 * MB, tooLarge))).rejects.toBe(tooLarge);
      // The abort was sent (s3rver refuses it: it does not implement AbortMultipartUpload).
      expect(env.s3!.abortRequests.length).toBe(before + 1);
      expect(await env.storage.stat(key)).toBeNull();
    } finally {
      env.s3!.abortsHonoured = true;
    }
  });
});
