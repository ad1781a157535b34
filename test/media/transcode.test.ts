// video.transcode through the typed transcodeVideo mutation, against both ffmpeg builds:
// real uploads, a real engine, outputs checked with ffprobe and downloaded through their
// signed URLs; refusals at submit, undecodable sources, cancellation mid-encode, and a
// re-run that replaces what the first run stored.
import { execFile, execFileSync } from "node:child_process";
import { readdir, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../src/engine/engine.ts";
import { PgListener } from "../../src/pubsub/pg-listener.ts";
import { Ffmpeg } from "../../src/tools/ffmpeg/ffmpeg.ts";
import type { Api } from "../graphql/api-helpers.ts";
import { createTestDatabase, log, waitFor, type TestDb } from "../helpers.ts";
import { startMediaEnv, type MediaEnv } from "./harness.ts";
import { binaries, makeAudio, makeVideo, withoutIndex } from "./fixtures.ts";

const CREATE_VIDEO = `mutation($input: CreateVideoInput!) { createVideo(input: $input) { video { id status } } }`;
const TRANSCODE = `mutation($input: TranscodeVideoInput!) { transcodeVideo(input: $input) { job { id status type } video { id } } }`;
const JOB = `query($id: ID!) { job(id: $id) {
  id status attempts progress stage result error { code message }
  events(first: 100) { edges { node { kind status stage progress fps speed message } } }
} }`;
const RENDITIONS = `query($id: ID!) { video(id: $id) { renditions { id role kind filename contentType size url label media { durationSeconds video { width height codec } } } } }`;

type Event = { kind: string; status: string | null; stage: string | null; progress: number | null; fps: number | null; speed: number | null; message: string | null };

type JobView = { id: string; status: string; attempts: number; result: any; error: { code: string; message: string } | null; events: Event[] };

const rawId = (globalId: string) => Buffer.from(globalId, "base64").toString().split(":")[1]!;

let db: TestDb;
let listener: PgListener;

beforeAll(async () => {
  db = await createTestDatabase();
  listener = new PgListener(db.url, log);
  await listener.start();
});
afterAll(async () => {
  await listener?.stop();
  await db?.drop();
});

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve) => execFile(cmd, args, (_err, stdout) => resolve(String(stdout))));
}

/** Live processes whose command line names this job's work folder (ffmpeg and its watchdog). */
async function workProcesses(jobId: string): Promise<number[]> {
  const out = await run("pgrep", ["-f", `spool-${jobId.slice(0, 8)}-`]);
  return out.split("\n").filter(Boolean).map(Number);
}

async function leftoverDirs(jobId: string): Promise<string[]> {
  return (await readdir(os.tmpdir())).filter((n) => n.startsWith(`spool-${jobId.slice(0, 8)}-`));
}

function hasEncoder(ffmpegPath: string, name: string): boolean {
  return new RegExp(`^\\s*V\\S*\\s+${name}\\s`, "m").test(execFileSync(ffmpegPath, ["-hide_banner", "-encoders"], { encoding: "utf8" }));
}

