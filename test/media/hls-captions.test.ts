// Caption tracks in the HLS package (media.streaming): a generated Video with caption tracks
// attached through attachCaptions (a WebVTT with a BOM, CRLF, STYLE and NOTE blocks, cue ids
// and settings, a cue across a segment boundary; a SubRip with a 0-based index, a missing
// one, an entity and a tag) is packaged through createStreamingPackage,
// then read back the way players read it: the master's SUBTITLES group, each subtitle
// playlist and its WebVTT segments (X-TIMESTAMP-MAP checked against the first video frame's
// PTS measured here with ffprobe), ffprobe of the whole master, and hls.js in Chromium, whose
// text tracks must get cues at the tracks' times; the DASH manifest's text AdaptationSets and
// their WebVTT files are read back too (no DASH player here). Against both ffmpeg builds.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseWebVtt, segmentWebVtt, timestampMap } from "../../src/processors/media/webvtt-segments.ts";
import { ingest, insertAsset } from "../../src/services/assets.ts";
import { parseMasterPlaylist, parseMediaPlaylist, parseMediaRenditions, quotedStringSafe, writeMasterPlaylist, writeMediaPlaylist } from "../../src/tools/hls.ts";
import { createTestDatabase, type TestDb } from "../helpers.ts";
import { binaries, makeVideo, type FfmpegBinarySet } from "./fixtures.ts";
import { startMediaEnv, type MediaEnv } from "./harness.ts";
import { CHROMIUM, hasChromium } from "./player-page.ts";
import { playSubtitles } from "./subtitle-player.ts";

// fast-xml-parser 3 (a dev dependency, as in streaming.test.ts): only validate/parse are used.
const xml = createRequire(import.meta.url)("fast-xml-parser") as {
  validate(text: string): true | { err: { msg: string } };
  parse(text: string, opts: Record<string, unknown>): any;
};

let db: TestDb;
const scratch = mkdtempSync(path.join(os.tmpdir(), "spool-hls-captions-test-"));
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
  rmSync(scratch, { recursive: true, force: true });
});

const CREATE_VIDEO = `mutation($input: CreateVideoInput!) { createVideo(input: $input) { video { id status } } }`;
const SUBMIT = `mutation($input: CreateStreamingPackageInput!) { createStreamingPackage(input: $input) { job { id } } }`;
const JOB = `query($id: ID!) { job(id: $id) { status result error { code message } events(first: 100) { edges { node { kind message } } } } }`;
const PACKAGES = `query($id: ID!) { video(id: $id) { streamingPackages { role url(expiresIn: 600, disposition: INLINE) } } }`;

// English: a BOM, CRLF, header metadata, STYLE and NOTE blocks, cue ids, cue settings,
// times without hours, a cue across the 2 s boundary.
const EN_BLOCKS = [
  "WEBVTT - English subtitles\nKind: subtitles\nLanguage: en",
  "STYLE\n::cue { color: yellow }",
  "NOTE written by the test,\nover two lines",
  "intro\n00:00.500 --> 00:01.700 align:start position:10%\nHello <b>there</b>",
  "2\n00:01.800 --> 00:02.600\nCrossing the boundary",
  "00:03.250 --> 00:04.100\nThird &amp; last",
  "\n00:00:05.000 --> 00:00:05.600\nAlmost the end\n",
];
const crlf = (blocks: string[]) => "\uFEFF" + blocks.join("\n\n").replace(/\n/g, "\r\n");
const EN = crlf(EN_BLOCKS);
// What a WebVTT parser drops (attachCaptions refuses the file instead): a block whose timing is broken.
const EN_WITH_BROKEN = crlf([...EN_BLOCKS.slice(0, 5), "broken\n00:02.x00 --> 00:02.900\nnever shown", ...EN_BLOCKS.slice(5)]);
/** Cue times, and the text as a viewer reads it. */
const EN_CUES = [{ start: 0.5, end: 1.7, text: "Hello there" }, { start: 1.8, end: 2.6, text: "Crossing the boundary" }, { start: 3.25, end: 4.1, text: "Third & last" }, { start: 5, end: 5.6, text: "Almost the end" }];
// French SDH captions: LF, hours, a voice tag, sound described.
const FR = ["WEBVTT", "", "00:00:00.900 --> 00:00:01.500", "<v Narrateur>Bonjour à tous", "", "00:00:02.200 --> 00:00:03.900", "[musique douce]", "",
  "00:00:04.400 --> 00:00:05.200 line:0", "Fin « française »", ""].join("\n");
