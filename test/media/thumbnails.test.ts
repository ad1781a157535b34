// video.thumbnails through createThumbnails, against both ffmpeg builds: thumbnails and a
// storyboard checked with ffprobe and downloaded through their signed URLs (the sprite by
// its path relative to the .vtt), the refusals with their codes, cancellation, and proof
// from ffmpeg's own decoder counts that each shot seeks before it decodes.
import { readdir, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../src/engine/engine.ts";
import { idOf } from "../../src/graphql/ids.ts";
import { thumbnailSpec } from "../../src/processors/video-thumbnails.ts";
import { PgListener } from "../../src/pubsub/pg-listener.ts";
import { cancelJob } from "../../src/services/jobs.ts";
import { buildFfmpegArgs, type FfmpegSpec } from "../../src/tools/ffmpeg/argv.ts";
import { Ffmpeg } from "../../src/tools/ffmpeg/ffmpeg.ts";
import type { RunOptions } from "../../src/tools/ffmpeg/run.ts";
import type { Api } from "../graphql/api-helpers.ts";
import { createTestDatabase, isProcessAlive, log, type TestDb } from "../helpers.ts";
import { startMediaEnv, type MediaEnv } from "./harness.ts";
import { binaries, makeAudio, makeVideo, withoutIndex } from "./fixtures.ts";

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

const CREATE_VIDEO = `mutation($input: CreateVideoInput!) { createVideo(input: $input) { video { id status } } }`;
const CREATE_THUMBNAILS = `mutation($input: CreateThumbnailsInput!) { createThumbnails(input: $input) { job { id status } video { id } } }`;
const JOB = `query($id: ID!) { job(id: $id) { status stage progress result error { code message } events(first: 100) { edges { node { kind message stage } } } } }`;
const ASSET = `id kind contentType filename role size url`;
const VIDEO = `query($id: ID!) { video(id: $id) {
  mediaInfo { formatName durationSeconds video { codec width height } audio { codec } }
  thumbnails { ${ASSET} } storyboards { ${ASSET} }
} }`;

const never = new AbortController().signal;

describe.each(binaries())("video.thumbnails with the $name ffmpeg", (bin) => {
  let ffmpeg: Ffmpeg;
  let api: Api;
  let engine: Engine;
  let key: string;
  let org: string;
  let base: string;
  let dir: string;
  /** Every ffmpeg argv the processor ran, and a hook to change a run's options. */
  const runs: string[][] = [];
  let hook: ((spec: FfmpegSpec, opts: RunOptions) => RunOptions) | null = null;

  let env: MediaEnv;
  beforeAll(async () => {
    env = await startMediaEnv(db, bin, { dirPrefix: "spool-thumbs-test-", listener });
    ({ ffmpeg, api, engine, key, org, base, dir } = env);
    // The processors hold this same adapter, so wrapping its run() sees every job's argv.
    const run = ffmpeg.run.bind(ffmpeg);
    ffmpeg.run = (spec, opts) => {
      runs.push(buildFfmpegArgs(spec));
      return run(spec, hook ? hook(spec, opts) : opts);
    };
  });
  afterAll(() => env?.close());

  const local = (u: string) => {
    const url = new URL(u);
    return `${base}${url.pathname}${url.search}`;
  };

  async function upload(file: string): Promise<string> {
    const r = await api.gqlUpload(CREATE_VIDEO, { input: { file: null } }, { "input.file": { bytes: await readFile(file), name: path.basename(file) } }, key);
    expect(r.errors).toBeUndefined();
    return r.data.createVideo.video.id;
  }

  async function thumbnails(videoId: string, input: Record<string, unknown>) {
    const r = await api.gql(CREATE_THUMBNAILS, { input: { videoId, ...input } }, key);
    expect(r.errors).toBeUndefined();
    return r.data.createThumbnails.job.id as string;
  }

  async function job(id: string) {
    const r = await api.gql(JOB, { id }, key);
    expect(r.errors).toBeUndefined();
    return r.data.job;
  }

  async function video(id: string) {
    const r = await api.gql(VIDEO, { id }, key);
    expect(r.errors).toBeUndefined();
    return r.data.video;
  }

  /** Downloads a signed URL into the test folder and probes it with this binary's ffprobe. */
  async function fetchAndProbe(url: string, name: string, format?: string) {
    const res = await fetch(local(url));
    expect(res.status).toBe(200);
    const bytes = Buffer.from(await res.arrayBuffer());
    const file = path.join(dir, name);
    await writeFile(file, bytes);
    return { res, bytes, info: await ffmpeg.probe(file, { format }) };
  }

  async function jobOutputs(jobId: string) {
    return (await db.pool.query(`select id from assets where job_id = $1`, [idOf("Job", jobId)])).rows;
  }

  /** 60 s of a small frame, silent: long enough that decoding all of it is visible in counts. */
  const longVideo = () => makeVideo(dir, { ffmpeg: bin.ffmpeg, seconds: 60, width: 160, height: 120, audio: false, name: "long-60s.mp4" });

  async function outputRows(videoId: string) {
    const { rows } = await db.pool.query(`select role, label, filename, size::int, media from assets where video_id = $1 and origin = 'JOB_OUTPUT' order by filename`, [idOf("Video", videoId)]);
    return rows as { role: string; label: string; filename: string; size: number; media: { sizeBytes: number; video: { width: number; height: number; codec: string } | null } }[];
  }

  it("makes evenly spaced jpg thumbnails and a storyboard; the .vtt and a sprite beside it download through the signed URL", async () => {
    const src = await makeVideo(dir, { ffmpeg: bin.ffmpeg, seconds: 4, width: 320, height: 240 });
    const videoId = await upload(src);
    const jobId = await thumbnails(videoId, { width: 160, quality: 70, storyboard: { intervalSeconds: 1, width: 64, columns: 3 } });
    await engine.drain();

    const j = await job(jobId);
    expect(j).toMatchObject({ status: "SUCCEEDED", progress: 1, error: null });
    const stages = j.events.edges.map((e: { node: { kind: string; stage: string | null } }) => e.node).filter((n: { kind: string }) => n.kind === "STAGE").map((n: { stage: string }) => n.stage);
    expect(stages).toEqual(["probe", "thumbnails", "storyboard", "store"]);
    // Three, inside the video (not its first or last frame): at a quarter, half, three quarters.
    const times = j.result.thumbnails.map((t: { timeSeconds: number }) => t.timeSeconds);
    expect(times).toHaveLength(3);
    times.forEach((t: number, i: number) => expect(t).toBeCloseTo(i + 1, 1));
    expect(j.result.storyboard).toMatchObject({ sheets: 1, tiles: 4, intervalSeconds: 1, tileWidth: 64, tileHeight: 48 });

    const v = await video(videoId);
    expect(v.mediaInfo).toMatchObject({ video: { codec: "h264", width: 320, height: 240 }, audio: { codec: "aac" } });
    // In order: the listing sorts one job's outputs by file name.
    expect(v.thumbnails.map((a: { filename: string }) => a.filename)).toEqual(["thumb-0000.jpg", "thumb-0001.jpg", "thumb-0002.jpg"]);
    for (const a of v.thumbnails) expect(a).toMatchObject({ kind: "IMAGE", contentType: "image/jpeg", role: "THUMBNAIL" });
    expect(v.thumbnails.map((a: { id: string }) => idOf("Asset", a.id)).sort()).toEqual(j.result.thumbnails.map((t: { assetId: string }) => t.assetId).sort());

    const rows = await outputRows(videoId);
    expect(rows.filter((r) => r.role === "THUMBNAIL").map((r) => r.label)).toEqual(times.map((t: number) => `t=${t.toFixed(3)}`));
    for (const r of rows.filter((r) => r.role === "THUMBNAIL")) {
      expect(r.media?.video).toMatchObject({ codec: "mjpeg", width: 160, height: 120 });
      expect(r.media.sizeBytes).toBe(r.size);
    }

    const first = v.thumbnails.find((a: { filename: string }) => a.filename === "thumb-0000.jpg");
    const thumb = await fetchAndProbe(first.url, "dl-thumb.jpg", "jpeg_pipe");
    expect(thumb.res.headers.get("content-type")).toBe("image/jpeg");
    expect(thumb.bytes.subarray(0, 2).toString("hex")).toBe("ffd8");
    expect(thumb.info.video).toMatchObject({ codec: "mjpeg", width: 160, height: 120 });

    expect(v.storyboards).toHaveLength(1);
    const sb = v.storyboards[0];
    expect(sb).toMatchObject({ kind: "CAPTIONS", contentType: "text/vtt", role: "STORYBOARD", filename: "storyboard.vtt" });
    expect(new URL(sb.url).pathname).toMatch(/\/storyboard\.vtt$/);
    const vttRes = await fetch(local(sb.url));
    expect(vttRes.status).toBe(200);
    expect(vttRes.headers.get("content-type")).toBe("text/vtt");
    const vtt = await vttRes.text();
    expect(vtt.startsWith("WEBVTT\n")).toBe(true);
    const cues = [...vtt.matchAll(/^(\S+) --> (\S+)\n(\S+)$/gm)].map((m) => [m[1], m[2], m[3]]);
    expect(cues).toEqual([
      ["00:00:00.000", "00:00:01.000", "sprite-0.jpg#xywh=0,0,64,48"],
      ["00:00:01.000", "00:00:02.000", "sprite-0.jpg#xywh=64,0,64,48"],
      ["00:00:02.000", "00:00:03.000", "sprite-0.jpg#xywh=128,0,64,48"],
      ["00:00:03.000", "00:00:04.000", "sprite-0.jpg#xywh=0,48,64,48"],
    ]);
    // A player resolves the cue's URL against the .vtt's: the sprite sits beside it, same signature.
    const sprite = await fetchAndProbe(new URL("sprite-0.jpg", sb.url).toString(), "dl-sprite.jpg", "jpeg_pipe");
    expect(sprite.res.headers.get("content-type")).toBe("image/jpeg");
    expect(sprite.info.video).toMatchObject({ codec: "mjpeg", width: 192, height: 96 });
    // Each file is an Asset with its own size: the track is its own bytes, the sheet too.
    expect(sb.size).toBe(Buffer.byteLength(vtt));
    const all = await api.gql(`query($id: ID!) { video(id: $id) { assets(first: 50) { edges { node { ${ASSET} label media { width: video { width } } } } } } }`, { id: videoId }, key);
    const sheets = all.data.video.assets.edges.map((e: { node: any }) => e.node).filter((a: { role: string }) => a.role === "STORYBOARD_SPRITE");
    expect(sheets).toHaveLength(1);
    expect(sheets[0]).toMatchObject({ kind: "IMAGE", contentType: "image/jpeg", filename: "sprite-0.jpg", label: "sprite-0", size: sprite.bytes.length, media: { width: { width: 192 } } });
    expect(j.result.storyboard.spriteAssetIds).toEqual([idOf("Asset", sheets[0].id)]);
    const own = await fetchAndProbe(sheets[0].url, "dl-sprite-own.jpg", "jpeg_pipe");
    expect(own.bytes.equals(sprite.bytes)).toBe(true);
    // The track and its sheets share a folder; deleting the Video removes it whole.
    const folder = path.join(api.dataDir, "files", "orgs", org, "assets", idOf("Asset", sb.id));
    expect((await readdir(folder)).sort()).toEqual(["sprite-0.jpg", "storyboard.vtt"]);
    const del = await api.gql(`mutation($id: ID!) { deleteVideo(input: { id: $id }) { deletedId } }`, { id: videoId }, key);
    expect(del.errors).toBeUndefined();
    expect(await readdir(folder).catch(() => [])).toEqual([]);
    expect((await fetch(local(sheets[0].url))).status).toBe(404);
  });

  it("takes given timestamps as png at a height (aspect kept), and every N seconds as webp", async () => {
    const src = await makeVideo(dir, { ffmpeg: bin.ffmpeg, seconds: 4, width: 320, height: 240, audio: false });
    const videoId = await upload(src);
    const pngJob = await thumbnails(videoId, { timestamps: [0, 1.5, 4], format: "PNG", height: 60 });
    await engine.drain();
    const p = await job(pngJob);
    expect(p.status).toBe("SUCCEEDED");
    // 4 s is the very end: the last frame (3.96 s) is taken, and its label says where it was sought.
    expect(p.result.thumbnails.map((t: { timeSeconds: number }) => t.timeSeconds)).toEqual([0, 1.5, 3.94]);
    let rows = await outputRows(videoId);
    expect(rows.map((r) => [r.filename, r.label])).toEqual([["thumb-0000.png", "t=0.000"], ["thumb-0001.png", "t=1.500"], ["thumb-0002.png", "t=3.940"]]);
    for (const r of rows) expect(r.media?.video).toMatchObject({ codec: "png", width: 80, height: 60 });
    const v = await video(videoId);
    const png = await fetchAndProbe(v.thumbnails[0].url, "dl.png", "png_pipe");
    expect(png.res.headers.get("content-type")).toBe("image/png");
    expect(png.info.video).toMatchObject({ codec: "png", width: 80, height: 60 });

    const webpJob = await thumbnails(videoId, { everySeconds: 1, format: "WEBP", width: 100, height: 50, quality: 50 });
    await engine.drain();
    const w = await job(webpJob);
    expect(w.status).toBe("SUCCEEDED");
    expect(w.result.thumbnails.map((t: { timeSeconds: number }) => t.timeSeconds)).toEqual([0, 1, 2, 3]);
    rows = (await outputRows(videoId)).filter((r) => r.filename.endsWith(".webp"));
    expect(rows).toHaveLength(4);
    for (const r of rows) expect(r.media?.video).toMatchObject({ codec: "webp", width: 100, height: 50 });
    // Each job's outputs are its own: the png job's are still there beside the webp ones.
    expect((await video(videoId)).thumbnails).toHaveLength(7);
  });

  it("seeks before it decodes: each shot decodes from the keyframe before it, not from the start", async () => {
    const long = await longVideo();
    // A keyframe every second, as a streaming encode has (the fixture's x264 default is one every 10 s).
    const gop = path.join(dir, "long-gop25.mp4");
    await ffmpeg.run({
      inputs: [{ path: long, format: "mov" }],
      outputs: [{ path: gop, args: ["-map", "0:v:0", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-keyint_min", "25", "-sc_threshold", "0", "-f", "mp4"] }],
    }, { signal: never });

    const decodedPerInput = async (spec: FfmpegSpec) => {
      spec.outputs[0]!.args.push("-loglevel", "verbose");
      const counts: number[] = [];
      await ffmpeg.run(spec, {
        signal: never,
        onStderrLine: (line) => {
          const m = /Input stream #\d+:\d+ \(video\): \d+ packets read \(\d+ bytes\); (\d+) frames decoded/.exec(line);
          if (m) counts.push(Number(m[1]));
        },
      });
      return counts;
    };
    const whole = await decodedPerInput({ inputs: [{ path: gop, format: "mov" }], outputs: [{ path: "/dev/null", args: ["-map", "0:v:0", "-f", "null"] }] });
    expect(whole).toEqual([1500]);

    const times = [55.2, 56.4, 57.6, 58.8, 59.9];
    const shots = await decodedPerInput(thumbnailSpec({ path: gop, format: "mov" }, times.map((t, i) => ({ seekSec: t, out: path.join(dir, `seek-${i}.jpg`) })), { format: "jpg", quality: 80 }));
    expect(shots).toHaveLength(5);
    // From the keyframe at the whole second before t up to the frame at t (7, 12, 17, 22, 25
    // with both builds), plus the frame or two a threaded decoder has in flight.
    for (const [i, n] of shots.entries()) expect(n).toBeLessThanOrEqual(Math.ceil((times[i]! - Math.floor(times[i]!)) * 25) + 3);
    expect(shots.reduce((a, b) => a + b, 0)).toBeLessThan(whole[0]! / 10);

    // The job does the same: one run, one input per shot, each with -ss before its -i.
    const videoId = await upload(gop);
    runs.length = 0;
    const jobId = await thumbnails(videoId, { timestamps: times, width: 80 });
    await engine.drain();
    expect((await job(jobId)).status).toBe("SUCCEEDED");
    const thumbRuns = runs.filter((argv) => argv.includes("-frames:v"));
    expect(thumbRuns).toHaveLength(1);
    const argv = thumbRuns[0]!;
    const inputs = argv.flatMap((a, i) => (a === "-i" ? [i] : []));
    expect(inputs).toHaveLength(5);
    for (const [k, at] of inputs.entries()) {
      const ss = argv.lastIndexOf("-ss", at);
      expect(ss).toBeGreaterThan(k === 0 ? -1 : inputs[k - 1]!);
      expect(Number(argv[ss + 1])).toBeCloseTo(times[k]!, 3);
    }
    expect(argv.filter((a) => a === "-frames:v")).toHaveLength(5);
  });

  it("refuses a timestamp beyond the duration (INVALID_INPUT naming it) and more than 100 shots", async () => {
    const videoId = await upload(await makeVideo(dir, { ffmpeg: bin.ffmpeg, seconds: 4 }));
    const beyond = await thumbnails(videoId, { timestamps: [1, 9.5] });
    const many = await thumbnails(videoId, { everySeconds: 0.5 });
    await engine.drain();
    const b = await job(beyond);
    expect(b).toMatchObject({ status: "FAILED", error: { code: "INVALID_INPUT" } });
    expect(b.error.message).toMatch(/timestamps\[1\] = 9\.5 s is beyond the video's duration \(4\.0\d+ s\)/);
    // 8 shots of a 4 s video are fine; of the long one, 0.5 s would be 120.
    expect((await job(many)).status).toBe("SUCCEEDED");
    const longId = await upload(await longVideo());
    const tooMany = await thumbnails(longId, { everySeconds: 0.5 });
    await engine.drain();
    const t = await job(tooMany);
    expect(t).toMatchObject({ status: "FAILED", error: { code: "INVALID_INPUT" } });
    expect(t.error.message).toMatch(/120 thumbnails .* at most 100/);
    expect(await jobOutputs(beyond)).toEqual([]);
    expect(await jobOutputs(tooMany)).toEqual([]);
  });

  it("fails an audio-only source and an mp4 without its index with VIDEO_FORMAT_UNSUPPORTED; ffprobe's words are in the LOG", async () => {
    const audioId = await upload(await makeAudio(dir, { ffmpeg: bin.ffmpeg, format: "mp3" }));
    const cut = await withoutIndex(await makeVideo(dir, { ffmpeg: bin.ffmpeg, seconds: 4 }));
    const truncatedId = await upload(cut);
    const a = await thumbnails(audioId, {});
    const t = await thumbnails(truncatedId, {});
    await engine.drain();
    expect(await job(a)).toMatchObject({ status: "FAILED", error: { code: "VIDEO_FORMAT_UNSUPPORTED" } });
    const tj = await job(t);
    expect(tj).toMatchObject({ status: "FAILED", error: { code: "VIDEO_FORMAT_UNSUPPORTED" } });
    const logs = tj.events.edges.map((e: { node: { kind: string; message: string | null } }) => e.node).filter((n: { kind: string }) => n.kind === "LOG").map((n: { message: string }) => n.message);
    expect(logs.some((m: string) => /^ffprobe: .*moov atom not found/.test(m))).toBe(true);
    expect(await jobOutputs(a)).toEqual([]);
    expect(await jobOutputs(t)).toEqual([]);
  });

  it("evenly spaced thumbnails move to nearby keyframes (one decoded frame each); exact timestamps do not", async () => {
    const src = await longVideo();
    const keys = await ffmpeg.keyframes(src, { format: "mov" });
    expect(keys).toEqual([0, 10, 20, 30, 40, 50]); // x264's default GOP: 250 frames at 25 fps
    const videoId = await upload(src);
    // count 4 over 60 s: targets 12, 24, 36, 48; keyframes within a quarter of the 12 s spacing: 10 and 50.
    const spaced = await thumbnails(videoId, { count: 4, width: 64 });
    const exact = await thumbnails(videoId, { timestamps: [12, 24], width: 64 });
    await engine.drain();
    for (const [id, labels] of [[spaced, ["t=10.000", "t=24.000", "t=36.000", "t=50.000"]], [exact, ["t=12.000", "t=24.000"]]] as const) {
      const { rows } = await db.pool.query(`select label from assets where job_id = $1 order by filename`, [idOf("Job", id)]);
      expect(rows.map((r) => r.label)).toEqual(labels);
    }
  });

  it("cancelled while ffmpeg runs: ffmpeg is killed, no THUMBNAIL asset, no work folder left", async () => {
    const videoId = await upload(await longVideo());
    const jobId = await thumbnails(videoId, { count: 10 });
    const rawId = idOf("Job", jobId);
    let pid: number | null = null;
    // Frozen as soon as it starts, so it cannot finish before the cancel reaches it.
    hook = (_spec, opts) => ({
      ...opts,
      onStart: (p) => {
        pid = p;
        process.kill(p, "SIGSTOP");
        void cancelJob(db.pool, org, rawId);
      },
    });
    try {
      await engine.drain();
    } finally {
      hook = null;
    }
    expect(pid).not.toBeNull();
    expect(isProcessAlive(pid!)).toBe(false);
    const j = await job(jobId);
    expect(j).toMatchObject({ status: "CANCELLED", result: null });
    expect((await video(videoId)).thumbnails).toEqual([]);
    expect(await outputRows(videoId)).toEqual([]);
    const left = (await readdir(os.tmpdir())).filter((n) => n.startsWith(`spool-${rawId.slice(0, 8)}-`));
    expect(left).toEqual([]);
  });
});
