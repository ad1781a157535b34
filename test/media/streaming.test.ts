// media.streaming end to end, against both ffmpeg builds: submitted through the typed
// createStreamingPackage mutation, run by the engine, then the HLS package is read back
// the way a player reads it (signed Asset.url → master → variant → segments, from the
// listening server), segments are probed, the DASH manifest is parsed as XML and every
// file it names is fetched, and the ladder is played by hls.js in Debian's Chromium.
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../src/engine/engine.ts";
import { planLadder } from "../../src/processors/media-streaming.ts";
import { PgListener } from "../../src/pubsub/pg-listener.ts";
import { avcHighCodec, h264HighLevel, parseMasterPlaylist, parseMediaPlaylist, writeMasterPlaylist } from "../../src/tools/hls.ts";
import type { Api } from "../graphql/api-helpers.ts";
import { createTestDatabase, log, waitFor, type TestDb } from "../helpers.ts";
import { startMediaEnv, type MediaEnv } from "./harness.ts";
import { binaries, makeAudio, makeVideo } from "./fixtures.ts";
import { CHROMIUM, hasChromium, playHls } from "./player-page.ts";

// fast-xml-parser 3 (a dev dependency, the version s3rver also uses): only validate/parse are used.
const xml = createRequire(import.meta.url)("fast-xml-parser") as {
  validate(text: string): true | { err: { msg: string } };
  parse(text: string, opts: Record<string, unknown>): any;
};

let db: TestDb;
let listener: PgListener;
const scratch = mkdtempSync(path.join(os.tmpdir(), "spool-streaming-test-"));

beforeAll(async () => {
  db = await createTestDatabase();
  listener = new PgListener(db.url, log);
  await listener.start();
});
afterAll(async () => {
  await listener?.stop();
  await db?.drop();
  rmSync(scratch, { recursive: true, force: true });
});

const CREATE_VIDEO = `mutation($input: CreateVideoInput!) { createVideo(input: $input) { video { id status } } }`;
const SUBMIT = `mutation($input: CreateStreamingPackageInput!) { createStreamingPackage(input: $input) { job { id status } video { id } } }`;
const JOB = `query($id: ID!) { job(id: $id) { status stage progress result error { code message }
  events(first: 100) { edges { node { kind message stage } } } } }`;
const PACKAGES = `query($id: ID!) { video(id: $id) { streamingPackages { id role filename contentType kind size url(expiresIn: 600, disposition: INLINE) } } }`;

function rawId(globalId: string): string {
  return Buffer.from(globalId, "base64").toString().split(":")[1]!;
}

/** ffprobe of a downloaded segment. GCONV_PATH: the npm ffprobe crashes on MPEG-TS without it (see the processor). */
function probeStreams(ffprobe: string, file: string): Promise<{ streams: Array<Record<string, any>>; format: Record<string, any> }> {
  return new Promise((resolve, reject) => {
    execFile(ffprobe, ["-v", "error", "-of", "json", "-show_entries", "stream=codec_type,codec_name,profile,level,width,height:format=duration", file],
      { env: { ...process.env, GCONV_PATH: "/nonexistent" }, timeout: 30_000 },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout))));
  });
}

