// Subtitle streams inside uploaded files (video.index, mode AUDIO): an MKV carrying a SubRip
// and an ASS stream and an MP4 carrying a mov_text stream, each made by ffmpeg from a SubRip
// file generated here, become caption tracks with the cue times of that file, with both
// ffmpeg builds. A re-run replaces; a stale attempt writes nothing; a file with no subtitles
// stores nothing.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Job, JobContext } from "../../src/engine/types.ts";
import { indexSubtitleStreams } from "../../src/processors/video-index/subtitles.ts";
import { parseCaptions } from "../../src/tools/captions/parse.ts";
import { Ffmpeg } from "../../src/tools/ffmpeg/ffmpeg.ts";
import { subtitleStreams } from "../../src/tools/ffmpeg/subtitles.ts";
import { createTestApi, type Api } from "../graphql/api-helpers.ts";
import { createTestDatabase, log, type TestDb } from "../helpers.ts";
import { binaries, generate, makeVideo } from "../media/fixtures.ts";

// Cue times a real file would have: sub-second starts, a cue past one minute, one over an hour in.
const CUES = [
  { start: 500, end: 1200, srt: "<i>Harbour</i> &amp; lighthouse", text: "Harbour & lighthouse" },
  { start: 1500, end: 2750, srt: "Second cue\r\nwith two lines", text: "Second cue with two lines" },
  { start: 2800, end: 2950, srt: "1984", text: "1984" },
];

