// video.analyze (analyzeVideo) and video.watermark (watermarkVideo) against both ffmpeg
// builds: scenes of a video with cuts at known seconds, loudness of a sine of known level,
// the results read back through the Video; watermarks checked by decoding frames of the
// output and the source (the chosen corner changes, the opposite one does not) and by
// the argv of every ffmpeg run (the user's text is never in it).
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../src/engine/engine.ts";
import { idOf } from "../../src/graphql/ids.ts";
import { buildFfmpegArgs } from "../../src/tools/ffmpeg/argv.ts";
import { Ffmpeg } from "../../src/tools/ffmpeg/ffmpeg.ts";
import type { Api } from "../graphql/api-helpers.ts";
import { createTestDatabase, type TestDb } from "../helpers.ts";
import { startMediaEnv, type MediaEnv } from "./harness.ts";
import { binaries, makeAudio, makeImage, makeSceneVideo, makeVideo, withoutIndex } from "./fixtures.ts";

let db: TestDb;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

const CREATE_VIDEO = `mutation($input: CreateVideoInput!) { createVideo(input: $input) { video { id } } }`;
const UPLOAD_ASSET = `mutation($input: UploadAssetInput!) { uploadAsset(input: $input) { asset { id kind } } }`;
const ANALYZE = `mutation($input: AnalyzeVideoInput!) { analyzeVideo(input: $input) { job { id } } }`;
const WATERMARK = `mutation($input: WatermarkVideoInput!) { watermarkVideo(input: $input) { job { id } } }`;
const JOB = `query($id: ID!) { job(id: $id) { status result error { code message } events(first: 100) { edges { node { kind message stage } } } } }`;
const VIDEO = `query($id: ID!) { video(id: $id) {
  mediaInfo { formatName durationSeconds video { codec width height } audio { codec channels } }
  scenes { timeSeconds score } loudness { integratedLufs truePeakDbtp rangeLu }
  renditions { id kind contentType filename role url }
} }`;

/** The sine of the fixtures: 440 Hz at 1/8 full scale, made stereo at -3 dB a channel. */
const SINE = { integratedLufs: -21.8, truePeakDbtp: -21.1 };
const never = new AbortController().signal;

