// A client that goes away while its download is being opened: the stored file's stream must
// be closed by Spool, not left to the garbage collector — Node 26 turns a FileHandle closed
// by GC into an uncaught exception, which ended the whole server (seen with hls.js in
// Chromium cancelling segment requests). The storage is the real local one; it only waits,
// before opening the file, until the client's socket is gone.
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { mkdtempSync } from "node:fs";
import type { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStorage } from "../../src/tools/storage/create-storage.ts";
import type { Storage } from "../../src/tools/storage/storage.ts";
import { createTestApi, type Api } from "../graphql/api-helpers.ts";
import { createTestDatabase, waitFor, type TestDb } from "../helpers.ts";
import { mp4 } from "./fixtures.ts";

let db: TestDb;
let api: Api;
let base: string;
let gate: Promise<void> | null = null;
const opened: Readable[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  const inner = createStorage({ kind: "local", root: path.join(mkdtempSync(path.join(os.tmpdir(), "spool-dl-")), "files") });
  const storage: Storage = Object.assign(Object.create(inner) as Storage, {
    async get(key: string, range?: { start: number; end?: number }) {
      if (gate) await gate;
      const body = await inner.get(key, range);
      opened.push(body);
      return body;
    },
  });
  api = await createTestApi(db, { storage });
  base = (await api.listen()).http.replace(/\/graphql$/, "");
});
afterAll(async () => {
  await api?.close();
  await db?.drop();
});

describe("a download whose client is gone before the file is opened", () => {
  it("closes the stored file's stream, and the server goes on serving", async () => {
    const { key } = await api.tenant();
    const bytes = mp4(200_000);
    const r = await api.gqlUpload(`mutation($input: UploadAssetInput!) { uploadAsset(input: $input) { asset { url(expiresIn: 600) } } }`,
      { input: { file: null } }, { "input.file": { bytes, name: "clip.mp4" } }, key);
    const url = new URL(r.data.uploadAsset.asset.url);
    const target = new URL(`${url.pathname}${url.search}`, base);

    // The request is sent, then the socket closed, and only then may the storage open the file.
    let release!: () => void;
    gate = new Promise((r) => { release = r; });
    const socket = net.connect(Number(target.port), target.hostname);
    await new Promise((r) => socket.once("connect", r));
    socket.write(`GET ${target.pathname}${target.search} HTTP/1.1\r\nhost: ${target.host}\r\n\r\n`);
    await new Promise((r) => setTimeout(r, 100));
    socket.destroy();
    await new Promise((r) => setTimeout(r, 100));
    release();

    await waitFor(async () => opened.length === 1, "the storage to open the file");
    await waitFor(async () => opened[0]!.destroyed, "the unread stream to be closed");
    gate = null;
    const again = await fetch(target);
    expect(again.status).toBe(200);
    expect(Buffer.from(await again.arrayBuffer()).equals(bytes)).toBe(true);
  });
});