describe("ladder planning and playlists (pure)", () => {
  it("picks the lowest H.264 High level that holds the rung, 3.0 at least", () => {
    expect(h264HighLevel(256, 144, 25, 214)).toBe(30);
    expect(h264HighLevel(640, 360, 30, 856)).toBe(30);
    expect(h264HighLevel(1280, 720, 30, 2996)).toBe(31);
    expect(h264HighLevel(1280, 720, 60, 2996)).toBe(32);
    expect(h264HighLevel(1920, 1080, 30, 5350)).toBe(40);
    expect(h264HighLevel(1920, 1080, 30, 30_000)).toBe(41);
    expect(h264HighLevel(1920, 1080, 60, 5350)).toBe(42);
    expect(h264HighLevel(3840, 2160, 30, 20_000)).toBe(51);
    expect(h264HighLevel(7680, 4320, 60, 20_000)).toBeNull();
    expect([30, 31, 40].map(avcHighCodec)).toEqual(["avc1.64001e", "avc1.64001f", "avc1.640028"]);
  });

  it("writes a master playlist it can read back, and refuses absolute or escaping URIs", () => {
    const text = writeMasterPlaylist([
      { uri: "360p/index.m3u8", bandwidth: 950_000, averageBandwidth: 900_000, resolution: { width: 640, height: 360 }, codecs: "avc1.64001e,mp4a.40.2", frameRate: 25 },
      { uri: "720p/index.m3u8", bandwidth: 3_100_000, resolution: { width: 1280, height: 720 }, codecs: "avc1.64001f" },
    ], { independentSegments: true });
    expect(text).toContain('#EXT-X-STREAM-INF:BANDWIDTH=950000,AVERAGE-BANDWIDTH=900000,RESOLUTION=640x360,FRAME-RATE=25.000,CODECS="avc1.64001e,mp4a.40.2"\n360p/index.m3u8\n');
    expect(parseMasterPlaylist(text)).toEqual([
      { uri: "360p/index.m3u8", bandwidth: 950_000, averageBandwidth: 900_000, resolution: { width: 640, height: 360 }, codecs: "avc1.64001e,mp4a.40.2", frameRate: 25 },
      { uri: "720p/index.m3u8", bandwidth: 3_100_000, averageBandwidth: null, resolution: { width: 1280, height: 720 }, codecs: "avc1.64001f", frameRate: null },
    ]);
    for (const uri of ["/abs/index.m3u8", "../x.m3u8", "http://evil/x.m3u8", "a//b.m3u8", "a b.m3u8"]) {
      expect(() => writeMasterPlaylist([{ uri, bandwidth: 1 }])).toThrow(/relative path/);
    }
    expect(() => parseMasterPlaylist("#EXTM3U\n#EXT-X-STREAM-INF:RESOLUTION=1x1\na.m3u8\n")).toThrow(/BANDWIDTH/);
  });

  it("plans widths from the displayed aspect ratio and keeps rungs not taller than the source", () => {
    const wide = planLadder({}, { width: 1920, height: 1080 }, 30, true);
    expect(wide.rungs.map((r) => [r.name, r.width, r.height, r.videoKbps, r.codecs])).toEqual([
      ["360p", 640, 360, 800, "avc1.64001e,mp4a.40.2"], ["720p", 1280, 720, 2800, "avc1.64001f,mp4a.40.2"], ["1080p", 1920, 1080, 5000, "avc1.640028,mp4a.40.2"],
    ]);
    const portrait = planLadder({}, { width: 720, height: 1280 }, 30, false);
    expect(portrait.rungs.map((r) => [r.width, r.height])).toEqual([[202, 360], [404, 720], [608, 1080]]);
    expect(portrait.dropped).toEqual([]);
    const asked = planLadder({ renditions: [{ height: 720, videoBitrateKbps: 2800, audioBitrateKbps: 128 }, { height: 480, videoBitrateKbps: 1400, audioBitrateKbps: 128 }] }, { width: 640, height: 480 }, 25, true);
    expect([asked.rungs.map((r) => r.name), asked.dropped]).toEqual([["480p"], [720]]);
    const tiny = planLadder({}, { width: 175, height: 131 }, 25, false);
    expect(tiny.rungs.map((r) => [r.width, r.height, r.codecs])).toEqual([[174, 130, "avc1.64001e"]]);
  });
});