describe.each(binaries())("video.transcode with the $name ffmpeg", (bin) => {
  const hasX265 = hasEncoder(bin.ffmpeg, "libx265");
  let api: Api;
  let engine: Engine;
  let ffmpeg: Ffmpeg;
  let key: string;
  let base: string;
  let dir: string;

  let env: MediaEnv;
  beforeAll(async () => {
    env = await startMediaEnv(db, bin, { dirPrefix: "transcode-test-", listener });
    ({ ffmpeg, api, base, engine, key, dir } = env);
  });
  afterAll(() => env?.close());

  async function upload(file: string): Promise<string> {
    const r = await api.gqlUpload(CREATE_VIDEO, { input: { file: null } }, { "input.file": { bytes: await readFile(file), name: path.basename(file) } }, key);
    expect(r.errors).toBeUndefined();
    expect(r.data.createVideo.video.status).toBe("READY");
    return r.data.createVideo.video.id;
  }

  async function transcode(input: Record<string, unknown>) {
    const r = await api.gql(TRANSCODE, { input }, key);
    expect(r.errors).toBeUndefined();
    expect(r.data.transcodeVideo.job).toMatchObject({ status: "QUEUED", type: "video.transcode" });
    return r.data.transcodeVideo.job.id as string;
  }

  async function job(id: string): Promise<JobView> {
    const r = await api.gql(JOB, { id }, key);
    expect(r.errors).toBeUndefined();
    const j = r.data.job;
    return { ...j, events: j.events.edges.map((e: { node: Event }) => e.node) as Event[] };
  }

  /** The Video's renditions, with the stored MediaInfo (raw field names) beside GraphQL's view of it. */
  async function renditions(videoId: string): Promise<any[]> {
    const r = await api.gql(RENDITIONS, { id: videoId }, key);
    expect(r.errors).toBeUndefined();
    const list = r.data.video.renditions as any[];
    const { rows } = await db.pool.query(`select id, label, media from assets where id = any($1)`, [list.map((a) => rawId(a.id))]);
    return list.map((a) => {
      const row = rows.find((x) => x.id === rawId(a.id));
      // Asset.label and Asset.media in GraphQL are the stored ones.
      expect(a.label).toBe(row.label);
      expect(a.media).toEqual({ durationSeconds: row.media.durationSec, video: row.media.video && { width: row.media.video.width, height: row.media.video.height, codec: row.media.video.codec } });
      return { ...a, ...row, id: a.id };
    });
  }

  async function download(url: string, name: string): Promise<{ bytes: Buffer; file: string; contentType: string | null }> {
    const u = new URL(url);
    const res = await fetch(`${base}${u.pathname}${u.search}`);
    expect(res.status).toBe(200);
    const bytes = Buffer.from(await res.arrayBuffer());
    const file = path.join(dir, name);
    await writeFile(file, bytes);
    return { bytes, file, contentType: res.headers.get("content-type") };
  }

  function expectStagesAndRates(events: Event[], encodeStage: string) {
    expect(events.filter((e) => e.kind === "STAGE").map((e) => e.stage)).toEqual(["probe", encodeStage, "store"]);
    const progress = events.filter((e) => e.kind === "PROGRESS");
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.some((e) => e.fps !== null || e.speed !== null)).toBe(true);
    expect(events.filter((e) => e.kind === "STATUS").map((e) => e.status)).toEqual(["QUEUED", "RUNNING", "SUCCEEDED"]);
  }

  it("mp4 → mp4 by default (h264/aac, faststart): stages, rates, ffprobe'd output, signed download", async () => {
    const videoId = await upload(await makeVideo(dir, { ffmpeg: bin.ffmpeg, seconds: 2 }));
    const jobId = await transcode({ videoId });
    await engine.drain();
    const j = await job(jobId);
    expect(j.status).toBe("SUCCEEDED");
    expectStagesAndRates(j.events, "encode[240p]");
    const [r, ...more] = await renditions(videoId);
    expect(more).toEqual([]);
    expect(r).toMatchObject({ label: "240p-h264-mp4", role: "RENDITION", kind: "VIDEO", filename: "240p-h264-mp4.mp4", contentType: "video/mp4" });
    expect(r.media.video).toMatchObject({ codec: "h264", width: 320, height: 240, pixFmt: "yuv420p" });
    expect(r.media.audio).toMatchObject({ codec: "aac" });
    expect(Math.abs(r.media.durationSec - 2)).toBeLessThanOrEqual(1 / 25 + 0.001);
    expect(j.result).toMatchObject({ assetId: rawId(r.id), width: 320, height: 240, videoCodec: "h264", audioCodec: "aac", sizeBytes: r.size });
    expect(Math.abs(j.result.durationSec - 2)).toBeLessThanOrEqual(1 / 25 + 0.001);

    const got = await download(r.url, "default.mp4");
    expect(got.bytes.length).toBe(r.size);
    expect(got.contentType).toBe("video/mp4");
    // faststart: the index (moov) comes before the media data.
    expect(got.bytes.indexOf("moov")).toBeLessThan(got.bytes.indexOf("mdat"));
    const probed = await ffmpeg.probe(got.file);
    expect(probed.video).toMatchObject({ codec: "h264", width: 320, height: 240 });
    expect(probed.audio?.codec).toBe("aac");
  });

  it("mp4 → webm defaults to vp9/opus", async () => {
    const videoId = await upload(await makeVideo(dir, { ffmpeg: bin.ffmpeg, seconds: 2 }));
    const jobId = await transcode({ videoId, container: "WEBM", quality: "LOW" });
    await engine.drain();
    const j = await job(jobId);
    expect(j.status).toBe("SUCCEEDED");
    expectStagesAndRates(j.events, "encode[240p]");
    const [r] = await renditions(videoId);
    expect(r).toMatchObject({ label: "240p-vp9-webm", filename: "240p-vp9-webm.webm", contentType: "video/webm" });
    expect(r.media.formatName).toMatch(/webm/);
    expect(r.media.video).toMatchObject({ codec: "vp9", width: 320, height: 240 });
    expect(r.media.audio).toMatchObject({ codec: "opus" });
    expect(Math.abs(r.media.durationSec - 2)).toBeLessThanOrEqual(1 / 25 + 0.001);
    expect(j.result).toMatchObject({ videoCodec: "vp9", audioCodec: "opus" });
  });

  it("every container takes the audio codecs it may hold: opus in mp4, mp3 in mov, vorbis in mkv", async () => {
    const videoId = await upload(await makeVideo(dir, { ffmpeg: bin.ffmpeg, seconds: 2 }));
    const cases = [["MP4", "OPUS", "opus", "240p-h264-mp4"], ["MOV", "MP3", "mp3", "240p-h264-mov"], ["MKV", "VORBIS", "vorbis", "240p-h264-mkv"]] as const;
    const jobs = [];
    for (const [container, audioCodec] of cases) jobs.push(await transcode({ videoId, container, audioCodec, quality: "LOW" }));
    await engine.drain();
    for (const id of jobs) expect((await job(id)).status).toBe("SUCCEEDED");
    const all = await renditions(videoId);
    for (const [, , codec, label] of cases) {
      expect(all.find((r) => r.label === label)?.media.audio.codec).toBe(codec);
    }
  });

  it("av1 (libaom on the npm build, SVT-AV1 where present) in webm", async () => {
    const videoId = await upload(await makeVideo(dir, { ffmpeg: bin.ffmpeg, seconds: 1, width: 160, height: 120 }));
    const jobId = await transcode({ videoId, container: "WEBM", videoCodec: "AV1", quality: "LOW" });
    await engine.drain();
    expect((await job(jobId)).status).toBe("SUCCEEDED");
    const [r] = await renditions(videoId);
    expect(r.label).toBe("120p-av1-webm");
    expect(r.media.video).toMatchObject({ codec: "av1", width: 160, height: 120 });
    expect(r.media.audio.codec).toBe("opus");
  });

  it.skipIf(!hasX265)("mp4 → mov in h265 (skipped only when this ffmpeg lacks libx265)", async () => {
    const videoId = await upload(await makeVideo(dir, { ffmpeg: bin.ffmpeg, seconds: 2 }));
    const jobId = await transcode({ videoId, container: "MOV", videoCodec: "H265", quality: "HIGH", audioBitrateKbps: 96 });
    await engine.drain();
    const j = await job(jobId);
    expect(j.status).toBe("SUCCEEDED");
    const [r] = await renditions(videoId);
    expect(r).toMatchObject({ label: "240p-h265-mov", filename: "240p-h265-mov.mov", contentType: "video/quicktime" });
    expect(r.media.video).toMatchObject({ codec: "hevc", width: 320, height: 240 });
    expect(r.media.audio).toMatchObject({ codec: "aac" });
    const got = await download(r.url, "h265.mov");
    // Tagged hvc1 for Apple players.
    expect(got.bytes.includes("hvc1")).toBe(true);
  });

  it("scales keeping the aspect ratio (one side given), changes fps, and a silent source gets no audio", async () => {
    const videoId = await upload(await makeVideo(dir, { ffmpeg: bin.ffmpeg, seconds: 2, audio: false }));
    const byWidth = await transcode({ videoId, width: 160, fps: 10 });
    await engine.drain();
    const a = await job(byWidth);
    expect(a.status).toBe("SUCCEEDED");
    expect(a.result).toMatchObject({ width: 160, height: 120, audioCodec: null });
    let [r] = await renditions(videoId);
    expect(r.label).toBe("120p-h264-mp4");
    expect(r.media.video).toMatchObject({ width: 160, height: 120, fps: 10 });
    expect(r.media.audio).toBeNull();

    // 100 × 320/240 = 133.3: ffmpeg's -2 rounds to the nearest even width.
    const byHeight = await transcode({ videoId, height: 100, videoBitrateKbps: 150, audioCodec: "NONE" });
    await engine.drain();
    expect((await job(byHeight)).status).toBe("SUCCEEDED");
    const all = await renditions(videoId);
    r = all.find((x) => x.label === "100p-h264-mp4");
    expect(r.media.video).toMatchObject({ width: 134, height: 100 });
    const downloaded = await ffmpeg.probe((await download(r.url, "100p.mp4")).file);
    expect(downloaded.video).toMatchObject({ codec: "h264", width: 134, height: 100 });
  });

  it("an audio-only source fails VIDEO_FORMAT_UNSUPPORTED; an mp4 without its index too, with ffprobe's words in the log", async () => {
    const audioId = await upload(await makeAudio(dir, { ffmpeg: bin.ffmpeg, seconds: 2, format: "m4a" }));
    const a = await transcode({ videoId: audioId });
    const whole = await makeVideo(dir, { ffmpeg: bin.ffmpeg, seconds: 2, name: "to-break.mp4" });
    const brokenId = await upload(await withoutIndex(whole));
    const b = await transcode({ videoId: brokenId });
    await engine.drain();

    const ja = await job(a);
    expect(ja).toMatchObject({ status: "FAILED", error: { code: "VIDEO_FORMAT_UNSUPPORTED" } });
    expect(ja.error?.message).toMatch(/audio/i);
    const jb = await job(b);
    expect(jb).toMatchObject({ status: "FAILED", error: { code: "VIDEO_FORMAT_UNSUPPORTED" } });
    const logs = jb.events.filter((e: Event) => e.kind === "LOG").map((e: Event) => e.message ?? "");
    expect(logs.some((m: string) => /^ff(probe|mpeg): .*(moov atom not found|Invalid data)/.test(m))).toBe(true);
    expect(await renditions(audioId)).toEqual([]);
    expect(await renditions(brokenId)).toEqual([]);
  });

  it("refuses bad inputs at submit with INVALID_INPUT and queues nothing", async () => {
    const videoId = await upload(await makeVideo(dir, { ffmpeg: bin.ffmpeg, seconds: 2 }));
    const count = async () => (await db.pool.query(`select count(*)::int as n from jobs where type = 'video.transcode'`)).rows[0].n as number;
    const before = await count();
    const webmH264 = await api.gql(TRANSCODE, { input: { videoId, container: "WEBM", videoCodec: "H264" } }, key);
    expect(webmH264.errors?.[0]?.extensions?.code).toBe("INVALID_INPUT");
    expect(webmH264.errors?.[0]?.message).toMatch(/webm cannot hold h264/);
    const wide = await api.gql(TRANSCODE, { input: { videoId, width: 100_000 } }, key);
    expect(wide.errors?.[0]?.extensions?.code).toBe("INVALID_INPUT");
    // The typed mutation cannot even express an unknown field; the generic one validates against the same schema.
    const unknown = await api.gql(`mutation($input: JSON!) { submitJob(input: { type: "video.transcode", input: $input }) { job { id } } }`,
      { input: { videoId: rawId(videoId), shell: "rm -rf /" } }, key);
    expect(unknown.errors?.[0]?.extensions?.code).toBe("INVALID_INPUT");
    expect(await count()).toBe(before);
  });

  it("cancelling mid-encode kills ffmpeg within a second and leaves no rendition and no work folder", async () => {
    const videoId = await upload(await makeVideo(dir, { ffmpeg: bin.ffmpeg, seconds: 20, width: 640, height: 480 }));
    // x265 at its best quality and a doubled frame rate: several seconds of work on either build.
    const jobId = await transcode({ videoId, container: "MKV", videoCodec: hasX265 ? "H265" : "H264", quality: "ULTRA", fps: 50 });
    const id = rawId(jobId);
    const running = engine.runOnce();
    await waitFor(async () => (await db.pool.query(`select progress from jobs where id = $1`, [id])).rows[0].progress > 0, "the encode to report progress");
    expect((await workProcesses(id)).length).toBeGreaterThan(0);

    const t0 = Date.now();
    const c = await api.gql(`mutation($id: ID!) { cancelJob(input: { id: $id }) { job { status } } }`, { id: jobId }, key);
    expect(c.data.cancelJob.job.status).toBe("CANCELLED");
    await waitFor(async () => (await workProcesses(id)).length === 0, "ffmpeg to be gone", 3_000, 20);
    const killedMs = Date.now() - t0;
    await running;
    const stoppedMs = Date.now() - t0;
    expect(killedMs).toBeLessThan(1_000);
    expect(stoppedMs).toBeLessThan(1_500);

    const j = await job(jobId);
    expect(j).toMatchObject({ status: "CANCELLED", result: null });
    expect(await renditions(videoId)).toEqual([]);
    expect((await db.pool.query(`select count(*)::int as n from assets where job_id = $1`, [id])).rows[0].n).toBe(0);
    expect(await leftoverDirs(id)).toEqual([]);
  });

  it("a re-run of the same job (its worker lost after storing) replaces the rendition instead of adding one", async () => {
    const videoId = await upload(await makeVideo(dir, { ffmpeg: bin.ffmpeg, seconds: 2 }));
    const jobId = await transcode({ videoId, width: 160 });
    const id = rawId(jobId);
    await engine.drain();
    const [first] = await renditions(videoId);
    expect(first.label).toBe("120p-h264-mp4");
    expect((await download(first.url, "first.mp4")).bytes.length).toBe(first.size);

    // As if the worker had died after storing but before completing: the lease expires and
    // the sweeper gives the job to another attempt.
    await db.pool.query(`update jobs set status = 'RUNNING', lease_expires_at = now() - interval '1 second', finished_at = null where id = $1`, [id]);
    await engine.drain();
    const j = await job(jobId);
    expect(j).toMatchObject({ status: "SUCCEEDED", attempts: 2 });
    const after = await renditions(videoId);
    expect(after).toHaveLength(1);
    expect(after[0].id).not.toBe(first.id);
    expect(after[0].label).toBe("120p-h264-mp4");
    expect(j.result.assetId).toBe(rawId(after[0].id));
    // The first attempt's file went with its row.
    const u = new URL(first.url);
    expect((await fetch(`${base}${u.pathname}${u.search}`)).status).toBe(404);
    expect(await leftoverDirs(id)).toEqual([]);
  });
});