describe.each(binaries())("video.analyze and video.watermark with the $name ffmpeg", (bin) => {
  let ffmpeg: Ffmpeg;
  let api: Api;
  let engine: Engine;
  let key: string;
  let base: string;
  let dir: string;
  const runs: string[][] = [];

  let env: MediaEnv;
  beforeAll(async () => {
    env = await startMediaEnv(db, bin, { dirPrefix: "spool-analyze-test-" });
    ({ ffmpeg, api, engine, key, base, dir } = env);
    // The processors hold this same adapter, so wrapping its run() sees every job's argv.
    const run = ffmpeg.run.bind(ffmpeg);
    ffmpeg.run = (spec, opts) => {
      runs.push(buildFfmpegArgs(spec));
      return run(spec, opts);
    };
  });
  afterAll(() => env?.close());

  const local = (u: string) => {
    const url = new URL(u);
    return `${base}${url.pathname}${url.search}`;
  };

  async function upload(file: string, as = key): Promise<string> {
    const r = await api.gqlUpload(CREATE_VIDEO, { input: { file: null } }, { "input.file": { bytes: await readFile(file), name: path.basename(file) } }, as);
    expect(r.errors).toBeUndefined();
    return r.data.createVideo.video.id;
  }

  async function uploadAsset(bytes: Buffer, name: string, as = key): Promise<string> {
    const r = await api.gqlUpload(UPLOAD_ASSET, { input: { file: null } }, { "input.file": { bytes, name } }, as);
    expect(r.errors).toBeUndefined();
    return r.data.uploadAsset.asset.id;
  }

  async function submit(query: string, input: Record<string, unknown>): Promise<string> {
    const r = await api.gql(query, { input }, key);
    expect(r.errors).toBeUndefined();
    return (Object.values(r.data)[0] as { job: { id: string } }).job.id;
  }

  async function job(id: string) {
    const r = await api.gql(JOB, { id }, key);
    expect(r.errors).toBeUndefined();
    const j = r.data.job;
    const events = j.events.edges.map((e: { node: { kind: string; message: string | null; stage: string | null } }) => e.node);
    return { ...j, stages: events.filter((e: { kind: string }) => e.kind === "STAGE").map((e: { stage: string }) => e.stage), logs: events.filter((e: { kind: string }) => e.kind === "LOG").map((e: { message: string }) => e.message) };
  }

  async function video(id: string) {
    const r = await api.gql(VIDEO, { id }, key);
    expect(r.errors).toBeUndefined();
    return r.data.video;
  }

  async function download(url: string, name: string): Promise<string> {
    const res = await fetch(local(url));
    expect(res.status).toBe(200);
    const file = path.join(dir, name);
    await writeFile(file, Buffer.from(await res.arrayBuffer()));
    return file;
  }

  let frames = 0;
  /** One decoded frame as raw RGB, through the adapter. */
  async function frameAt(file: string, format: string, atSec: number): Promise<Buffer> {
    const out = path.join(dir, `frame-${frames++}.rgb`);
    await ffmpeg.run({ inputs: [{ path: file, format, seekSec: atSec }], outputs: [{ path: out, args: ["-map", "0:v:0", "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24"] }] }, { signal: never });
    return readFile(out);
  }

  /** Mean absolute difference (0..255) of two RGB frames inside a rectangle. */
  function diff(a: Buffer, b: Buffer, width: number, r: { x: number; y: number; w: number; h: number }): number {
    let sum = 0;
    for (let y = r.y; y < r.y + r.h; y++) {
      for (let x = r.x; x < r.x + r.w; x++) {
        for (let c = 0; c < 3; c++) {
          const i = (y * width + x) * 3 + c;
          sum += Math.abs(a[i]! - b[i]!);
        }
      }
    }
    return sum / (r.w * r.h * 3);
  }

  describe("analyzeVideo", () => {
    it("finds every cut within one frame and no other, overwrites the stale metadata; no audio → loudness null", async () => {
      const cuts = [1, 2.5, 3.5];
      const videoId = await upload(await makeSceneVideo(dir, { ffmpeg: bin.ffmpeg, cuts, seconds: 4.5 }));
      await db.pool.query(`update videos set media = '{"formatName":"stale","durationSec":1,"sizeBytes":1,"bitRate":null,"tags":{},"video":null,"audio":null,"streamCount":0}' where id = $1`, [idOf("Video", videoId)]);
      const jobId = await submit(ANALYZE, { videoId });
      await engine.drain();

      const j = await job(jobId);
      expect(j).toMatchObject({ status: "SUCCEEDED", error: null, result: { loudness: null, metadata: { video: { width: 160, height: 120 } } } });
      expect(j.stages).toEqual(["probe", "scenes"]);
      const v = await video(videoId);
      expect(v.scenes).toHaveLength(cuts.length);
      v.scenes.forEach((s: { timeSeconds: number; score: number }, i: number) => {
        expect(Math.abs(s.timeSeconds - cuts[i]!)).toBeLessThanOrEqual(0.04 + 1e-9);
        expect(s.score).toBeGreaterThan(0.3);
        expect(s.score).toBeLessThanOrEqual(1);
      });
      expect(j.result.scenes).toEqual(v.scenes);
      expect(v.loudness).toBeNull();
      expect(v.mediaInfo).toMatchObject({ video: { codec: "h264", width: 160, height: 120 }, audio: null });
      expect(v.mediaInfo.formatName).toMatch(/mov|mp4/);
      expect(v.mediaInfo.durationSeconds).toBeCloseTo(4.5, 1);
      // No asset: the analysis lives on the Video.
      expect((await db.pool.query(`select 1 from assets where job_id = $1`, [idOf("Job", jobId)])).rowCount).toBe(0);
      const { rows } = await db.pool.query(`select analysis from videos where id = $1`, [idOf("Video", videoId)]);
      expect(Date.parse(rows[0].analysis.analyzedAt)).toBeGreaterThan(Date.now() - 60_000);
    });

    it("measures the loudness of a sine near its known level; an audio-only source has scenes null", async () => {
      const withAudio = await upload(await makeVideo(dir, { ffmpeg: bin.ffmpeg, seconds: 3 }));
      const audioOnly = await upload(await makeAudio(dir, { ffmpeg: bin.ffmpeg, seconds: 3, format: "mp3" }));
      const a = await submit(ANALYZE, { videoId: withAudio });
      const b = await submit(ANALYZE, { videoId: audioOnly });
      await engine.drain();

      const ja = await job(a);
      expect(ja.status).toBe("SUCCEEDED");
      expect(ja.stages).toEqual(["probe", "scenes", "loudness"]);
      const va = await video(withAudio);
      expect(Array.isArray(va.scenes)).toBe(true);
      expect(va.loudness.integratedLufs).toBeGreaterThan(SINE.integratedLufs - 1);
      expect(va.loudness.integratedLufs).toBeLessThan(SINE.integratedLufs + 1);
      expect(va.loudness.truePeakDbtp).toBeGreaterThan(SINE.truePeakDbtp - 1);
      expect(va.loudness.truePeakDbtp).toBeLessThan(SINE.truePeakDbtp + 1);
      // LRA is a statistic of 3 s windows: over a 3 s clip they are still filling up (from
      // silence), and both builds say 20 LU — the span of the relative gate — in their summary.
      expect(va.loudness.rangeLu).toBeGreaterThanOrEqual(0);
      expect(va.loudness.rangeLu).toBeLessThanOrEqual(20.5);

      const jb = await job(b);
      expect(jb.status).toBe("SUCCEEDED");
      expect(jb.stages).toEqual(["probe", "loudness"]);
      const vb = await video(audioOnly);
      expect(vb.scenes).toBeNull();
      expect(vb.mediaInfo).toMatchObject({ video: null, audio: { codec: "mp3", channels: 2 } });
      expect(vb.loudness.integratedLufs).toBeGreaterThan(SINE.integratedLufs - 1);
      expect(vb.loudness.integratedLufs).toBeLessThan(SINE.integratedLufs + 1);
      expect(jb.result).toMatchObject({ scenes: null, loudness: vb.loudness });
    });

    it("fails an mp4 without its index with VIDEO_FORMAT_UNSUPPORTED and ffprobe's lines in the LOG", async () => {
      const videoId = await upload(await withoutIndex(await makeVideo(dir, { ffmpeg: bin.ffmpeg, seconds: 3 })));
      const jobId = await submit(ANALYZE, { videoId });
      await engine.drain();
      const j = await job(jobId);
      expect(j).toMatchObject({ status: "FAILED", error: { code: "VIDEO_FORMAT_UNSUPPORTED" } });
      expect(j.logs.some((m: string) => /^ffprobe: .*moov atom not found/.test(m))).toBe(true);
      expect((await video(videoId)).scenes).toBeNull();
    });
  });

  describe("watermarkVideo", () => {
    it("draws text literally from a file (quotes, colons, backslashes, %{pts}, a newline), never in argv; audio copied", async () => {
      const src = await makeVideo(dir, { ffmpeg: bin.ffmpeg, seconds: 2, width: 320, height: 240 });
      const videoId = await upload(src);
      const content = `It's "a": C:\\dir\\ 100%{pts}\n%{localtime} \\n ok`;
      runs.length = 0;
      const jobId = await submit(WATERMARK, { videoId, text: { content, fontSize: 14, color: "#FFFF00", background: "#000000", padding: 6 }, position: "BOTTOM_RIGHT", margin: 10, opacity: 1 });
      await engine.drain();

      const j = await job(jobId);
      expect(j).toMatchObject({ status: "SUCCEEDED", error: null, result: { container: "mp4", videoCodec: "h264", width: 320, height: 240 } });
      expect(j.stages).toEqual(["probe", "encode", "store"]);
      expect(runs).toHaveLength(1);
      const argv = runs[0]!;
      const graph = argv[argv.indexOf("-filter_complex") + 1]!;
      expect(graph).toMatch(/drawtext=fontfile=\/[^:]+\/font\.ttf:textfile=\/[^:]+\/watermark\.txt:expansion=none:/);
      for (const piece of [content, ...content.split(/\s+/).filter((p) => p.length > 2)]) {
        expect(argv.some((a) => a.includes(piece)), piece).toBe(false);
      }
      expect(argv.join(" ")).toMatch(/-map 0:a:0 -c:a copy/);

      const v = await video(videoId);
      expect(v.renditions).toHaveLength(1);
      expect(v.renditions[0]).toMatchObject({ kind: "VIDEO", contentType: "video/mp4", filename: "watermarked.mp4", role: "RENDITION" });
      const { rows } = await db.pool.query(`select label, media from assets where id = $1`, [idOf("Asset", v.renditions[0].id)]);
      expect(rows[0].label).toBe("watermarked");
      const out = await download(v.renditions[0].url, "text-watermarked.mp4");
      const info = await ffmpeg.probe(out, { format: "mov" });
      const source = await ffmpeg.probe(src, { format: "mov" });
      expect(info.video).toMatchObject({ codec: "h264", width: 320, height: 240, pixFmt: "yuv420p" });
      expect(info.audio).toMatchObject({ codec: "aac", channels: 2 });
      expect(Math.abs(info.durationSec! - source.durationSec!)).toBeLessThanOrEqual(0.04 + 1e-9);
      expect(rows[0].media).toMatchObject({ video: { codec: "h264", width: 320, height: 240 } });

      // The box (black) sits in the bottom-right corner, inside the margin; the top-left is untouched.
      const [a, b] = [await frameAt(src, "mov", 1), await frameAt(out, "mov", 1)];
      expect(diff(a, b, 320, { x: 320 - 10 - 30, y: 240 - 10 - 5, w: 28, h: 4 })).toBeGreaterThan(40);
      expect(diff(a, b, 320, { x: 10, y: 40, w: 28, h: 4 })).toBeLessThan(10);
    });

    it("overlays an image asset in the chosen corner at a fraction of the width; webm in, h265 in mkv out with opus copied", async () => {
      const src = await makeVideo(dir, { ffmpeg: bin.ffmpeg, seconds: 2, width: 320, height: 240, container: "webm" });
      const videoId = await upload(src);
      const imageId = await uploadAsset(await readFile(await makeImage(dir, { ffmpeg: bin.ffmpeg, width: 64, height: 64, format: "png" })), "logo.png");
      runs.length = 0;
      const jobId = await submit(WATERMARK, { videoId, imageAssetId: imageId, imageScale: 0.25, position: "TOP_LEFT", margin: 8, opacity: 1, videoCodec: "H265", quality: "HIGH" });
      await engine.drain();

      const j = await job(jobId);
      expect(j).toMatchObject({ status: "SUCCEEDED", result: { container: "mkv", videoCodec: "h265", width: 320, height: 240 } });
      const argv = runs[0]!;
      expect(argv[argv.indexOf("-filter_complex") + 1]).toBe("[1:v]scale=80:-1,format=rgba,colorchannelmixer=aa=1.000[wm];[0:v:0][wm]overlay=x=8:y=8[v]");
      const v = await video(videoId);
      expect(v.renditions[0]).toMatchObject({ contentType: "video/x-matroska", filename: "watermarked.mkv" });
      const out = await download(v.renditions[0].url, "image-watermarked.mkv");
      const info = await ffmpeg.probe(out, { format: "matroska" });
      expect(info.video).toMatchObject({ codec: "hevc", width: 320, height: 240 });
      expect(info.audio).toMatchObject({ codec: "opus" });

      const [a, b] = [await frameAt(src, "matroska", 1), await frameAt(out, "matroska", 1)];
      // The 80×80 logo covers (8,8)–(88,88); the opposite corner stays as it was.
      expect(diff(a, b, 320, { x: 12, y: 12, w: 72, h: 72 })).toBeGreaterThan(30);
      expect(diff(a, b, 320, { x: 320 - 88, y: 240 - 88, w: 72, h: 72 })).toBeLessThan(10);
    });

    it("refuses an audio-only source (VIDEO_FORMAT_UNSUPPORTED), another organization's image (NOT_FOUND) and a non-image asset (INVALID_INPUT)", async () => {
      const audioId = await upload(await makeAudio(dir, { ffmpeg: bin.ffmpeg, format: "m4a" }));
      const videoId = await upload(await makeVideo(dir, { ffmpeg: bin.ffmpeg, seconds: 2 }));
      const other = await api.tenant();
      const png = await readFile(await makeImage(dir, { ffmpeg: bin.ffmpeg }));
      const foreignImage = await uploadAsset(png, "theirs.png", other.key);
      const captions = await uploadAsset(Buffer.from("WEBVTT\n\n00:00.000 --> 00:01.000\nhello\n"), "en.vtt");
      const jobs = {
        audio: await submit(WATERMARK, { videoId: audioId, text: { content: "x" } }),
        foreign: await submit(WATERMARK, { videoId, imageAssetId: foreignImage }),
        captions: await submit(WATERMARK, { videoId, imageAssetId: captions }),
      };
      await engine.drain();
      expect(await job(jobs.audio)).toMatchObject({ status: "FAILED", error: { code: "VIDEO_FORMAT_UNSUPPORTED" } });
      expect(await job(jobs.foreign)).toMatchObject({ status: "FAILED", error: { code: "NOT_FOUND" } });
      const c = await job(jobs.captions);
      expect(c).toMatchObject({ status: "FAILED", error: { code: "INVALID_INPUT" } });
      expect(c.error.message).toMatch(/PNG or JPEG/);
      expect((await video(videoId)).renditions).toEqual([]);
      expect((await video(audioId)).renditions).toEqual([]);
    });
  });
});
