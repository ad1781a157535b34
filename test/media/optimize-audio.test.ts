// media.optimize (optimizeVideo) and audio.transcode (transcodeAudio) against both ffmpeg
// builds: the size target is hit within ±10% on a noisy fixture that needs its bits, an
// impossible target is refused, and loudness normalisation lands a quiet tone at -16 LUFS
// as measured by a separate ffmpeg run.
import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../src/engine/engine.ts";
import { parseLoudnormJson } from "../../src/processors/audio-transcode.ts";
import { Ffmpeg } from "../../src/tools/ffmpeg/ffmpeg.ts";
import type { Api } from "../graphql/api-helpers.ts";
import { createTestDatabase, type TestDb } from "../helpers.ts";
import { startMediaEnv, type MediaEnv } from "./harness.ts";
import { binaries, generate, makeAudio, makeVfrWebm, makeVideo } from "./fixtures.ts";

const CREATE_VIDEO = `mutation($input: CreateVideoInput!) { createVideo(input: $input) { video { id status } } }`;
const OPTIMIZE = `mutation($input: OptimizeVideoInput!) { optimizeVideo(input: $input) { job { id status type } } }`;
const AUDIO = `mutation($input: TranscodeAudioInput!) { transcodeAudio(input: $input) { job { id status type } } }`;
const JOB = `query($id: ID!) { job(id: $id) {
  id status result error { code message }
  events(first: 100) { edges { node { kind status stage fps speed message } } }
} }`;
const ASSET_FIELDS = `id role kind filename contentType size url`;
const OUTPUTS = `query($id: ID!) { video(id: $id) { renditions { ${ASSET_FIELDS} } audioTracks { ${ASSET_FIELDS} } } }`;

type Event = { kind: string; status: string | null; stage: string | null; fps: number | null; speed: number | null; message: string | null };

type JobView = { id: string; status: string; attempts: number; result: any; error: { code: string; message: string } | null; events: Event[] };

const rawId = (globalId: string) => Buffer.from(globalId, "base64").toString().split(":")[1]!;

/** ffprobe facts about the first video stream, read by decoding every frame (-count_frames). */
function frameFacts(ffprobe: string, file: string): Promise<{ r: string; avg: string; frames: number; duration: number }> {
  return new Promise((resolve, reject) => {
    execFile(ffprobe, ["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=r_frame_rate,avg_frame_rate,nb_read_frames:format=duration", "-of", "json", file],
      { env: { ...process.env, GCONV_PATH: "/nonexistent" } }, (err, out) => {
        if (err) return reject(err);
        const d = JSON.parse(out);
        resolve({ r: d.streams[0].r_frame_rate, avg: d.streams[0].avg_frame_rate, frames: Number(d.streams[0].nb_read_frames), duration: Number(d.format.duration) });
      });
  });
}


let db: TestDb;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