// The same French captions as a SubRip file the way tools write them: a BOM, CRLF, a 0-based
// index, a missing index, a 1-digit hour with ".", an entity and a styling tag.
const FR_SRT = "\uFEFF" + [
  "0", "00:00:00,900 --> 00:00:01,500", "<i>Bonjour</i> &amp; bienvenue", "",
  "00:00:02,200 --> 00:00:03,900", "[musique douce]", "",
  "2", "0:00:04.400 --> 00:00:05,200", "Fin « française »", "",
].join("\r\n");
const FR_CUES = [{ start: 0.9, end: 1.5, text: "Bonjour & bienvenue" }, { start: 2.2, end: 3.9, text: "[musique douce]" }, { start: 4.4, end: 5.2, text: "Fin « française »" }];
const ATTACH = `mutation($input: AttachCaptionsInput!) { attachCaptions(input: $input) { captionTrack { id kind asset { id } } } }`;
const SDH = "public.accessibility.transcribes-spoken-dialog,public.accessibility.describes-music-and-sound";

function rawId(globalId: string): string {
  return Buffer.from(globalId, "base64").toString().split(":")[1]!;
}

function run(bin: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => execFile(bin, args, { env: { ...process.env, GCONV_PATH: "/nonexistent" }, timeout: 60_000, maxBuffer: 16 << 20 },
    (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout))));
}

/** A cue's payload as a viewer reads it: no tags, entities decoded. */
function plain(payload: string): string {
  return unescapeXml(payload.replace(/<[^>]*>/g, "").replace(/&nbsp;/g, " ")).replace(/\s+/g, " ").trim();
}