describe.each(binaries())("media.streaming with the $name ffmpeg", (bin) => {
  let api: Api;
  let engine: Engine;
  let key: string;
  let base: string;
  let dir: string;
  let packaged: { masterUrl: string; heights: number[] } | undefined;

  let env: MediaEnv;
  beforeAll(async () => {
    env = await startMediaEnv(db, bin, { dirPrefix: "", pollMs: 50, dir: mkdtempSync(path.join(scratch, `${bin.name}-`)) });
    ({ api, engine, key, base, dir } = env);
  });
  afterAll(() => env?.close());

  /** GraphQL through the listening server, so Asset.url names that server. */
  async function http<T = any>(query: string, variables: Record<string, unknown>): Promise<{ data?: T; errors?: any[] }> {
    const res = await fetch(`${base}/graphql`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${key}` }, body: JSON.stringify({ query, variables }) });
    return (await res.json()) as { data?: T; errors?: any[] };
  }

  async function upload(file: string): Promise<string> {
    const r = await api.gqlUpload(CREATE_VIDEO, { input: { file: null } }, { "input.file": { bytes: readFileSync(file), name: path.basename(file) } }, key);
    expect(r.errors).toBeUndefined();
    expect(r.data.createVideo.video.status).toBe("READY");
    return r.data.createVideo.video.id;
  }

  async function submit(input: Record<string, unknown>) {
    const r = await api.gql(SUBMIT, { input }, key);
    expect(r.errors).toBeUndefined();
    return r.data.createStreamingPackage.job.id as string;
  }

  async function job(id: string) {
    return (await api.gql(JOB, { id }, key)).data.job as {
      status: string; stage: string | null; progress: number; result: any; error: { code: string; message: string } | null;
      events: { edges: Array<{ node: { kind: string; message: string | null; stage: string | null } }> };
    };
  }

  async function packagesOf(videoId: string) {
    const r = await http(PACKAGES, { id: videoId });
    expect(r.errors).toBeUndefined();
    const pkgs = r.data.video.streamingPackages as Array<any>;
    // label and media (MediaInfo) are read from the row: the Asset type does not expose them yet.
    for (const p of pkgs) {
      const { rows } = await db.pool.query(`select label, media from assets where id = $1`, [rawId(p.id)]);
      Object.assign(p, rows[0]);
    }
    return pkgs;
  }

  it("packages HLS and DASH from one decode: master lists the rungs, every segment is there and readable, all through the signed URL", async () => {
    const file = await makeVideo(dir, { ffmpeg: bin.ffmpeg, seconds: 5, width: 640, height: 360, fps: 25, audio: true });
    const videoId = await upload(file);
    const jobId = await submit({
      videoId, formats: ["HLS", "DASH"], segmentSeconds: 2,
      renditions: [{ height: 360, videoBitrateKbps: 800 }, { height: 144, videoBitrateKbps: 200, audioBitrateKbps: 64 }, { height: 240, videoBitrateKbps: 400, audioBitrateKbps: 96 }],
    });
    await engine.drain();
    const j = await job(jobId);
    expect(j.error).toBeNull();
    expect(j.status).toBe("SUCCEEDED");
    const heights = [144, 240, 360];
    const widths = [256, 426, 640];
    expect(j.result.renditions.map((r: any) => [r.height, r.width, r.codecs])).toEqual(heights.map((h, i) => [h, widths[i], "avc1.64001e,mp4a.40.2"]));
    expect(j.result.droppedHeights).toEqual([]);
    const stages = j.events.edges.map((e) => e.node).filter((n) => n.kind === "STAGE").map((n) => n.stage);
    expect(stages).toEqual(["probe", "encode[ladder]", "package", "store"]);
    const logs = j.events.edges.map((e) => e.node.message ?? "");
    for (const h of heights) expect(logs.some((m) => m.startsWith(`rendition ${h}p: `))).toBe(true);
    expect(logs.some((m) => /from one decode \(4 output\(s\), 6 video encoder\(s\)\)/.test(m))).toBe(true);

    const pkgs = await packagesOf(videoId);
    const hls = pkgs.find((p) => p.role === "HLS");
    const dash = pkgs.find((p) => p.role === "DASH");
    expect(pkgs).toHaveLength(2);
    expect(hls).toMatchObject({ id: expect.any(String), label: "hls", filename: "master.m3u8", contentType: "application/vnd.apple.mpegurl", kind: "VIDEO" });
    expect(dash).toMatchObject({ label: "dash", filename: "manifest.mpd", contentType: "application/dash+xml", kind: "VIDEO" });
    expect(rawId(hls.id)).toBe(j.result.hls);
    expect(rawId(dash.id)).toBe(j.result.dash);
    expect(hls.media).toMatchObject({ formatName: "hls", video: { codec: "h264", width: 640, height: 360 }, audio: { codec: "aac", channels: 2 } });
    expect(Math.abs(hls.media.durationSec - 5)).toBeLessThanOrEqual(0.04);
    expect(dash.media).toMatchObject({ formatName: "dash", video: { codec: "h264", width: 640, height: 360 } });

    // HLS, the way a player walks it: master → variant → segments, each by a relative URL.
    const masterUrl = hls.url as string;
    expect(new URL(masterUrl).origin).toBe(base);
    const masterRes = await fetch(masterUrl);
    expect(masterRes.status).toBe(200);
    expect(masterRes.headers.get("content-type")).toBe("application/vnd.apple.mpegurl");
    expect(masterRes.headers.get("access-control-allow-origin")).toBe("*");
    const masterText = await masterRes.text();
    expect(masterText).toContain("#EXT-X-INDEPENDENT-SEGMENTS");
    expect(masterText).not.toMatch(/:\/\/|^\//m);
    const variants = parseMasterPlaylist(masterText);
    expect(variants.map((v) => [v.uri, v.resolution, v.codecs, v.frameRate])).toEqual(
      heights.map((h, i) => [`${h}p/index.m3u8`, { width: widths[i], height: h }, "avc1.64001e,mp4a.40.2", 25]));
    for (const [i, v] of variants.entries()) {
      expect(v.bandwidth).toBe(j.result.renditions[i].bandwidth);
      expect(v.averageBandwidth).toBeGreaterThan(0);
      expect(v.bandwidth).toBeGreaterThanOrEqual(v.averageBandwidth!);
    }
    let probed = 0;
    for (const [i, v] of variants.entries()) {
      const variantUrl = new URL(v.uri, masterUrl);
      const res = await fetch(variantUrl);
      expect(res.status).toBe(200);
      const playlist = parseMediaPlaylist(await res.text());
      expect(playlist).toMatchObject({ playlistType: "VOD", endList: true, independentSegments: true, targetDurationSec: 2 });
      const durations = playlist.segments.map((s) => s.durationSec);
      expect(durations.length).toBe(3);
      for (const d of durations.slice(0, -1)) expect(Math.abs(d - 2)).toBeLessThanOrEqual(0.05);
      expect(durations.at(-1)!).toBeLessThanOrEqual(2.05);
      expect(Math.abs(durations.reduce((a, b) => a + b, 0) - 5)).toBeLessThanOrEqual(0.04);
      for (const [n, seg] of playlist.segments.entries()) {
        expect(seg.uri).toMatch(/^seg_\d{4}\.ts$/);
        const s = await fetch(new URL(seg.uri, variantUrl));
        expect(s.status).toBe(200);
        expect(s.headers.get("content-type")).toBe("video/mp2t");
        const bytes = Buffer.from(await s.arrayBuffer());
        expect(bytes[0]).toBe(0x47); // MPEG-TS sync byte
        if (n !== 1) continue;
        const local = path.join(dir, `${heights[i]}p-${seg.uri}`);
        writeFileSync(local, bytes);
        const p = await probeStreams(bin.ffprobe, local);
        const video = p.streams.find((st) => st.codec_type === "video")!;
        expect(video).toMatchObject({ codec_name: "h264", profile: "High", width: widths[i], height: heights[i] });
        // CODECS says what the SPS says.
        expect(avcHighCodec(video.level)).toBe(v.codecs!.split(",")[0]);
        expect(p.streams.find((st) => st.codec_type === "audio")).toMatchObject({ codec_name: "aac" });
        expect(Math.abs(Number(p.format.duration) - 2)).toBeLessThanOrEqual(0.1);
        probed++;
      }
    }
    expect(probed).toBe(3);
    const ranged = await fetch(new URL("360p/seg_0000.ts", masterUrl), { headers: { range: "bytes=0-187" } });
    expect(ranged.status).toBe(206);
    expect((await ranged.arrayBuffer()).byteLength).toBe(188);
    packaged = { masterUrl, heights };

    // DASH: the manifest is XML; every init and media segment it names is served.
    const mpdUrl = dash.url as string;
    const mpdRes = await fetch(mpdUrl);
    expect(mpdRes.status).toBe(200);
    expect(mpdRes.headers.get("content-type")).toBe("application/dash+xml");
    const mpdText = await mpdRes.text();
    expect(xml.validate(mpdText)).toBe(true);
    const mpd = xml.parse(mpdText, { ignoreAttributes: false, attributeNamePrefix: "", arrayMode: (name: string) => ["AdaptationSet", "Representation", "S"].includes(name) } as never).MPD;
    expect(mpd.type).toBe("static");
    const sets = mpd.Period.AdaptationSet as any[];
    expect(sets.map((s) => s.contentType)).toEqual(["video", "audio"]);
    const videoReps = sets[0].Representation as any[];
    expect(videoReps.map((r) => [Number(r.width), Number(r.height), r.codecs])).toEqual(heights.map((h, i) => [widths[i], h, "avc1.64001e"]));
    expect(videoReps.map((r) => Number(r.bandwidth))).toEqual([200_000, 400_000, 800_000]);
    expect((sets[1].Representation as any[]).map((r) => Number(r.bandwidth))).toEqual([64_000, 96_000, 128_000]);
    let files = 0;
    for (const rep of [...videoReps, ...sets[1].Representation]) {
      const t = rep.SegmentTemplate;
      const init = new URL(String(t.initialization).replace("$RepresentationID$", rep.id), mpdUrl);
      const initRes = await fetch(init);
      expect(initRes.status).toBe(200);
      expect(Buffer.from(await initRes.arrayBuffer()).subarray(4, 8).toString()).toBe("ftyp");
      const count = (t.SegmentTimeline.S as any[]).reduce((n, s) => n + 1 + Number(s.r ?? 0), 0);
      const seconds = (t.SegmentTimeline.S as any[]).reduce((n, s) => n + Number(s.d) * (1 + Number(s.r ?? 0)), 0) / Number(t.timescale);
      expect(Math.abs(seconds - 5)).toBeLessThanOrEqual(0.1);
      for (let k = 0; k < count; k++) {
        const number = String(Number(t.startNumber ?? 1) + k).padStart(5, "0");
        const media = String(t.media).replace("$RepresentationID$", rep.id).replace("$Number%05d$", number);
        const res = await fetch(new URL(media, mpdUrl), { method: "HEAD" });
        expect({ media, status: res.status }).toEqual({ media, status: 200 });
        files++;
      }
    }
    expect(files).toBeGreaterThanOrEqual(6 * 3);
  });

  it.skipIf(!hasChromium())(`plays the HLS ladder in headless Chromium with hls.js from another origin (skipped when ${CHROMIUM} is absent)`, async () => {
    expect(packaged, "the packaging test above must pass first").toBeDefined();
    const report = await playHls(packaged!.masterUrl, { minTime: 1, timeoutMs: 20_000 });
    expect(report.errors.filter((e) => e.includes("fatal") || e.startsWith("pageerror"))).toEqual([]);
    expect(report.levels.map((l) => l.height)).toEqual(packaged!.heights);
    expect(report.levels.every((l) => l.codecs === "avc1.64001e,mp4a.40.2")).toBe(true);
    // This Chromium decodes H.264 (Debian builds it with the proprietary codecs): playback must advance.
    expect(report.canPlayH264).toBe(true);
    expect(report.currentTime).toBeGreaterThan(1);
    expect(report.levelsWithFragments).toEqual(packaged!.heights.map((_h, i) => i));
  });

  it("drops asked rungs taller than the source (logged), fits the default ladder to a small source, refuses a ladder with no rung that fits", async () => {
    const file = await makeVideo(dir, { ffmpeg: bin.ffmpeg, seconds: 4, width: 320, height: 240, fps: 25, audio: false });
    const videoId = await upload(file);

    const asked = await submit({ videoId, segmentSeconds: 2, renditions: [{ height: 480, videoBitrateKbps: 1200 }, { height: 240, videoBitrateKbps: 400 }] });
    await engine.drain();
    const a = await job(asked);
    expect(a.status).toBe("SUCCEEDED");
    expect(a.result).toMatchObject({ droppedHeights: [480], renditions: [{ height: 240, width: 320, codecs: "avc1.64001e", audioBitrateKbps: null }] });
    expect(a.result.dash).toBeUndefined();
    expect(a.events.edges.some((e) => e.node.message?.startsWith("rendition 480p dropped: the source is 320×240"))).toBe(true);

    const defaults = await submit({ videoId, segmentSeconds: 2 });
    await engine.drain();
    const d = await job(defaults);
    expect(d.status).toBe("SUCCEEDED");
    expect(d.result).toMatchObject({ droppedHeights: [360, 720, 1080], renditions: [{ height: 240, width: 320, videoBitrateKbps: 350 }] });

    const pkgs = await packagesOf(videoId);
    expect(pkgs.map((p) => p.role)).toEqual(["HLS", "HLS"]);
    const master = parseMasterPlaylist(await (await fetch(pkgs[1].url)).text());
    expect(master).toEqual([expect.objectContaining({ uri: "240p/index.m3u8", codecs: "avc1.64001e", resolution: { width: 320, height: 240 } })]);
    expect(pkgs[1].media).toMatchObject({ video: { codec: "h264", height: 240 }, audio: null });

    const none = await submit({ videoId, renditions: [{ height: 480, videoBitrateKbps: 1200 }, { height: 720, videoBitrateKbps: 2800 }] });
    await engine.drain();
    const n = await job(none);
    expect(n.status).toBe("FAILED");
    expect(n.error?.code).toBe("INVALID_INPUT");
    expect(n.error?.message).toMatch(/taller than the 240p source/);
  });

  it("gives a video shot upright (rotation metadata) upright rungs: heights and widths as displayed", async () => {
    const plain = await makeVideo(dir, { ffmpeg: bin.ffmpeg, seconds: 3, width: 320, height: 240, fps: 25, audio: true });
    const rotated = path.join(dir, "rotated.mp4");
    await new Promise<void>((resolve, reject) => execFile(bin.ffmpeg, ["-v", "error", "-y", "-i", plain, "-c", "copy", "-metadata:s:v:0", "rotate=90", rotated], (err) => (err ? reject(err) : resolve())));
    const videoId = await upload(rotated);
    const id = await submit({ videoId, segmentSeconds: 2 });
    await engine.drain();
    const j = await job(id);
    expect(j.status).toBe("SUCCEEDED");
    // 240×320 as displayed: every default rung is taller, so one rung at the source's height.
    expect(j.result.renditions).toMatchObject([{ height: 320, width: 240, videoBitrateKbps: 650 }]);
    const [pkg] = await packagesOf(videoId);
    const master = parseMasterPlaylist(await (await fetch(pkg.url)).text());
    expect(master[0]!.resolution).toEqual({ width: 240, height: 320 });
    const variantUrl = new URL(master[0]!.uri, pkg.url);
    const first = parseMediaPlaylist(await (await fetch(variantUrl)).text()).segments[0]!;
    const local = path.join(dir, "rotated-seg.ts");
    writeFileSync(local, Buffer.from(await (await fetch(new URL(first.uri, variantUrl))).arrayBuffer()));
    expect((await probeStreams(bin.ffprobe, local)).streams.find((s) => s.codec_type === "video")).toMatchObject({ width: 240, height: 320 });
  });

  it("fails an audio-only source with VIDEO_FORMAT_UNSUPPORTED and stores nothing", async () => {
    const videoId = await upload(await makeAudio(dir, { ffmpeg: bin.ffmpeg, seconds: 2, format: "mp3" }));
    const id = await submit({ videoId, formats: ["HLS", "DASH"] });
    await engine.drain();
    const j = await job(id);
    expect(j.status).toBe("FAILED");
    expect(j.error?.code).toBe("VIDEO_FORMAT_UNSUPPORTED");
    expect(await packagesOf(videoId)).toEqual([]);
  });

  it("refuses at submit, with INVALID_INPUT and no job: 7 renditions, segmentSeconds 0", async () => {
    const videoId = await upload(await makeVideo(dir, { ffmpeg: bin.ffmpeg, seconds: 2 }));
    const count = async () => (await db.pool.query(`select count(*)::int as n from jobs where type = 'media.streaming'`)).rows[0].n as number;
    const before = await count();
    const seven = Array.from({ length: 7 }, (_, i) => ({ height: 144 + 2 * i, videoBitrateKbps: 300 }));
    for (const input of [{ renditions: seven }, { segmentSeconds: 0 }, { segmentSeconds: 31 }, { renditions: [{ height: 241, videoBitrateKbps: 300 }] }, { formats: [] }]) {
      const r = await api.gql(SUBMIT, { input: { videoId, ...input } }, key);
      expect({ input, code: r.errors?.[0]?.extensions?.code }).toEqual({ input, code: "INVALID_INPUT" });
    }
    expect(await count()).toBe(before);
  });

  it("cancelling mid-encode stops ffmpeg at once and leaves no package asset, no stored file and no work folder", async () => {
    const file = await makeVideo(dir, { ffmpeg: bin.ffmpeg, seconds: 20, width: 1280, height: 720, fps: 25, audio: true });
    const videoId = await upload(file);
    const live = new Engine({ pool: db.pool, registry: api.registry, log, listener, concurrency: 1, pollMs: 50 });
    const id = await submit({ videoId, formats: ["HLS", "DASH"], segmentSeconds: 2 });
    const uuid = rawId(id);
    const workDirs = () => readdirSync(os.tmpdir()).filter((n) => n.startsWith(`spool-${uuid.slice(0, 8)}-`));
    live.start();
    try {
      await waitFor(async () => {
        const j = await job(id);
        return j.stage === "encode[ladder]" && j.progress > 1.5 / 23;
      }, "the encode to be under way", 30_000);
      expect(workDirs()).toHaveLength(1);
      const c = await api.gql(`mutation($id: ID!) { cancelJob(input: { id: $id }) { job { status } } }`, { id }, key);
      expect(c.data.cancelJob.job.status).toBe("CANCELLED");
      const t0 = Date.now();
      await waitFor(async () => live.runningCount === 0, "the job to stop", 10_000);
      expect(Date.now() - t0).toBeLessThan(2_000);
    } finally {
      await live.stop(1_000);
    }
    const j = await job(id);
    expect(j.status).toBe("CANCELLED");
    expect(await packagesOf(videoId)).toEqual([]);
    expect((await db.pool.query(`select count(*)::int as n from assets where job_id = $1`, [uuid])).rows[0].n).toBe(0);
    expect(workDirs()).toEqual([]);
    // Every stored folder of the organization is an asset row: no package files were left behind.
    const { rows: [src] } = await db.pool.query(`select organization_id from assets where video_id = $1`, [rawId(videoId)]);
    const { rows } = await db.pool.query(`select id from assets where organization_id = $1 order by id`, [src.organization_id]);
    expect(readdirSync(path.join(api.dataDir, "files", "orgs", src.organization_id, "assets")).sort()).toEqual(rows.map((r) => r.id).sort());
  });
});
