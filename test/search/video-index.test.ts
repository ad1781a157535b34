// video.index (indexVideo) against both ffmpeg builds, with the real OCR pool: videos the
// test draws text on at known times (video-index-fixtures.ts) must come back as segments of
// the right text, starting within 1 s of when it appears and ending within about 1 s of
// when it goes, with boxes where it was drawn. Also: VFR, a clip shorter than the interval,
// no text at all, a re-run, a cancel during OCR and one after it, an audio-only source and
// inputs that are refused.
import { readdirSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { idOf } from "../../src/graphql/ids.ts";
import { cancelJob } from "../../src/services/jobs.ts";
import { OcrPool } from "../../src/tools/ocr/pool.ts";
import { createTestDatabase, waitFor, type TestDb } from "../helpers.ts";
import { binaries } from "../media/fixtures.ts";
import { Engine } from "../../src/engine/engine.ts";
import { Ffmpeg } from "../../src/tools/ffmpeg/ffmpeg.ts";
import { createTestApi, type Api } from "../graphql/api-helpers.ts";
import { log } from "../helpers.ts";
import { audioOnly, harbourVideo, noTextVideo, shortClip, subtitledVideo, transportStream, vfrVideo } from "./video-index-fixtures.ts";

let db: TestDb;
let ocr: OcrPool;
beforeAll(async () => {
  db = await createTestDatabase();
  ocr = new OcrPool({ size: 2 });
});
afterAll(async () => {
  await ocr?.close();
  await db?.drop();
});

const CREATE_VIDEO = `mutation($input: CreateVideoInput!) { createVideo(input: $input) { video { id } } }`;
const INDEX = `mutation($input: IndexVideoInput!) { indexVideo(input: $input) { job { id type status } video { id } } }`;
const JOB = `query($id: ID!) { job(id: $id) { status result error { code message } } }`;

type Segment = { text: string; mode: string; kind: string; start_ms: number; duration_ms: number; box: { x: number; y: number; width: number; height: number }; confidence: number; language: string | null; config: string };

// OCR on a 2-core machine shared with other test files: minutes, not seconds, when it is busy.
describe.each(binaries())("video.index with the $name ffmpeg", { timeout: 300_000 }, (bin) => {
  let env: { api: Api; engine: Engine; key: string; org: string; dir: string };
  beforeAll(async () => {
    const ffmpeg = await Ffmpeg.resolve({ ffmpegPath: bin.ffmpeg, ffprobePath: bin.ffprobe });
    const api = await createTestApi(db, { ffmpeg, ocr });
    const tenant = await api.tenant();
    env = {
      api, engine: new Engine({ pool: db.pool, registry: api.registry, log, concurrency: 1 }), key: tenant.key, org: tenant.org.id,
      dir: await mkdtemp(path.join(os.tmpdir(), "spool-video-index-test-")),
    };
  });
  afterAll(async () => {
    await env?.engine.stop(2_000);
    await env?.api.close();
    if (env) await rm(env.dir, { recursive: true, force: true });
  });

  async function upload(make: (ffmpeg: string, out: string) => Promise<string>, name: string): Promise<string> {
    const file = await make(bin.ffmpeg, path.join(env.dir, name));
    const r = await env.api.gqlUpload(CREATE_VIDEO, { input: { file: null } }, { "input.file": { bytes: await readFile(file), name } }, env.key);
    expect(r.errors).toBeUndefined();
    return r.data.createVideo.video.id;
  }

  async function submit(input: Record<string, unknown>) {
    return env.api.gql(INDEX, { input }, env.key);
  }

  async function run(videoId: string, input: Record<string, unknown> = {}) {
    const r = await submit({ videoId, modes: ["VISUAL"], ...input });
    expect(r.errors).toBeUndefined();
    expect(r.data.indexVideo.job).toMatchObject({ type: "video.index", status: "QUEUED" });
    await env.engine.drain();
    return { id: r.data.indexVideo.job.id as string, ...(await job(r.data.indexVideo.job.id)) };
  }

  async function job(id: string) {
    const r = await env.api.gql(JOB, { id }, env.key);
    expect(r.errors).toBeUndefined();
    return r.data.job;
  }

  async function segments(videoId: string): Promise<Segment[]> {
    const { rows } = await db.pool.query<Segment>(
      `select text, mode, kind, start_ms, duration_ms, box, confidence, language, config::text as config from search_segments
       where item_id = $1 and source = 'visual' order by start_ms, id`, [idOf("Video", videoId)]);
    return rows;
  }

  const find = (segs: Segment[], word: string) => segs.filter((s) => s.text.toLowerCase().includes(word.toLowerCase()));

  let harbour: string;
  it("reads HARBOUR and LIGHTHOUSE 42 off a textured video with a cut, each once, at their times and places", async () => {
    harbour = await upload(harbourVideo, "harbour.mp4");
    const j = await run(harbour);
    expect(j.error).toBeNull();
    expect(j.status).toBe("SUCCEEDED");
    // 0..6 s every second, the cut at 6.6 s, then every second from it: 13 frames.
    expect(j.result).toMatchObject({ modes: ["VISUAL"], frames: 13, intervalSeconds: 1, durationSeconds: expect.closeTo(12, 1) });
    expect(JSON.stringify(j.result).length).toBeLessThan(400);

    const segs = await segments(harbour);
    expect(j.result.segments).toBe(segs.length);
    const [h, ...moreH] = find(segs, "harbour");
    expect(h, JSON.stringify(segs.map((s) => s.text))).toBeDefined();
    expect(moreH).toEqual([]);
    expect(h!.text.toLowerCase()).toBe("harbour");
    expect(Math.abs(h!.start_ms - 2000)).toBeLessThanOrEqual(1000);
    expect(Math.abs(h!.start_ms + h!.duration_ms - 5000)).toBeLessThanOrEqual(1000);
    // A subtitle: centred, near the bottom of the 640x360 picture (source pixels, not OCR's).
    expect(Math.abs(h!.box.x + h!.box.width / 2 - 320)).toBeLessThan(30);
    expect(h!.box.y).toBeGreaterThan(250);
    expect(h!.box.y + h!.box.height).toBeLessThanOrEqual(360);

    const [l, ...moreL] = find(segs, "lighthouse");
    expect(l, JSON.stringify(segs.map((s) => s.text))).toBeDefined();
    expect(moreL).toEqual([]);
    expect(l!.text.toLowerCase()).toBe("lighthouse 42");
    expect(Math.abs(l!.start_ms - 7500)).toBeLessThanOrEqual(1000);
    expect(Math.abs(l!.start_ms + l!.duration_ms - 10_000)).toBeLessThanOrEqual(1000);
    // A lower-third drawn at (40, 40), about 10 characters of 40 px type wide.
    expect(Math.abs(l!.box.x - 40)).toBeLessThan(15);
    expect(Math.abs(l!.box.y - 40)).toBeLessThan(15);
    expect(l!.box.width).toBeGreaterThan(250);
    expect(l!.box.height).toBeLessThan(80);

    for (const s of segs) {
      expect(s).toMatchObject({ mode: "VISUAL", kind: "ON_SCREEN_TEXT", language: "eng", config: "english" });
      expect(s.confidence).toBeGreaterThanOrEqual(60);
      expect(s.duration_ms).toBeGreaterThan(0);
      expect(s.start_ms + s.duration_ms).toBeLessThanOrEqual(12_100);
    }
    // The probe is on the Video, so search's duration and quality filters see it.
    const { rows: [item] } = await db.pool.query(`select duration_sec, quality from search_items where item_id = $1`, [idOf("Video", harbour)]);
    expect(item).toMatchObject({ duration_sec: expect.closeTo(12, 1), quality: "SD" });
    const { rows: [hit] } = await db.pool.query(
      `select count(*)::int as n from search_segments where item_id = $1 and mode = 'VISUAL' and tsv @@ websearch_to_tsquery('english', 'lighthouses')`, [idOf("Video", harbour)]);
    expect(hit.n).toBe(1);
  });

  it("by default both modes: the burnt-in text and the subtitle stream, each found by search with its time", async () => {
    const id = await upload(subtitledVideo, "subtitled.mkv");
    const r = await submit({ videoId: id });
    expect(r.errors).toBeUndefined();
    await env.engine.drain();
    const j = await job(r.data.indexVideo.job.id);
    expect(j.error).toBeNull();
    expect(j.result).toMatchObject({ modes: ["VISUAL", "AUDIO"], captions: { tracks: 1, segments: 1, skipped: 0 } });
    const [quay, ...more] = find(await segments(id), "quay");
    expect(more).toEqual([]);
    expect(Math.abs(quay!.start_ms - 1000)).toBeLessThanOrEqual(1000);
    expect(Math.abs(quay!.start_ms + quay!.duration_ms - 4000)).toBeLessThanOrEqual(1000);
    const { rows: cues } = await db.pool.query(`select mode, kind, text, start_ms, duration_ms from search_segments where item_id = $1 and kind = 'CAPTION'`, [idOf("Video", id)]);
    expect(cues).toEqual([{ mode: "AUDIO", kind: "CAPTION", text: "The ferry leaves at noon & returns", start_ms: 1000, duration_ms: 2500 }]);

    const SEARCH = `query($q: String!, $modes: [SearchMode!]) { search(query: $q, modes: $modes) {
      totalCount edges { node { item { ... on Video { id } } matches { kind mode startSeconds durationSeconds box { x y width height } confidence snippet } } } } }`;
    const seen = await env.api.gql(SEARCH, { q: "quay", modes: ["VISUAL"] }, env.key);
    expect(seen.errors).toBeUndefined();
    expect(seen.data.search.totalCount).toBe(1);
    const [m] = seen.data.search.edges[0].node.matches;
    expect(seen.data.search.edges[0].node.item.id).toBe(id);
    expect(m).toMatchObject({ kind: "ON_SCREEN_TEXT", mode: "VISUAL", startSeconds: quay!.start_ms / 1000, box: quay!.box });
    expect(m.snippet.toLowerCase()).toContain("<mark>quay</mark>");
    const heard = await env.api.gql(SEARCH, { q: "ferry", modes: ["AUDIO"] }, env.key);
    expect(heard.data.search.edges[0].node.matches[0]).toMatchObject({ kind: "CAPTION", startSeconds: 1, durationSeconds: 2.5 });
    // Modes filter: the spoken word is not on screen.
    expect((await env.api.gql(SEARCH, { q: "ferry", modes: ["VISUAL"] }, env.key)).data.search.totalCount).toBe(0);
  });

  it("a re-run replaces the segments: same texts, no duplicates", async () => {
    const before = await segments(harbour);
    const j = await run(harbour, { idempotencyKey: `again-${bin.name}` });
    expect(j.status).toBe("SUCCEEDED");
    const after = await segments(harbour);
    expect(after.map((s) => [s.text, s.start_ms, s.duration_ms])).toEqual(before.map((s) => [s.text, s.start_ms, s.duration_ms]));
    expect(find(after, "harbour")).toHaveLength(1);
  });

  it("a VFR WebM (dropped frames, jittered millisecond times) keeps its times", async () => {
    const id = await upload(vfrVideo, "vfr.webm");
    const j = await run(id);
    expect(j.status).toBe("SUCCEEDED");
    const [m, ...more] = find(await segments(id), "marina");
    expect(m).toBeDefined();
    expect(more).toEqual([]);
    expect(Math.abs(m!.start_ms - 1000)).toBeLessThanOrEqual(1000);
    expect(Math.abs(m!.start_ms + m!.duration_ms - 3000)).toBeLessThanOrEqual(1000);
    // A card in the middle of the 480x270 picture.
    expect(Math.abs(m!.box.x + m!.box.width / 2 - 240)).toBeLessThan(30);
    expect(Math.abs(m!.box.y + m!.box.height / 2 - 135)).toBeLessThan(30);
  });

  it("an MPEG-TS (timestamps from 1.48 s): times count from the first frame, as players show them", async () => {
    const id = await upload(transportStream, "pier.ts");
    const j = await run(id);
    expect(j.status).toBe("SUCCEEDED");
    const [p, ...more] = find(await segments(id), "pier");
    expect(p).toBeDefined();
    expect(more).toEqual([]);
    expect(Math.abs(p!.start_ms - 1000)).toBeLessThanOrEqual(1000);
    expect(Math.abs(p!.start_ms + p!.duration_ms - 3000)).toBeLessThanOrEqual(1000);
  });

  it("publishes video.indexed (modes, segment count, job) with the segments; a run cancelled before its store publishes nothing", async () => {
    const { rows: [endpoint] } = await db.pool.query(
      `insert into webhook_endpoints (organization_id, url, event_types, secret) values ($1, 'http://127.0.0.1:9/hook', array['video.indexed'], 'unused') returning id`, [env.org]);
    const messages = async (videoId: string) => (await db.pool.query<{ body: string }>(
      `select body from webhook_messages where organization_id = $1 and event_type = 'video.indexed'`, [env.org])).rows.map((r) => JSON.parse(r.body)).filter((b) => b.data.videoId === videoId);
    // The delivery jobs are not this test's subject: removed before anything runs them.
    const dropDeliveries = () => db.pool.query(`delete from jobs where organization_id = $1 and type = 'webhook.deliver'`, [env.org]);
    try {
      const id = await upload(shortClip, "webhook.mp4");
      const r = await submit({ videoId: id, modes: ["VISUAL"] });
      expect(await env.engine.runOnce()).toBe(1);
      await dropDeliveries();
      expect(await job(r.data.indexVideo.job.id)).toMatchObject({ status: "SUCCEEDED", result: { segments: 1 } });
      expect((await messages(id)).map((m) => m.data)).toEqual([{ videoId: id, modes: ["VISUAL"], source: "visual", segmentCount: 1, jobId: r.data.indexVideo.job.id }]);

      // Cancelled once both readings of its one frame are done: the fenced store refuses it all.
      const again = await submit({ videoId: id, modes: ["VISUAL"], idempotencyKey: `cancelled-${bin.name}` });
      const againId = idOf("Job", again.data.indexVideo.job.id);
      const recognize = ocr.recognize.bind(ocr);
      let calls = 0;
      ocr.recognize = async (image, opts) => {
        const result = await recognize(image, opts);
        if (++calls === 2) await cancelJob(db.pool, env.org, againId);
        return result;
      };
      try {
        await env.engine.runOnce();
      } finally {
        ocr.recognize = recognize;
      }
      await dropDeliveries();
      expect(calls).toBe(2);
      expect(await job(again.data.indexVideo.job.id)).toMatchObject({ status: "CANCELLED" });
      expect(await messages(id)).toHaveLength(1);
    } finally {
      await db.pool.query(`delete from webhook_endpoints where id = $1`, [endpoint.id]);
    }
  });

  it("a 0.6 s clip: one frame, its text lasting to the end", async () => {
    const id = await upload(shortClip, "short.mp4");
    const j = await run(id, { intervalSeconds: 5 });
    expect(j.status).toBe("SUCCEEDED");
    expect(j.result.frames).toBe(1);
    const segs = await segments(id);
    expect(segs.map((s) => [s.text.toLowerCase(), s.start_ms])).toEqual([["beacon", 0]]);
    expect(Math.abs(segs[0]!.duration_ms - 600)).toBeLessThanOrEqual(100);
  });

  it("a video without text succeeds with no segments", async () => {
    const id = await upload(noTextVideo, "plain.mp4");
    const j = await run(id);
    expect(j.status).toBe("SUCCEEDED");
    expect(j.result).toMatchObject({ frames: 5, segments: 0 });
    expect(await segments(id)).toEqual([]);
  });

  it("an audio-only Video asked for VISUAL fails for good with VIDEO_FORMAT_UNSUPPORTED, writing nothing", async () => {
    const id = await upload(audioOnly, "sound.mp3");
    const j = await run(id);
    expect(j).toMatchObject({ status: "FAILED", error: { code: "VIDEO_FORMAT_UNSUPPORTED" } });
    expect(j.error.message).toMatch(/no video stream/);
    expect(await segments(id)).toEqual([]);
  });

  it("an audio-only Video with the modes left unset is indexed for its AUDIO only, and says so", async () => {
    const id = await upload(audioOnly, "sound-default.mp3");
    const r = await submit({ videoId: id });
    expect(r.errors).toBeUndefined();
    await env.engine.drain();
    const j = await env.api.gql(`query($id: ID!) { job(id: $id) { status result error { code } events(first: 100) { edges { node { kind message } } } } }`, { id: r.data.indexVideo.job.id }, env.key);
    expect(j.data.job).toMatchObject({ status: "SUCCEEDED", error: null, result: { modes: ["AUDIO"], frames: 0, segments: 0, captions: { tracks: 0, segments: 0 } } });
    const logs = j.data.job.events.edges.map((e: { node: { message: string | null } }) => e.node.message);
    expect(logs).toContain("no video stream (audio only): indexing its AUDIO only");
  });

  it("refuses inputs out of range, unknown languages and another organization's Video, enqueuing nothing", async () => {
    const count = async () => (await db.pool.query(`select count(*)::int as n from jobs where type = 'video.index'`)).rows[0].n;
    const before = await count();
    for (const input of [{ intervalSeconds: 0.1 }, { intervalSeconds: 61 }, { minConfidence: 101 }, { sceneThreshold: 0 }, { modes: [] }, { modes: ["VISUAL", "VISUAL"] }, { language: "xx_nope" }]) {
      const r = await submit({ videoId: harbour, ...input });
      expect({ input, code: r.errors?.[0]?.extensions?.code }).toEqual({ input, code: "INVALID_INPUT" });
    }
    const other = await env.api.tenant();
    const r = await env.api.gql(INDEX, { input: { videoId: harbour } }, other.key);
    expect(r.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    expect(await count()).toBe(before);
  });

  it("cancelled during OCR: the job is CANCELLED, no segment is written, no frame is left on disk", async () => {
    const id = await upload(harbourVideo, "cancel.mp4");
    const r = await submit({ videoId: id, modes: ["VISUAL"] });
    const jobId = idOf("Job", r.data.indexVideo.job.id);
    const recognize = ocr.recognize.bind(ocr);
    let calls = 0;
    ocr.recognize = async (image, opts) => {
      if (++calls === 3) await cancelJob(db.pool, env.org, jobId);
      return recognize(image, opts);
    };
    try {
      await env.engine.drain();
    } finally {
      ocr.recognize = recognize;
    }
    expect(await job(r.data.indexVideo.job.id)).toMatchObject({ status: "CANCELLED", result: null });
    expect(calls).toBeLessThan(26);
    expect(await segments(id)).toEqual([]);
    expect(readdirSync(os.tmpdir()).filter((n) => n.startsWith(`spool-${jobId.slice(0, 8)}-`))).toEqual([]);
  });

  it("cancelled after the last frame was read: the fenced store writes nothing", async () => {
    const id = await upload(shortClip, "late-cancel.mp4");
    const r = await submit({ videoId: id, modes: ["VISUAL"] });
    const jobId = idOf("Job", r.data.indexVideo.job.id);
    const recognize = ocr.recognize.bind(ocr);
    let calls = 0;
    ocr.recognize = async (image, opts) => {
      const result = await recognize(image, opts);
      // The clip is one frame, read twice: after the second reading the job is cancelled.
      if (++calls === 2) {
        await cancelJob(db.pool, env.org, jobId);
        await waitFor(async () => (await db.pool.query(`select status from jobs where id = $1`, [jobId])).rows[0].status === "CANCELLED", "the cancel");
      }
      return result;
    };
    try {
      await env.engine.drain();
    } finally {
      ocr.recognize = recognize;
    }
    expect(calls).toBe(2);
    expect(await job(r.data.indexVideo.job.id)).toMatchObject({ status: "CANCELLED", result: null });
    expect(await segments(id)).toEqual([]);
  });
});