describe.each(binaries())("media.optimize and audio.transcode with the $name ffmpeg", (bin) => {
  let api: Api;
  let engine: Engine;
  let ffmpeg: Ffmpeg;
  let key: string;
  let base: string;
  let dir: string;

  let env: MediaEnv;
  beforeAll(async () => {
    env = await startMediaEnv(db, bin, { dirPrefix: "optimize-audio-test-" });
    ({ ffmpeg, api, base, engine, key, dir } = env);
  });
  afterAll(() => env?.close());

  async function upload(file: string): Promise<string> {
    const r = await api.gqlUpload(CREATE_VIDEO, { input: { file: null } }, { "input.file": { bytes: await readFile(file), name: path.basename(file) } }, key);
    expect(r.errors).toBeUndefined();
    return r.data.createVideo.video.id;
  }

  async function submit(mutation: string, field: string, input: Record<string, unknown>): Promise<string> {
    const r = await api.gql(mutation, { input }, key);
    expect(r.errors).toBeUndefined();
    return r.data[field].job.id;
  }

  async function job(id: string): Promise<JobView> {
    const j = (await api.gql(JOB, { id }, key)).data.job;
    return { ...j, events: j.events.edges.map((e: { node: Event }) => e.node) as Event[] };
  }

  /** The Video's outputs; label and media (MediaInfo) come from the row: the Asset type does not expose them yet. */
  async function outputs(videoId: string): Promise<{ renditions: any[]; audioTracks: any[] }> {
    const r = await api.gql(OUTPUTS, { id: videoId }, key);
    expect(r.errors).toBeUndefined();
    const withRow = async (list: any[]) => {
      const { rows } = await db.pool.query(`select id, label, media from assets where id = any($1)`, [list.map((a) => rawId(a.id))]);
      return list.map((a) => ({ ...a, ...rows.find((row) => row.id === rawId(a.id)), id: a.id }));
    };
    return { renditions: await withRow(r.data.video.renditions), audioTracks: await withRow(r.data.video.audioTracks) };
  }

  async function download(url: string, name: string): Promise<{ bytes: Buffer; file: string }> {
    const u = new URL(url);
    const res = await fetch(`${base}${u.pathname}${u.search}`);
    expect(res.status).toBe(200);
    const bytes = Buffer.from(await res.arrayBuffer());
    const file = path.join(dir, name);
    await writeFile(file, bytes);
    return { bytes, file };
  }

  function stagesOf(events: Event[]) {
    return events.filter((e) => e.kind === "STAGE").map((e) => e.stage);
  }
  function expectRates(events: Event[]) {
    expect(events.some((e) => e.kind === "PROGRESS" && (e.fps !== null || e.speed !== null))).toBe(true);
  }

  /** 6 s of testsrc2 under temporal noise, nearly lossless: every bit of a small target is needed. */
  async function noisyVideo(): Promise<string> {
    return generate(bin.ffmpeg, [
      "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=6,noise=alls=40:allf=t+u",
      "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=6",
      "-c:v", "libx264", "-preset", "ultrafast", "-crf", "16", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-f", "mp4",
    ], path.join(dir, "noisy.mp4"));
  }

  describe("media.optimize", () => {
    let noisyId: string;
    beforeAll(async () => {
      noisyId = await upload(await noisyVideo());
    });

    it("hits the size target within ±10% in two passes: mp4 h264/aac with faststart, downloadable", async () => {
      const jobId = await submit(OPTIMIZE, "optimizeVideo", { videoId: noisyId, targetSizeMB: 0.6 });
      await engine.drain();
      const j = await job(jobId);
      expect(j.status).toBe("SUCCEEDED");
      expect(stagesOf(j.events)).toEqual(["probe", "pass1", "pass2", "store"]);
      expectRates(j.events);
      expect(j.result).toMatchObject({ mode: "two-pass", targetBytes: 600_000, label: "optimized-0.6MB", audioBitrateKbps: 96 });
      expect(j.result.sizeRatio).toBeGreaterThan(0.9);
      expect(j.result.sizeRatio).toBeLessThan(1.1);
      const r = (await outputs(noisyId)).renditions.find((a) => a.label === "optimized-0.6MB");
      expect(r).toMatchObject({ role: "RENDITION", filename: "optimized-0.6MB.mp4", contentType: "video/mp4", size: j.result.sizeBytes });
      expect(Math.abs(r.size - 600_000) / 600_000).toBeLessThan(0.1);
      expect(r.media.video).toMatchObject({ codec: "h264", width: 320, height: 240 });
      expect(r.media.audio).toMatchObject({ codec: "aac" });
      expect(Math.abs(r.media.durationSec - 6)).toBeLessThanOrEqual(1 / 25 + 0.03);
      const got = await download(r.url, "optimized.mp4");
      expect(got.bytes.length).toBe(r.size);
      expect(got.bytes.indexOf("moov")).toBeLessThan(got.bytes.indexOf("mdat"));
      expect((await ffmpeg.probe(got.file)).video?.codec).toBe("h264");
    });

    it("takes a variable-frame-rate WebM (a browser recording): both passes see the same frames, none duplicated", async () => {
      const webm = await makeVfrWebm(dir, { ffmpeg: bin.ffmpeg, seconds: 6 });
      const src = await frameFacts(bin.ffprobe, webm);
      // What makes it VFR: the nominal rate is 30 fps, the frames are far fewer than 6 s × 30.
      expect(src.r).toBe("30/1");
      expect(src.avg).not.toBe(src.r);
      expect(src.frames).toBeLessThan(src.duration * 30 * 0.7);
      const videoId = await upload(webm);
      const jobId = await submit(OPTIMIZE, "optimizeVideo", { videoId, targetSizeMB: 0.4 });
      await engine.drain();
      const j = await job(jobId);
      expect(j.error).toBeNull();
      expect(j.status).toBe("SUCCEEDED");
      expect(stagesOf(j.events)).toEqual(["probe", "pass1", "pass2", "store"]);
      expect(j.result.sizeRatio).toBeGreaterThan(0.9);
      expect(j.result.sizeRatio).toBeLessThan(1.1);
      const r = (await outputs(videoId)).renditions.find((a) => a.label === "optimized-0.4MB");
      const out = await frameFacts(bin.ffprobe, (await download(r.url, "vfr-optimized.mp4")).file);
      expect(out.frames).toBe(src.frames);
      expect(Math.abs(out.duration - src.duration)).toBeLessThan(0.2);
    });

    it("downscales to maxHeight and still lands within ±10%", async () => {
      const jobId = await submit(OPTIMIZE, "optimizeVideo", { videoId: noisyId, targetSizeMB: 0.3, maxHeight: 144, audioBitrateKbps: 64 });
      await engine.drain();
      const j = await job(jobId);
      expect(j.status).toBe("SUCCEEDED");
      expect(j.result).toMatchObject({ width: 192, height: 144, targetBytes: 300_000, label: "optimized-0.3MB" });
      expect(Math.abs(j.result.sizeBytes - 300_000) / 300_000).toBeLessThan(0.1);
    });

    it("refuses a target too small for the duration with INVALID_INPUT and stores nothing", async () => {
      const before = (await outputs(noisyId)).renditions.length;
      const jobId = await submit(OPTIMIZE, "optimizeVideo", { videoId: noisyId, targetSizeMB: 0.1 });
      await engine.drain();
      const j = await job(jobId);
      expect(j).toMatchObject({ status: "FAILED", error: { code: "INVALID_INPUT" } });
      expect(j.error?.message).toMatch(/the target is too small for 6 s of video/i);
      expect((await outputs(noisyId)).renditions.length).toBe(before);
    });

    it("keepQuality spends no more than a high-quality encode needs: well under a generous target, in one capped pass", async () => {
      const videoId = await upload(await makeVideo(dir, { ffmpeg: bin.ffmpeg, seconds: 2 }));
      const jobId = await submit(OPTIMIZE, "optimizeVideo", { videoId, targetSizeMB: 2, keepQuality: true });
      await engine.drain();
      const j = await job(jobId);
      expect(j.status).toBe("SUCCEEDED");
      expect(stagesOf(j.events)).toEqual(["probe", "encode", "store"]);
      expect(j.result.mode).toBe("quality-capped");
      expect(j.result.sizeBytes).toBeLessThan(j.result.targetBytes);
    });

    it("keepQuality under a tight target stays at it: the capped encode, or two passes when that overshot", async () => {
      const jobId = await submit(OPTIMIZE, "optimizeVideo", { videoId: noisyId, targetSizeMB: 0.5, keepQuality: true });
      await engine.drain();
      const j = await job(jobId);
      expect(j.status).toBe("SUCCEEDED");
      const stages = stagesOf(j.events);
      if (j.result.mode === "quality-capped") {
        expect(stages).toEqual(["probe", "encode", "store"]);
        expect(j.result.sizeBytes).toBeLessThanOrEqual(500_000);
      } else {
        expect(stages).toEqual(["probe", "encode", "pass1", "pass2", "store"]);
        expect(j.events.some((e) => e.kind === "LOG" && /over the 500000-byte target/.test(e.message ?? ""))).toBe(true);
        expect(Math.abs(j.result.sizeBytes - 500_000) / 500_000).toBeLessThan(0.1);
      }
    });
  });

  describe("audio.transcode", () => {
    async function measure(file: string, format: string): Promise<number> {
      const lines: string[] = [];
      await ffmpeg.run({
        inputs: [{ path: file, format }],
        outputs: [{ path: "/dev/null", args: ["-map", "0:a:0", "-af", "loudnorm=I=-16:TP=-1.5:LRA=11:print_format=json", "-f", "null"] }],
      }, { signal: new AbortController().signal, onStderrLine: (l) => lines.push(l) });
      return Number(parseLoudnormJson(lines)!.input_i);
    }

    it("extracts a Video's audio as mp3 by default, with the input's loudness, downloadable", async () => {
      const videoId = await upload(await makeVideo(dir, { ffmpeg: bin.ffmpeg, seconds: 3 }));
      const jobId = await submit(AUDIO, "transcodeAudio", { videoId });
      await engine.drain();
      const j = await job(jobId);
      expect(j.status).toBe("SUCCEEDED");
      expect(stagesOf(j.events)).toEqual(["probe", "encode", "store"]);
      expectRates(j.events);
      const [a, ...more] = (await outputs(videoId)).audioTracks;
      expect(more).toEqual([]);
      expect(a).toMatchObject({ label: "mp3-128k", role: "AUDIO", kind: "AUDIO", filename: "mp3-128k.mp3", contentType: "audio/mpeg" });
      expect(a.media.video).toBeNull();
      expect(a.media.audio).toMatchObject({ codec: "mp3", channels: 2, sampleRate: 48_000 });
      expect(Math.abs(a.media.durationSec - 3)).toBeLessThan(0.1);
      expect(j.result).toMatchObject({ assetId: rawId(a.id), format: "mp3", bitrateKbps: 128, normalized: false, outputLoudness: null });
      // lavfi's sine peaks at 1/8: -21.8 LUFS (ebur128 on the source branch).
      expect(Math.abs(j.result.inputLoudness.integratedLufs - -21.8)).toBeLessThan(1);
      expect(j.result.inputLoudness.truePeakDbtp).toBeLessThan(-18);
      const got = await download(a.url, "track.mp3");
      expect(got.bytes.length).toBe(a.size);
      expect((await ffmpeg.probe(got.file, { format: "mp3" })).audio?.codec).toBe("mp3");
    });

    it("takes audio-only sources: opus (48 kHz, mono), ogg/vorbis denoised, aac in .m4a", async () => {
      const videoId = await upload(await makeAudio(dir, { ffmpeg: bin.ffmpeg, seconds: 2, format: "wav" }));
      const ids = [
        await submit(AUDIO, "transcodeAudio", { videoId, format: "OPUS", bitrateKbps: 64, sampleRate: 44100, channels: 1 }),
        await submit(AUDIO, "transcodeAudio", { videoId, format: "OGG", bitrateKbps: 96, noiseReduction: "STRONG", sampleRate: 22050 }),
        await submit(AUDIO, "transcodeAudio", { videoId, format: "AAC", bitrateKbps: 96, noiseReduction: "LIGHT" }),
      ];
      await engine.drain();
      const results = await Promise.all(ids.map(job));
      expect(results.map((j) => j.status)).toEqual(["SUCCEEDED", "SUCCEEDED", "SUCCEEDED"]);
      expect(results[0]!.result).toMatchObject({ format: "opus", sampleRate: 48_000, channels: 1 });
      // Each job keeps its own output: three tracks on the Video.
      const tracks = (await outputs(videoId)).audioTracks;
      const byLabel = Object.fromEntries(tracks.map((t) => [t.label, t]));
      expect(Object.keys(byLabel).sort()).toEqual(["aac-96k", "ogg-96k", "opus-64k"]);
      expect(byLabel["opus-64k"]).toMatchObject({ filename: "opus-64k.opus", contentType: "audio/opus", media: { audio: { codec: "opus", channels: 1 } } });
      expect(byLabel["ogg-96k"]).toMatchObject({ filename: "ogg-96k.ogg", contentType: "audio/ogg", media: { audio: { codec: "vorbis", sampleRate: 22_050 } } });
      expect(byLabel["aac-96k"]).toMatchObject({ filename: "aac-96k.m4a", contentType: "audio/mp4", media: { audio: { codec: "aac", sampleRate: 48_000 } } });
    });

    it("normalises a quiet tone to -16 LUFS in two passes (checked by a third ffmpeg run)", async () => {
      // lavfi's sine peaks at 1/8 (-21.8 LUFS; -ac 2 puts it at -3 dB in each of two channels, the same loudness): -13 dB makes -35 LUFS.
      const quiet = await generate(bin.ffmpeg, [
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=6,volume=-13dB", "-ac", "2", "-c:a", "pcm_s16le", "-f", "wav",
      ], path.join(dir, "quiet.wav"));
      const videoId = await upload(quiet);
      const jobId = await submit(AUDIO, "transcodeAudio", { videoId, format: "AAC", normalize: true, loudnessTarget: -16 });
      await engine.drain();
      const j = await job(jobId);
      expect(j.status).toBe("SUCCEEDED");
      expect(stagesOf(j.events)).toEqual(["probe", "measure", "encode", "store"]);
      expectRates(j.events);
      expect(j.result.normalized).toBe(true);
      expect(Math.abs(j.result.inputLoudness.integratedLufs - -35)).toBeLessThan(1.5);
      expect(Math.abs(j.result.outputLoudness.integratedLufs - -16)).toBeLessThan(1.5);
      const [a] = (await outputs(videoId)).audioTracks;
      const got = await download(a.url, "normalized.m4a");
      expect(Math.abs((await measure(got.file, "mov")) - -16)).toBeLessThan(1.5);
    });

    /** EBU R128 integrated loudness of a file played `loops` + 1 times in a row, by a plain ffmpeg run. */
    function loopedLoudness(file: string, loops: number): Promise<number> {
      return new Promise((resolve, reject) => {
        execFile(bin.ffmpeg, ["-nostdin", "-hide_banner", "-stream_loop", String(loops), "-i", file, "-af", "ebur128", "-f", "null", "-"], (err, _o, stderr) => {
          const m = /Summary:[\s\S]*?I:\s*(-?[\d.]+|-inf)\s*LUFS/.exec(stderr);
          if (err || !m) reject(new Error(`no loudness for ${file}: ${stderr.slice(-500)}`));
          else resolve(Number(m[1]));
        });
      });
    }

    it("normalises a 0.3 s clip, shorter than one 400 ms gating block: measured looped, not taken for silence", async () => {
      // lavfi's sine peaks at 1/8; +11 dB puts this one at about -10 LUFS (a notification sound).
      const clip = await generate(bin.ffmpeg, [
        "-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000:duration=0.3,volume=11dB", "-ac", "2", "-c:a", "pcm_s16le", "-f", "wav",
      ], path.join(dir, "short.wav"));
      expect(Math.abs((await loopedLoudness(clip, 30)) - -10)).toBeLessThan(1);
      const videoId = await upload(clip);
      const jobId = await submit(AUDIO, "transcodeAudio", { videoId, format: "AAC", normalize: true, loudnessTarget: -16 });
      await engine.drain();
      const j = await job(jobId);
      expect(j.status).toBe("SUCCEEDED");
      expect(j.events.some((e) => e.kind === "LOG" && /silent/.test(e.message ?? ""))).toBe(false);
      expect(j.result.normalized).toBe(true);
      expect(Math.abs(j.result.inputLoudness.integratedLufs - -10)).toBeLessThan(1);
      expect(Math.abs(j.result.outputLoudness.integratedLufs - -16)).toBeLessThan(1);
      const [a] = (await outputs(videoId)).audioTracks;
      const got = await download(a.url, "short-normalized.m4a");
      expect(Math.abs((await loopedLoudness(got.file, 30)) - -16)).toBeLessThan(1);
    });

    it("keeps calling real silence silent, however short: encoded without normalisation", async () => {
      const silence = await generate(bin.ffmpeg, [
        "-f", "lavfi", "-i", "anullsrc=channel_layout=stereo:sample_rate=48000", "-t", "0.3", "-c:a", "pcm_s16le", "-f", "wav",
      ], path.join(dir, "silence.wav"));
      const jobId = await submit(AUDIO, "transcodeAudio", { videoId: await upload(silence), format: "AAC", normalize: true });
      await engine.drain();
      const j = await job(jobId);
      expect(j.status).toBe("SUCCEEDED");
      expect(j.result).toMatchObject({ normalized: false, outputLoudness: null });
      expect(j.events.some((e) => e.kind === "LOG" && /silent/.test(e.message ?? ""))).toBe(true);
    });

    it("refuses a source without audio: VIDEO_FORMAT_UNSUPPORTED", async () => {
      const videoId = await upload(await makeVideo(dir, { ffmpeg: bin.ffmpeg, seconds: 2, audio: false }));
      const jobId = await submit(AUDIO, "transcodeAudio", { videoId, format: "MP3" });
      await engine.drain();
      const j = await job(jobId);
      expect(j).toMatchObject({ status: "FAILED", error: { code: "VIDEO_FORMAT_UNSUPPORTED", message: "The source has no audio stream." } });
      expect((await outputs(videoId)).audioTracks).toEqual([]);
    });
  });
});