/** fast-xml-parser 3 leaves entities as written. */
function unescapeXml(text: string): string {
  return text.replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

/** The timing lines of a WebVTT text, read independently of the packager's parser. */
function cueTimes(vtt: string): Array<{ start: number; end: number }> {
  const t = (s: string) => s.split(":").reduce((acc, p) => acc * 60 + Number(p), 0);
  return [...vtt.matchAll(/^((?:\d+:)?\d{2}:\d{2}\.\d{3}) --> ((?:\d+:)?\d{2}:\d{2}\.\d{3})/gm)].map((m) => ({ start: t(m[1]!), end: t(m[2]!) }));
}

describe("subtitle renditions in playlists (pure)", () => {
  const variant = { uri: "360p/index.m3u8", bandwidth: 900_000, codecs: "avc1.64001e,mp4a.40.2" };

  it("lists every track in one SUBTITLES group that every variant names; no tracks, no group", () => {
    const text = writeMasterPlaylist([variant, { ...variant, uri: "720p/index.m3u8" }], {
      subtitles: [{ uri: "subs/0/index.m3u8", name: "English", language: "en" }, { uri: "subs/1/index.m3u8", name: "Français (SDH)", language: "fr-CA", characteristics: SDH.split(",") }],
    });
    expect(text.split("\n").filter((l) => l.startsWith("#EXT-X-MEDIA"))).toEqual([
      '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="English",LANGUAGE="en",DEFAULT=NO,AUTOSELECT=YES,FORCED=NO,URI="subs/0/index.m3u8"',
      `#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="Français (SDH)",LANGUAGE="fr-CA",DEFAULT=NO,AUTOSELECT=YES,FORCED=NO,CHARACTERISTICS="${SDH}",URI="subs/1/index.m3u8"`,
    ]);
    expect(parseMasterPlaylist(text).map((v) => v.subtitles)).toEqual(["subs", "subs"]);
    expect(parseMediaRenditions(text).map((m) => [m.NAME, m.LANGUAGE, m.CHARACTERISTICS])).toEqual([["English", "en", undefined], ["Français (SDH)", "fr-CA", SDH]]);
    const plain = writeMasterPlaylist([variant]);
    expect(plain).toBe('#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-STREAM-INF:BANDWIDTH=900000,CODECS="avc1.64001e,mp4a.40.2"\n360p/index.m3u8\n');
    expect(writeMasterPlaylist([variant], { subtitles: [] })).toBe(plain);
  });

  it("keeps quotes, newlines and bad languages from breaking the master; names stay unique", () => {
    const text = writeMasterPlaylist([variant], {
      subtitles: [
        { uri: "subs/0/index.m3u8", name: 'Director\'s "cut"\r\n#EXT-X-ENDLIST\u2028end', language: 'en"\n#EXT-X-ENDLIST' },
        { uri: "subs/1/index.m3u8", name: "English", language: "en" },
        { uri: "subs/2/index.m3u8", name: "English", language: "en-GB" },
        { uri: "subs/3/index.m3u8", name: ' \n"', language: null },
      ],
    });
    const lines = text.split("\n").filter((l) => l !== "");
    expect(lines.filter((l) => !l.startsWith("#") && !l.endsWith(".m3u8"))).toEqual([]);
    expect(lines.filter((l) => l.startsWith("#EXT-X-ENDLIST"))).toEqual([]);
    expect(parseMediaRenditions(text).map((m) => [m.NAME, m.LANGUAGE ?? null, m.URI])).toEqual([
      ["Director's 'cut' #EXT-X-ENDLIST end", null, "subs/0/index.m3u8"], ["English", "en", "subs/1/index.m3u8"],
      ["English (2)", "en-GB", "subs/2/index.m3u8"], ["'", null, "subs/3/index.m3u8"],
    ]);
    expect(quotedStringSafe(" \r\n ", "fallback")).toBe("fallback");
    expect(() => writeMasterPlaylist([variant], { subtitles: [{ uri: "../x.m3u8", name: "x" }] })).toThrow(/relative path/);
  });

  it("cuts a WebVTT track into segments with the timestamp map, a cue across a boundary in both", () => {
    const parsed = parseWebVtt(EN_WITH_BROKEN);
    expect(parsed.cues.map((c) => [c.startSec, c.endSec])).toEqual(EN_CUES.map((c) => [c.start, c.end]));
    expect(parsed.styles).toEqual(["STYLE\n::cue { color: yellow }"]);
    const spans = [{ startSec: 0, durationSec: 2 }, { startSec: 2, durationSec: 2 }, { startSec: 4, durationSec: 1.96 }];
    const segs = segmentWebVtt(parsed, spans, 127_920);
    expect(segs.map((s) => s.split("\n").slice(0, 2))).toEqual(Array(3).fill(["WEBVTT - English subtitles", "X-TIMESTAMP-MAP=MPEGTS:127920,LOCAL:00:00:00.000"]));
    expect(segs.map((s) => cueTimes(s).map((c) => c.start))).toEqual([[0.5, 1.8], [1.8, 3.25], [3.25, 5]]);
    for (const s of segs) {
      expect(s).toContain("STYLE\n::cue { color: yellow }");
      expect(s).not.toMatch(/NOTE|never shown|\r|\uFEFF/);
    }
    expect(segmentWebVtt(parseWebVtt("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:900000,LOCAL:00:00:00.000\n"), spans.slice(0, 1), 1)[0]).toBe("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:1,LOCAL:00:00:00.000\n");
    expect(timestampMap(2 ** 33 + 5)).toBe("X-TIMESTAMP-MAP=MPEGTS:5,LOCAL:00:00:00.000");
    expect(() => parseWebVtt("1\n00:00:01,000 --> 00:00:02,000\nan SRT\n")).toThrow(/not a WebVTT/);
    expect(() => timestampMap(-1)).toThrow();
    expect(writeMediaPlaylist([{ uri: "seg_0000.vtt", durationSec: 2 }, { uri: "seg_0001.vtt", durationSec: 1.5 }])).toBe(
      "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:2.000000,\nseg_0000.vtt\n#EXTINF:1.500000,\nseg_0001.vtt\n#EXT-X-ENDLIST\n");
  });
});

describe.each(binaries())("caption tracks in the HLS and DASH packages with the $name ffmpeg", (bin: FfmpegBinarySet) => {
  let env: MediaEnv;
  let base: string;
  beforeAll(async () => {
    env = await startMediaEnv(db, bin, { dirPrefix: "", pollMs: 50, dir: mkdtempSync(path.join(scratch, `${bin.name}-`)) });
    base = env.base;
  });
  afterAll(() => env?.close());

  async function http<T = any>(query: string, variables: Record<string, unknown>): Promise<{ data?: T; errors?: any[] }> {
    const res = await fetch(`${base}/graphql`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${env.key}` }, body: JSON.stringify({ query, variables }) });
    return (await res.json()) as { data?: T; errors?: any[] };
  }

  async function upload(seconds: number): Promise<string> {
    const file = await makeVideo(env.dir, { ffmpeg: bin.ffmpeg, seconds, width: 320, height: 240, fps: 25, audio: true });
    const r = await env.api.gqlUpload(CREATE_VIDEO, { input: { file: null } }, { "input.file": { bytes: readFileSync(file), name: path.basename(file) } }, env.key);
    expect(r.errors).toBeUndefined();
    return r.data.createVideo.video.id;
  }

  let order = 0;
  /**
   * A caption track written straight into the tables (a CAPTIONS asset of the Video and its
   * caption_tracks row): for what attachCaptions would clean or refuse, which the packager
   * must survive all the same (a label with a newline, a bad language, a file that is not WebVTT).
   */
  async function attachTrack(videoId: string, t: { text: string; language: string; label: string; kind: string; filename: string }): Promise<{ trackId: string; assetId: string }> {
    const video = rawId(videoId);
    const asset = await ingest(env.api.assets, { organizationId: env.org, body: Readable.from([Buffer.from(t.text)]), use: "any" },
      (blob) => insertAsset(db.pool, blob, { organizationId: env.org, origin: "UPLOAD", videoId: video, role: "CAPTIONS", label: t.language, filename: t.filename }));
    const { rows } = await db.pool.query(
      `insert into caption_tracks (organization_id, video_id, asset_id, language, label, kind, cue_count, created_at)
       values ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(secs => $8)) returning id`,
      [env.org, video, asset.id, t.language, t.label, t.kind, cueTimes(t.text).length, order++],
    );
    return { trackId: rows[0].id, assetId: asset.id };
  }

  async function packageIt(videoId: string) {
    const s = await env.api.gql(SUBMIT, { input: { videoId, formats: ["HLS", "DASH"], segmentSeconds: 2, renditions: [{ height: 144, videoBitrateKbps: 200 }, { height: 240, videoBitrateKbps: 400 }] } }, env.key);
    expect(s.errors).toBeUndefined();
    await env.engine.drain();
    const j = (await env.api.gql(JOB, { id: s.data.createStreamingPackage.job.id }, env.key)).data.job;
    expect(j.error).toBeNull();
    expect(j.status).toBe("SUCCEEDED");
    const p = await http(PACKAGES, { id: videoId });
    expect(p.errors).toBeUndefined();
    const hls = p.data.video.streamingPackages.filter((x: any) => x.role === "HLS").at(-1);
    const dash = p.data.video.streamingPackages.filter((x: any) => x.role === "DASH").at(-1);
    return { job: j, masterUrl: hls.url as string, mpdUrl: dash.url as string, logs: j.events.edges.map((e: any) => e.node) as Array<{ kind: string; message: string | null }> };
  }

  /** attachCaptions over GraphQL, the file in the multipart request: what a user does. */
  async function attachCaptions(videoId: string, t: { text: string; name: string; language: string; label: string; kind: string }) {
    const r = await env.api.gqlUpload(ATTACH, { input: { videoId, file: null, language: t.language, label: t.label, kind: t.kind } }, { "input.file": { bytes: Buffer.from(t.text), name: t.name } }, env.key);
    expect(r.errors).toBeUndefined();
    return { trackId: rawId(r.data.attachCaptions.captionTrack.id), assetId: rawId(r.data.attachCaptions.captionTrack.asset.id) };
  }

  let played: { masterUrl: string } | undefined;

  /** The manifest's text AdaptationSets, after checking it is XML and its other sets are ffmpeg's. */
  async function textSets(mpdUrl: string) {
    const text = await (await fetch(mpdUrl)).text();
    expect(xml.validate(text)).toBe(true);
    const mpd = xml.parse(text, { ignoreAttributes: false, attributeNamePrefix: "", arrayMode: (name: string) => ["AdaptationSet", "Representation"].includes(name) } as never).MPD;
    const sets = mpd.Period.AdaptationSet as any[];
    expect(sets.map((a) => a.contentType).slice(0, 2)).toEqual(["video", "audio"]);
    expect(new Set(sets.map((a) => a.id)).size).toBe(sets.length);
    return sets.filter((a) => a.contentType === "text").map((a) => {
      expect(a.mimeType).toBe("text/vtt");
      expect(a.Role.schemeIdUri).toBe("urn:mpeg:dash:role:2011");
      return { lang: a.lang as string, role: a.Role.value as string, label: unescapeXml(String(a.Label)), baseUrl: String(a.Representation[0].BaseURL), bandwidth: Number(a.Representation[0].bandwidth) };
    });
  }

  it("packages an en and an fr track as the SUBTITLES group: playlists aligned with the video, every VTT mapped to the first frame's PTS", async () => {
    const videoId = await upload(6);
    const en = await attachCaptions(videoId, { text: EN, name: "tour.en.vtt", language: "en", label: "English", kind: "SUBTITLES" });
    const fr = await attachCaptions(videoId, { text: FR_SRT, name: "tour.fr.srt", language: "fr", label: "Français (SDH)", kind: "CAPTIONS" });
    const { job, masterUrl, mpdUrl } = await packageIt(videoId);
    expect(job.result.subtitles).toEqual([
      { trackId: en.trackId, assetId: en.assetId, label: "English", language: "en", kind: "SUBTITLES", cues: 4, hls: "subs/0/index.m3u8", dash: "subs/0.vtt" },
      { trackId: fr.trackId, assetId: fr.assetId, label: "Français (SDH)", language: "fr", kind: "CAPTIONS", cues: 3, hls: "subs/1/index.m3u8", dash: "subs/1.vtt" },
    ]);

    const master = await (await fetch(masterUrl)).text();
    const media = parseMediaRenditions(master);
    expect(media).toEqual([
      { TYPE: "SUBTITLES", "GROUP-ID": "subs", NAME: "English", LANGUAGE: "en", DEFAULT: "NO", AUTOSELECT: "YES", FORCED: "NO", URI: "subs/0/index.m3u8" },
      { TYPE: "SUBTITLES", "GROUP-ID": "subs", NAME: "Français (SDH)", LANGUAGE: "fr", DEFAULT: "NO", AUTOSELECT: "YES", FORCED: "NO", CHARACTERISTICS: SDH, URI: "subs/1/index.m3u8" },
    ]);
    const variants = parseMasterPlaylist(master);
    expect(variants.map((v) => [v.uri, v.subtitles])).toEqual([["144p/index.m3u8", "subs"], ["240p/index.m3u8", "subs"]]);

    // The first video frame's PTS, measured here from the top rung's first segment.
    const videoUrl = new URL(variants[1]!.uri, masterUrl);
    const videoPlaylist = parseMediaPlaylist(await (await fetch(videoUrl)).text());
    const seg0 = path.join(env.dir, `${bin.name}-seg0.ts`);
    writeFileSync(seg0, Buffer.from(await (await fetch(new URL(videoPlaylist.segments[0]!.uri, videoUrl))).arrayBuffer()));
    const packets = JSON.parse(await run(bin.ffprobe, ["-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts", "-of", "json", seg0])).packets as Array<{ pts: number }>;
    const firstPts = Math.min(...packets.map((p) => Number(p.pts)));
    expect(firstPts).toBeGreaterThan(0);

    for (const [i, cues] of [EN_CUES, FR_CUES].entries()) {
      const url = new URL(media[i]!.URI!, masterUrl);
      const res = await fetch(url);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("application/vnd.apple.mpegurl");
      const pl = parseMediaPlaylist(await res.text());
      expect(pl).toMatchObject({ playlistType: "VOD", endList: true, targetDurationSec: videoPlaylist.targetDurationSec });
      expect(pl.segments.map((s) => s.durationSec)).toEqual(videoPlaylist.segments.map((s) => s.durationSec));
      const seen = new Map<string, { start: number; end: number }>();
      let from = 0;
      for (const [k, seg] of pl.segments.entries()) {
        const r = await fetch(new URL(seg.uri, url));
        expect(r.status).toBe(200);
        expect(r.headers.get("content-type")).toMatch(/^text\/vtt/);
        const vtt = await r.text();
        expect(vtt.split("\n").slice(0, 2).join("\n")).toMatch(new RegExp(`^WEBVTT.*\\nX-TIMESTAMP-MAP=MPEGTS:${firstPts},LOCAL:00:00:00\\.000$`));
        const to = k === pl.segments.length - 1 ? Infinity : from + seg.durationSec;
        // Each segment has exactly the cues that show during it.
        expect(cueTimes(vtt)).toEqual(cues.filter((c) => c.start < to && c.end > from).map(({ start, end }) => ({ start, end })));
        for (const c of cueTimes(vtt)) seen.set(`${c.start}`, c);
        from += seg.durationSec;
      }
      expect([...seen.values()]).toEqual(cues.map(({ start, end }) => ({ start, end })));
    }

    // ffprobe reads the video through the master, subtitle group and all.
    const probed = JSON.parse(await run(bin.ffprobe, ["-v", "error", "-protocol_whitelist", "file,http,tcp,crypto", "-of", "json", "-show_entries", "stream=codec_type,codec_name,width,height", masterUrl]));
    const streams = probed.streams as Array<Record<string, any>>;
    expect(streams.filter((s) => s.codec_type === "video").map((s) => [s.codec_name, s.height])).toEqual(expect.arrayContaining([["h264", 240]]));
    played = { masterUrl };

    // DASH: one text AdaptationSet per track after ffmpeg's video and audio sets, its WebVTT whole beside the manifest.
    const sets = await textSets(mpdUrl);
    expect(sets.map((a) => [a.lang, a.role, a.label])).toEqual([["en", "subtitle", "English"], ["fr", "caption", "Français (SDH)"]]);
    for (const [i, cues] of [EN_CUES, FR_CUES].entries()) {
      expect(sets[i]!.baseUrl).toBe(`subs/${i}.vtt`);
      const r = await fetch(new URL(sets[i]!.baseUrl, mpdUrl));
      expect(r.status).toBe(200);
      const vtt = await r.text();
      expect(vtt).toMatch(/^WEBVTT/);
      expect(vtt).not.toContain("X-TIMESTAMP-MAP");
      expect(cueTimes(vtt)).toEqual(cues.map(({ start, end }) => ({ start, end })));
    }
  });

  it.skipIf(!hasChromium())(`shows both tracks in hls.js in headless Chromium, cues at the tracks' times (skipped when ${CHROMIUM} is absent)`, async () => {
    expect(played, "the packaging test above must pass first").toBeDefined();
    const report = await playSubtitles(played!.masterUrl, [[0, EN_CUES.length], [1, FR_CUES.length]]);
    expect(report.errors.filter((e) => e.includes("fatal") || e.startsWith("pageerror"))).toEqual([]);
    expect(report.tracks.map((t) => [t.name, t.lang, t.groupId, t.default, t.autoselect, t.forced])).toEqual([
      ["English", "en", "subs", false, true, false], ["Français (SDH)", "fr", "subs", false, true, false],
    ]);
    expect(report.selected.map((s) => s.textTrack && [s.textTrack.label, s.textTrack.language, s.textTrack.kind])).toEqual([
      ["English", "en", "subtitles"], ["Français (SDH)", "fr", "captions"],
    ]);
    // hls.js starts the media timeline at the first decode time, so the first frame (and
    // with it the track's time 0) shows a B-frame delay later: a cue must be that much later
    // too, to the frame, to show with the picture it was timed for.
    const frame0 = report.bufferedStart!;
    expect(frame0).toBeGreaterThanOrEqual(0);
    expect(frame0).toBeLessThan(0.2);
    for (const [i, cues] of [EN_CUES, FR_CUES].entries()) {
      const got = report.selected[i]!.cues;
      expect(got.map((c) => plain(c.text))).toEqual(cues.map((c) => c.text));
      for (const [k, c] of cues.entries()) {
        expect({ cue: c.text, off: Math.abs(got[k]!.startTime - c.start) <= 0.2 }).toEqual({ cue: c.text, off: true });
        expect({ cue: c.text, withPicture: Math.abs(got[k]!.startTime - c.start - frame0) <= 0.045 }).toEqual({ cue: c.text, withPicture: true });
        expect(Math.abs(got[k]!.endTime - got[k]!.startTime - (c.end - c.start))).toBeLessThanOrEqual(0.01);
      }
    }
  });

  it("keeps a label with quotes and a newline from breaking the master; leaves out CHAPTERS and a track that is not WebVTT (logged)", async () => {
    const videoId = await upload(3);
    await attachTrack(videoId, { text: FR, language: "en-GB", label: 'Director\'s "cut"\nwith commentary', kind: "SUBTITLES", filename: "cut.vtt" });
    await attachTrack(videoId, { text: "WEBVTT\n\n00:00.000 --> 00:01.000\nChapter one\n", language: "en", label: "Chapters", kind: "CHAPTERS", filename: "chapters.vtt" });
    const srt = await attachTrack(videoId, { text: "1\r\n00:00:01,000 --> 00:00:02,000\r\nan SRT file\r\n", language: "de", label: "Deutsch", kind: "SUBTITLES", filename: "de.srt" });
    await attachTrack(videoId, { text: EN, language: 'en"\n#EXT-X-ENDLIST', label: "English", kind: "CAPTIONS", filename: "en.vtt" });
    const { job, masterUrl, mpdUrl, logs } = await packageIt(videoId);
    expect(job.result.subtitles.map((s: any) => [s.label, s.kind, s.hls])).toEqual([
      ['Director\'s "cut"\nwith commentary', "SUBTITLES", "subs/0/index.m3u8"], ["English", "CAPTIONS", "subs/1/index.m3u8"],
    ]);
    expect((await textSets(mpdUrl)).map((a) => [a.lang, a.role, a.label])).toEqual([["en-GB", "subtitle", 'Director\'s "cut" with commentary'], ["und", "caption", "English"]]);
    expect(logs.some((l) => l.kind === "LOG" && l.message?.includes(`caption track ${srt.trackId} (de) left out of the package: not a WebVTT file`))).toBe(true);
    const master = await (await fetch(masterUrl)).text();
    const lines = master.split("\n").filter((l) => l !== "");
    expect(lines.filter((l) => !l.startsWith("#EXT") && !/^\d+p\/index\.m3u8$/.test(l))).toEqual([]);
    expect(master).not.toContain("#EXT-X-ENDLIST");
    expect(parseMediaRenditions(master).map((m) => [m.NAME, m.LANGUAGE ?? null, m.CHARACTERISTICS ?? null])).toEqual([
      ["Director's 'cut' with commentary", "en-GB", null], ["English", null, SDH],
    ]);
    expect(parseMasterPlaylist(master).every((v) => v.subtitles === "subs")).toBe(true);
    const probed = JSON.parse(await run(bin.ffprobe, ["-v", "error", "-protocol_whitelist", "file,http,tcp,crypto", "-of", "json", "-show_entries", "stream=codec_type,codec_name", masterUrl]));
    expect((probed.streams as any[]).some((s) => s.codec_type === "video" && s.codec_name === "h264")).toBe(true);
  });
});