function srtTime(ms: number): string {
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${p(Math.floor(ms / 3_600_000))}:${p(Math.floor(ms / 60_000) % 60)}:${p(Math.floor(ms / 1000) % 60)},${p(ms % 1000, 3)}`;
}
const SRT = "\uFEFF" + CUES.map((c, i) => `${i}\r\n${srtTime(c.start)} --> ${srtTime(c.end)}\r\n${c.srt}\r\n`).join("\r\n");

let db: TestDb;
let api: Api;
let dir: string;
let key: string;
let orgId: string;
// Fixtures are made by the newest ffmpeg here: the 2018 npm build cannot write Matroska's hearing-impaired flag.
const maker = binaries().at(-1)!;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await createTestApi(db);
  const t = await api.tenant();
  key = t.key;
  orgId = t.org.id;
  dir = await mkdtemp(path.join(os.tmpdir(), "spool-subs-"));
  await writeFile(path.join(dir, "cues.srt"), SRT);
});
afterAll(async () => {
  await api?.close();
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function makeMkv(): Promise<string> {
  const srt = path.join(dir, "cues.srt");
  return generate(maker.ffmpeg, [
    "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=3", "-i", srt, "-i", srt,
    "-map", "0", "-map", "1", "-map", "2", "-c:v", "libx264", "-preset", "ultrafast", "-c:s:0", "srt", "-c:s:1", "ass",
    "-metadata:s:s:0", "language=eng", "-metadata:s:s:0", "title=English SDH", "-disposition:s:0", "+hearing_impaired",
    "-metadata:s:s:1", "language=fre", "-f", "matroska",
  ], path.join(dir, "two-subs.mkv"));
}

async function makeMp4(): Promise<string> {
  return generate(maker.ffmpeg, [
    "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=3", "-i", path.join(dir, "cues.srt"),
    "-map", "0", "-map", "1", "-c:v", "libx264", "-preset", "ultrafast", "-c:s", "mov_text", "-metadata:s:s:0", "language=ger", "-f", "mp4",
  ], path.join(dir, "mov-text.mp4"));
}

async function createVideo(file: string): Promise<string> {
  const r = await api.gqlUpload(`mutation($input: CreateVideoInput!) { createVideo(input: $input) { video { id } } }`,
    { input: { file: null } }, { "input.file": { bytes: await readFile(file), name: path.basename(file) } }, key);
  expect(r.errors).toBeUndefined();
  const { rows } = await db.pool.query(`select v.id from videos v join assets a on a.video_id = v.id where a.filename = $1 and v.organization_id = $2 order by v.created_at desc limit 1`, [path.basename(file), orgId]);
  return rows[0].id;
}

async function runningJob(videoId: string): Promise<Job<{ videoId: string }>> {
  const { rows } = await db.pool.query(`insert into jobs (organization_id, type, status, attempts, input) values ($1, 'video.index', 'RUNNING', 1, $2) returning id`, [orgId, { videoId, modes: ["audio"] }]);
  return { id: rows[0].id, organizationId: orgId, input: { videoId } } as Job<{ videoId: string }>;
}

function context(attempt = 1): JobContext & { lines: string[] } {
  const lines: string[] = [];
  return {
    signal: new AbortController().signal, attempt, log, lines,
    progress: () => undefined, stage: async () => undefined, logLine: (m: string) => void lines.push(m),
  };
}

async function run(ffmpeg: Ffmpeg, videoId: string, job: Job<{ videoId: string }>, ctx: JobContext) {
  const { rows } = await db.pool.query(`select key from assets where video_id = $1 and role = 'SOURCE'`, [videoId]);
  const work = await mkdtemp(path.join(os.tmpdir(), "spool-subs-run-"));
  try {
    return await api.assets.storage.withLocalFile(rows[0].key, (local) => indexSubtitleStreams({ assets: api.assets, pool: db.pool, ffmpeg }, job, ctx, { local, dir: work }));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function tracksOf(videoId: string) {
  const { rows } = await db.pool.query(
    `select t.*, a.key, a.role, a.kind as asset_kind, a.content_type, a.label as asset_label, a.job_id as asset_job
     from caption_tracks t join assets a on a.id = t.asset_id where t.video_id = $1 order by t.stream_index`, [videoId]);
  return rows;
}

async function segmentsOf(trackId: string) {
  const { rows } = await db.pool.query(`select mode, kind, text, start_ms, duration_ms, language, config::text from search_segments where source = $1 order by start_ms`, [`captions:${trackId}`]);
  return rows;
}

async function storedText(k: string): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of await api.assets.storage.get(k)) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function expectCueTimes(segments: Array<{ start_ms: number; duration_ms: number; text: string }>) {
  expect(segments.map((s) => s.text)).toEqual(CUES.map((c) => c.text));
  for (const [i, s] of segments.entries()) {
    // Matroska and mp4 keep milliseconds: the times are the SubRip file's.
    expect(Math.abs(s.start_ms - CUES[i]!.start)).toBeLessThanOrEqual(1);
    expect(Math.abs(s.start_ms + s.duration_ms - CUES[i]!.end)).toBeLessThanOrEqual(1);
  }
}

describe.each(binaries())("subtitle streams with the $name ffmpeg", (bin) => {
  let ffmpeg: Ffmpeg;
  beforeAll(async () => {
    ffmpeg = await Ffmpeg.resolve({ ffmpegPath: bin.ffmpeg, ffprobePath: bin.ffprobe });
  });

  it("an MKV's SubRip and ASS streams become two tracks with the file's cue times; a re-run replaces them", async () => {
    const videoId = await createVideo(await makeMkv());
    const job = await runningJob(videoId);
    const result = await run(ffmpeg, videoId, job, context());
    expect(result).toEqual({ tracks: 2, segments: 6, skipped: [] });
    const tracks = await tracksOf(videoId);
    expect(tracks.map((t) => [t.stream_index, t.language, t.label, t.cue_count, t.job_id])).toEqual([
      [1, "en", "English SDH", 3, job.id], [2, "fr", "French", 3, job.id],
    ]);
    // The newer muxer writes Matroska's hearing-impaired flag: such a track is CAPTIONS (WebVTT's kind for SDH).
    expect(tracks[0].kind).toBe(maker.name === "system" ? "CAPTIONS" : "SUBTITLES");
    expect(tracks[1].kind).toBe("SUBTITLES");
    for (const t of tracks) {
      expect(t).toMatchObject({ role: "CAPTIONS", asset_kind: "CAPTIONS", content_type: "text/vtt", asset_label: t.language, asset_job: job.id, source_asset_id: null });
      const segs = await segmentsOf(t.id);
      expectCueTimes(segs);
      expect(segs[0]).toMatchObject({ mode: "AUDIO", kind: "CAPTION", language: t.language === "en" ? "eng" : "fra", config: t.language === "en" ? "english" : "french" });
      const vtt = parseCaptions(await storedText(t.key));
      expect(vtt.format).toBe("webvtt");
      expect(vtt.cues.map((c) => [c.startMs, c.endMs, c.text])).toEqual(segs.map((s) => [s.start_ms, s.start_ms + s.duration_ms, s.text]));
      expect(vtt.cues[0]!.lines).toEqual(["<i>Harbour</i> &amp; lighthouse"]);
    }
    const item = await db.pool.query(`select languages from search_items where item_id = $1`, [videoId]);
    expect(item.rows[0].languages).toEqual(["eng", "fra"]);

    // A re-run (a new job) replaces the tracks of the same streams: new rows, the old files gone, no duplicate segments.
    const again = await run(ffmpeg, videoId, await runningJob(videoId), context());
    expect(again.tracks).toBe(2);
    const replaced = await tracksOf(videoId);
    expect(replaced).toHaveLength(2);
    expect(replaced.map((t) => t.id)).not.toContain(tracks[0].id);
    for (const t of tracks) await expect(api.assets.storage.get(t.key)).rejects.toMatchObject({ code: "NOT_FOUND" });
    const all = await db.pool.query(`select count(*)::int as n from search_segments where item_id = $1 and kind = 'CAPTION'`, [videoId]);
    expect(all.rows[0].n).toBe(6);
  });

  it("an MP4's mov_text stream becomes a German track with the same times", async () => {
    const videoId = await createVideo(await makeMp4());
    const result = await run(ffmpeg, videoId, await runningJob(videoId), context());
    expect(result).toMatchObject({ tracks: 1, segments: 3 });
    const [track] = await tracksOf(videoId);
    expect(track).toMatchObject({ stream_index: 1, language: "de", label: "German", kind: "SUBTITLES" });
    const segs = await segmentsOf(track.id);
    expectCueTimes(segs);
    expect(segs[0]).toMatchObject({ language: "deu", config: "german" });
  });

  it("an attempt that no longer owns its job stores nothing and leaves no file", async () => {
    const videoId = await createVideo(await makeMkv());
    const job = await runningJob(videoId);
    const before = await filesUnderOrg();
    await expect(run(ffmpeg, videoId, job, context(2))).rejects.toMatchObject({ code: "LEASE_LOST" });
    expect(await tracksOf(videoId)).toEqual([]);
    expect(await filesUnderOrg()).toEqual(before);
  });

  it("a cancelled run stops with ABORTED and stores nothing", async () => {
    const videoId = await createVideo(await makeMkv());
    const ctx = context();
    const abort = new AbortController();
    abort.abort(new Error("cancelled"));
    await expect(run(ffmpeg, videoId, await runningJob(videoId), { ...ctx, signal: abort.signal })).rejects.toMatchObject({ code: "ABORTED" });
    expect(await tracksOf(videoId)).toEqual([]);
  });

  it("a video without subtitle streams stores nothing", async () => {
    const file = await makeVideo(dir, { ffmpeg: bin.ffmpeg, seconds: 1, name: `plain-${bin.name}.mp4` });
    const videoId = await createVideo(file);
    expect(await run(ffmpeg, videoId, await runningJob(videoId), context())).toEqual({ tracks: 0, segments: 0, skipped: [] });
  });
});

async function filesUnderOrg(): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of api.assets.storage.list(`orgs/${orgId}/`)) keys.push(o.key);
  return keys.sort();
}

describe("which streams are extracted", () => {
  it("bitmap subtitles are listed as such (never extracted); tags are read in either case; und is no language", () => {
    // ffprobe's stream entries as a Blu-ray remux has them (PGS) beside text ones.
    const streams = subtitleStreams([
      { index: 0, codec_type: "video", codec_name: "h264" },
      { index: 3, codec_type: "subtitle", codec_name: "hdmv_pgs_subtitle", tags: { language: "eng" }, disposition: { default: 1, forced: 0, hearing_impaired: 0 } },
      { index: 2, codec_type: "subtitle", codec_name: "subrip", tags: { LANGUAGE: "spa", TITLE: "Español (forzados)" }, disposition: { forced: 1 } },
      { index: 4, codec_type: "subtitle", codec_name: "dvd_subtitle", tags: { language: "und" } },
      { index: 5, codec_type: "subtitle", codec_name: "eia_608" },
    ]);
    expect(streams.map((s) => [s.index, s.codec, s.text, s.bitmap, s.language, s.title, s.forced])).toEqual([
      [2, "subrip", true, false, "spa", "Español (forzados)", true],
      [3, "hdmv_pgs_subtitle", false, true, "eng", null, false],
      [4, "dvd_subtitle", false, true, null, null, false],
      [5, "eia_608", false, false, null, null, false],
    ]);
  });
});
