// Files that pretend to be media: playlists and concat lists are refused at ingest (they are
// text), and one that gets past the type check with a real MP4 header is still opened only
// by the MP4 demuxer — ffmpeg never reads /etc/passwd or fetches a loopback URL for it.
// The server keeps working after every refusal.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../src/engine/engine.ts";
import { Ffmpeg } from "../../src/tools/ffmpeg/ffmpeg.ts";
import { createTestApi, type Api } from "../graphql/api-helpers.ts";
import { createTestDatabase, log, type TestDb } from "../helpers.ts";
import { binaries, makeAudio, makeVideo, withoutIndex } from "./fixtures.ts";

let db: TestDb;
let listener: http.Server;
let connections = 0;
let port: number;
const dir = mkdtempSync(path.join(os.tmpdir(), "spool-bad-"));

beforeAll(async () => {
  db = await createTestDatabase();
  listener = http.createServer((_q, r) => r.end("#EXTM3U\n"));
  listener.on("connection", () => connections++);
  await new Promise<void>((r) => listener.listen(0, "127.0.0.1", r));
  port = (listener.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise((r) => listener?.close(r));
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
});

describe.each(binaries())("media that is not what it claims ($name ffmpeg)", (bin) => {
  let api: Api;
  let engine: Engine;
  let key: string;
  beforeAll(async () => {
    const ffmpeg = await Ffmpeg.resolve({ ffmpegPath: bin.ffmpeg, ffprobePath: bin.ffprobe });
    api = await createTestApi(db, { ffmpeg });
    engine = new Engine({ pool: db.pool, registry: api.registry, log, concurrency: 1 });
    key = (await api.tenant()).key;
  });
  afterAll(async () => {
    await api?.close();
  });

  const upload = (bytes: Buffer, name: string) =>
    api.gqlUpload(`mutation($input: CreateVideoInput!) { createVideo(input: $input) { video { id } } }`, { input: { file: null } }, { "input.file": { bytes, name } }, key);

  it("refuses HLS playlists and concat lists at ingest, whatever their name", async () => {
    const playlist = Buffer.from(`#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXTINF:10,\nhttp://127.0.0.1:${port}/x.ts\n#EXT-X-ENDLIST\n`);
    const concat = Buffer.from(`ffconcat version 1.0\nfile '/etc/passwd'\nfile 'http://127.0.0.1:${port}/a.mp4'\n`);
    for (const [bytes, name] of [[playlist, "movie.mp4"], [playlist, "index.m3u8"], [concat, "list.mp4"]] as const) {
      const r = await upload(bytes, name);
      expect({ name, code: r.errors?.[0]?.extensions?.code }).toEqual({ name, code: "VIDEO_FORMAT_UNSUPPORTED" });
    }
    expect(connections).toBe(0);
  });

  it("an MP4 header in front of a playlist is opened as MP4 only: the job fails cleanly, nothing is read or fetched", async () => {
    const ftyp = Buffer.from("0000001c6674797069736f6d0000020069736f6d69736f326d703431", "hex");
    const body = Buffer.from(`\n#EXTM3U\n#EXTINF:10,\nfile:///etc/passwd\n#EXTINF:10,\nhttp://127.0.0.1:${port}/x.ts\n#EXT-X-ENDLIST\n`.repeat(20));
    // In an mdat box of the right size, so that the upload's length check lets it in.
    const mdat = Buffer.alloc(8);
    mdat.writeUInt32BE(8 + body.length);
    mdat.write("mdat", 4);
    const r = await upload(Buffer.concat([ftyp, mdat, body]), "disguised.mp4");
    expect(r.errors).toBeUndefined();
    const videoId = r.data.createVideo.video.id;
    const sub = await api.gql(`mutation($id: ID!) { transcodeVideo(input: { videoId: $id }) { job { id } } }`, { id: videoId }, key);
    expect(sub.errors).toBeUndefined();
    await engine.drain();
    const job = await api.gql(`query($id: ID!) { job(id: $id) { status error { code } events(first: 100) { edges { node { kind message } } } } }`, { id: sub.data.transcodeVideo.job.id }, key);
    expect(job.data.job.status).toBe("FAILED");
    expect(job.data.job.error.code).toBe("VIDEO_FORMAT_UNSUPPORTED");
    expect(connections).toBe(0);
    // Nothing of /etc/passwd travelled into the job's log.
    const passwd = readFileSync("/etc/passwd", "utf8").split("\n")[0]!;
    const logs = job.data.job.events.edges.map((e: any) => e.node.message ?? "").join("\n");
    expect(logs).not.toContain(passwd);
  });

  it("an mp4 without its index fails with VIDEO_FORMAT_UNSUPPORTED and ffmpeg's words in the log; the next job still runs", async () => {
    const good = await makeVideo(dir, { seconds: 2, name: `ok-${bin.name}`, ffmpeg: bin.ffmpeg });
    const bytes = readFileSync(good);
    const cut = await upload(readFileSync(await withoutIndex(good)), "no-index.mp4");
    const ok = await upload(bytes, "ok.mp4");
    const jobs = [];
    for (const v of [cut, ok]) {
      const s = await api.gql(`mutation($id: ID!) { analyzeVideo(input: { videoId: $id }) { job { id } } }`, { id: v.data.createVideo.video.id }, key);
      jobs.push(s.data.analyzeVideo.job.id);
    }
    await engine.drain();
    const [bad, fine] = await Promise.all(jobs.map(async (id) => (await api.gql(`query($id: ID!) { job(id: $id) { status error { code } events(first: 100) { edges { node { kind message } } } } }`, { id }, key)).data.job));
    expect(bad.status).toBe("FAILED");
    expect(bad.error.code).toBe("VIDEO_FORMAT_UNSUPPORTED");
    expect(bad.events.edges.some((e: any) => e.node.kind === "LOG" && /ffmpeg|ffprobe|moov|Invalid/i.test(e.node.message ?? ""))).toBe(true);
    expect(fine.status).toBe("SUCCEEDED");
  });

  const sourceFiles = async () => (await db.pool.query(`select count(*)::int as n from assets where role = 'SOURCE' or (video_id is null and document_id is null)`)).rows[0].n;

  it("refuses a truncated upload whose container states its length: a WebM cut at 100 kB of 44.6 s, an mp4 cut before or after its index", async () => {
    const webm = readFileSync(await makeVideo(dir, { ffmpeg: bin.ffmpeg, container: "webm", seconds: 44.6, width: 160, height: 120, name: `long-${bin.name}.webm` }));
    const mp4Path = await makeVideo(dir, { ffmpeg: bin.ffmpeg, seconds: 4, name: `cut-${bin.name}.mp4` });
    const mp4 = readFileSync(mp4Path);
    const faststartPath = path.join(dir, `faststart-${bin.name}.mp4`);
    execFileSync(bin.ffmpeg, ["-nostdin", "-loglevel", "error", "-y", "-i", mp4Path, "-c", "copy", "-movflags", "+faststart", faststartPath]);
    const faststart = readFileSync(faststartPath);
    const before = await sourceFiles();
    const cuts = [
      ["cut.webm", webm.subarray(0, 100_000)],
      ["index-last.mp4", mp4.subarray(0, Math.floor(mp4.length / 2))],
      ["index-first.mp4", faststart.subarray(0, Math.floor(faststart.length / 2))],
    ] as const;
    for (const [name, bytes] of cuts) {
      const r = await upload(bytes, name);
      expect({ name, code: r.errors?.[0]?.extensions?.code }).toEqual({ name, code: "VIDEO_FORMAT_UNSUPPORTED" });
      expect(r.errors?.[0]?.message).toMatch(/truncated: .* declares \d+ bytes, \d+ arrived/);
    }
    expect(await sourceFiles()).toBe(before);
    // The whole files go in.
    expect((await upload(webm, "whole.webm")).errors).toBeUndefined();
  });

  it("fails the job of a truncated file whose container states only its duration (an mp3 with a Xing header): VIDEO_FORMAT_UNSUPPORTED, nothing kept", async () => {
    const mp3 = readFileSync(await makeAudio(dir, { ffmpeg: bin.ffmpeg, seconds: 30, format: "mp3", name: `long-${bin.name}.mp3` }));
    const r = await upload(mp3.subarray(0, 60_000), "cut.mp3");
    expect(r.errors).toBeUndefined();
    const videoId = r.data.createVideo.video.id;
    const ids = [];
    for (const m of [`analyzeVideo(input: { videoId: $id })`, `transcodeAudio(input: { videoId: $id, format: OPUS })`]) {
      const s = await api.gql(`mutation($id: ID!) { ${m} { job { id } } }`, { id: videoId }, key);
      expect(s.errors).toBeUndefined();
      ids.push(Object.values(s.data as Record<string, { job: { id: string } }>)[0]!.job.id);
    }
    await engine.drain();
    for (const id of ids) {
      const j = (await api.gql(`query($id: ID!) { job(id: $id) { status error { code message } } }`, { id }, key)).data.job;
      expect(j).toMatchObject({ status: "FAILED", error: { code: "VIDEO_FORMAT_UNSUPPORTED" } });
      expect(j.error.message).toMatch(/truncated: its container says it lasts 30\.\d+ s, its data ends at \d+\.\d+ s/);
    }
    const v = await api.gql(`query($id: ID!) { video(id: $id) { mediaInfo { durationSeconds } audioTracks { id } } }`, { id: videoId }, key);
    expect(v.data.video).toEqual({ mediaInfo: null, audioTracks: [] });
  });
});
