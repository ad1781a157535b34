// attachCaptions end to end over GraphQL: a real SubRip file (BOM, CRLF, 0-based and missing
// indexes, entities, tags) uploaded as an asset and attached; its cues as search segments
// with their times; the stored WebVTT downloaded through its signed url and parsed back;
// Video.captionTracks; removeCaptionTrack; another organization's ids NOT_FOUND; refusals
// that leave no asset, track, segment or file behind.
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_CUES, parseCaptions } from "../../src/tools/captions/parse.ts";
import { filesUnder, mp4, png } from "../assets/fixtures.ts";
import { createTestApi, type Api } from "../graphql/api-helpers.ts";
import { createTestDatabase, type TestDb } from "../helpers.ts";
import { REAL_SRT, REAL_VTT } from "./fixtures.ts";

let db: TestDb;
let api: Api;
let base: string;
let key: string;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await createTestApi(db);
  base = (await api.listen()).http.replace(/\/graphql$/, "");
  key = (await api.tenant()).key;
});
afterAll(async () => {
  await api?.close();
  await db?.drop();
});

const TRACK = `id language label kind cueCount origin streamIndex createdAt asset { id kind contentType role label filename url(disposition: INLINE) } sourceAsset { id } video { id }`;
const ATTACH = `mutation($input: AttachCaptionsInput!) { attachCaptions(input: $input) { droppedCues emptyCues warnings captionTrack { ${TRACK} } } }`;
const REMOVE = `mutation($input: RemoveCaptionTrackInput!) { removeCaptionTrack(input: $input) { deletedId video { captionTracks { id } } } }`;
const TRACKS = `query($id: ID!) { video(id: $id) { captionTracks { id language label kind cueCount origin } } }`;

async function newVideo(k = key): Promise<string> {
  const r = await api.gqlUpload(`mutation($input: CreateVideoInput!) { createVideo(input: $input) { video { id } } }`,
    { input: { file: null, title: "Harbour tour" } }, { "input.file": { bytes: mp4(20_000), name: "tour.mp4" } }, k);
  expect(r.errors).toBeUndefined();
  return r.data.createVideo.video.id;
}

async function upload(bytes: Buffer, name: string, k = key): Promise<string> {
  const r = await api.gqlUpload(`mutation($input: UploadAssetInput!) { uploadAsset(input: $input) { asset { id } } }`,
    { input: { file: null } }, { "input.file": { bytes, name } }, k);
  expect(r.errors).toBeUndefined();
  return r.data.uploadAsset.asset.id;
}

async function rawId(globalId: string): Promise<string> {
  return Buffer.from(globalId, "base64").toString("utf8").split(":")[1]!;
}

async function segments(trackId: string) {
  const { rows } = await db.pool.query(
    `select mode, kind, text, start_ms, duration_ms, language, config::text from search_segments where source = $1 order by start_ms`, [`captions:${trackId}`]);
  return rows;
}

async function download(url: string): Promise<{ status: number; text: string; type: string | null }> {
  const u = new URL(url);
  const res = await fetch(`${base}${u.pathname}${u.search}`);
  return { status: res.status, text: await res.text(), type: res.headers.get("content-type") };
}

/** What a refusal must leave as it was: caption rows, assets, segments, stored files. */
async function footprint() {
  const { rows } = await db.pool.query(`select (select count(*) from caption_tracks)::int as tracks, (select count(*) from assets)::int as assets,
    (select count(*) from search_segments where kind = 'CAPTION')::int as segments`);
  return { ...rows[0], files: filesUnder(path.join(api.dataDir, "files")).length };
}

describe("attachCaptions", () => {
  it("attaches an uploaded SubRip: a WebVTT track whose cues are segments with their times; listed; removable", async () => {
    const videoId = await newVideo();
    const srtId = await upload(Buffer.from(REAL_SRT, "utf8"), "tour.en.srt");
    const r = await api.gql(ATTACH, { input: { videoId, assetId: srtId, language: "en-us", kind: "CAPTIONS" } }, key);
    expect(r.errors).toBeUndefined();
    const { captionTrack: track, droppedCues, emptyCues, warnings } = r.data.attachCaptions;
    expect({ droppedCues, emptyCues }).toEqual({ droppedCues: 1, emptyCues: 0 });
    expect(warnings).toEqual([expect.stringMatching(/^line 20: the cue ends before it starts/)]);
    expect(track).toMatchObject({
      language: "en-US", label: "American English", kind: "CAPTIONS", cueCount: 4, origin: "ATTACHED", streamIndex: null,
      asset: { kind: "CAPTIONS", contentType: "text/vtt", role: "CAPTIONS", label: "en-US" }, sourceAsset: { id: srtId }, video: { id: videoId },
    });

    const trackId = await rawId(track.id);
    expect((await segments(trackId)).map((s) => [s.mode, s.kind, s.start_ms, s.duration_ms, s.text, s.language, s.config])).toEqual([
      ["AUDIO", "CAPTION", 1000, 2500, 'Fish & chips for "two"', "eng", "english"],
      ["AUDIO", "CAPTION", 4250, 1750, "It's 4 o\u2019clock", "eng", "english"],
      ["AUDIO", "CAPTION", 7000, 1000, "1984", "eng", "english"],
      ["AUDIO", "CAPTION", 9500, 2250, "Yellow and plain second line <here>", "eng", "english"],
    ]);
    // English stemming: "chip" finds "chips".
    const hit = await db.pool.query(`select start_ms from search_segments where item_id = $1 and tsv @@ websearch_to_tsquery('english', 'chip')`, [await rawId(videoId)]);
    expect(hit.rows).toEqual([{ start_ms: 1000 }]);
    const item = await db.pool.query(`select languages from search_items where item_id = $1`, [await rawId(videoId)]);
    expect(item.rows[0].languages).toEqual(["eng"]);

    // The stored file is WebVTT that parses back to the same cues, served through its signed url.
    const file = await download(track.asset.url);
    expect(file.status).toBe(200);
    expect(file.text.startsWith("WEBVTT\n\n00:00:01.000 --> 00:00:03.500\n<i>Fish &amp; chips</i>")).toBe(true);
    expect(parseCaptions(file.text).cues).toEqual(parseCaptions(REAL_SRT).cues);

    // A second track from the file itself in the same multipart request, French, with its own label.
    const r2 = await api.gqlUpload(ATTACH, { input: { videoId, file: null, language: "fr", label: "Français\n(forcé)" } }, { "input.file": { bytes: Buffer.from(REAL_VTT), name: "tour.fr.vtt" } }, key);
    expect(r2.errors).toBeUndefined();
    expect(r2.data.attachCaptions.captionTrack).toMatchObject({ language: "fr", label: "Français (forcé)", kind: "SUBTITLES", cueCount: 2, sourceAsset: null });
    // tour.fr.vtt stays tour.fr.vtt (the language is not added twice); the SubRip became tour.en-US.vtt.
    expect(r2.data.attachCaptions.captionTrack.asset.filename).toBe("tour.fr.vtt");
    expect(track.asset.filename).toBe("tour.en-US.vtt");
    const frId = await rawId(r2.data.attachCaptions.captionTrack.id);
    expect((await segments(frId)).map((s) => [s.start_ms, s.duration_ms, s.config])).toEqual([[1000, 2000, "french"], [4000, 2500, "french"]]);

    const listed = await api.gql(TRACKS, { id: videoId }, key);
    expect(listed.data.video.captionTracks.map((t: { language: string; cueCount: number }) => [t.language, t.cueCount])).toEqual([["en-US", 4], ["fr", 2]]);
    expect((await db.pool.query(`select languages from search_items where item_id = $1`, [await rawId(videoId)])).rows[0].languages).toEqual(["eng", "fra"]);

    // Removing the English track takes its file, asset and segments; the French one stays.
    const removed = await api.gql(REMOVE, { input: { id: track.id } }, key);
    expect(removed.errors).toBeUndefined();
    expect(removed.data.removeCaptionTrack).toEqual({ deletedId: track.id, video: { captionTracks: [{ id: r2.data.attachCaptions.captionTrack.id }] } });
    expect(await segments(trackId)).toEqual([]);
    expect((await db.pool.query(`select count(*)::int as n from assets where id = $1`, [await rawId(track.asset.id)])).rows[0].n).toBe(0);
    expect((await download(track.asset.url)).status).toBe(404);
    expect((await db.pool.query(`select languages from search_items where item_id = $1`, [await rawId(videoId)])).rows[0].languages).toEqual(["fra"]);
    const again = await api.gql(REMOVE, { input: { id: track.id } }, key);
    expect(again.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
  });

  it("deleting the Video deletes its caption tracks, their files and segments", async () => {
    const videoId = await newVideo();
    const r = await api.gqlUpload(ATTACH, { input: { videoId, file: null, language: "en" } }, { "input.file": { bytes: Buffer.from(REAL_SRT), name: "a.srt" } }, key);
    expect(r.errors).toBeUndefined();
    const track = r.data.attachCaptions.captionTrack;
    expect((await download(track.asset.url)).status).toBe(200);
    const del = await api.gql(`mutation($input: DeleteVideoInput!) { deleteVideo(input: $input) { deletedId } }`, { input: { id: videoId } }, key);
    expect(del.errors).toBeUndefined();
    expect((await db.pool.query(`select count(*)::int as n from caption_tracks where id = $1`, [await rawId(track.id)])).rows[0].n).toBe(0);
    expect(await segments(await rawId(track.id))).toEqual([]);
    expect((await download(track.asset.url)).status).toBe(404);
  });

  it("another organization's video, asset or track is NOT_FOUND, and its tracks are never listed", async () => {
    const videoId = await newVideo();
    const srtId = await upload(Buffer.from(REAL_SRT), "mine.srt");
    const mine = await api.gql(ATTACH, { input: { videoId, assetId: srtId, language: "en" } }, key);
    expect(mine.errors).toBeUndefined();
    const other = await api.tenant();
    const theirVideo = await newVideo(other.key);
    const theirSrt = await upload(Buffer.from(REAL_SRT), "theirs.srt", other.key);
    const before = await footprint();
    for (const [input, k] of [
      [{ videoId, assetId: theirSrt, language: "en" }, other.key],
      [{ videoId: theirVideo, assetId: srtId, language: "en" }, other.key],
      [{ videoId: theirVideo, assetId: srtId, language: "en" }, key],
    ] as const) {
      const r = await api.gql(ATTACH, { input }, k);
      expect(r.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    }
    const trackId = mine.data.attachCaptions.captionTrack.id;
    expect((await api.gql(REMOVE, { input: { id: trackId } }, other.key)).errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    const node = await api.gql(`query($id: ID!) { node(id: $id) { id } }`, { id: trackId }, other.key);
    expect(node.data?.node ?? null).toBeNull();
    expect((await api.gql(TRACKS, { id: videoId }, other.key)).errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    expect(await footprint()).toEqual(before);
  });

  it("refusals: not captions, garbage text, a bad language, too many cues, both or neither source; nothing is left behind", async () => {
    const videoId = await newVideo();
    const pngId = await upload(png, "still.png");
    const tooMany = Array.from({ length: MAX_CUES + 1 }, (_, i) => `${i}\n00:${String(Math.floor(i / 1000) % 60).padStart(2, "0")}:${String(Math.floor(i / 20) % 60).padStart(2, "0")},000 --> 00:59:59,000\nc\n`).join("\n");
    const tooManyId = await upload(Buffer.from(tooMany), "many.srt");
    const before = await footprint();
    const cases: Array<[Record<string, unknown>, Buffer | null, RegExp]> = [
      [{ assetId: pngId, language: "en" }, null, /not captions .*image\/png/],
      [{ assetId: tooManyId, language: "en" }, null, /more than 50000 cues/],
      [{ file: null, language: "en" }, Buffer.from("Dear diary,\r\nno subtitles here.\r\n"), /line 1: expected a cue/],
      [{ file: null, language: "en" }, Buffer.from("1\n00:00:01,000 --> 00:00:02,000\nfine\n\n2\n00:00:03,000 --> 00:0x:04,000\nbroken\n"), /line 6: a malformed cue timing/],
      [{ file: null, language: "en" }, mp4(5_000), /not captions .*video\/mp4/],
      [{ assetId: pngId, language: "english please" }, null, /language must be a BCP-47 tag/],
      [{ assetId: pngId, language: "en_US" }, null, /language must be a BCP-47 tag/],
      [{ assetId: pngId, file: null, language: "en" }, Buffer.from(REAL_SRT), /exactly one of assetId or file/],
      [{ language: "en" }, null, /exactly one of assetId or file/],
    ];
    for (const [input, file, message] of cases) {
      const variables = { input: { videoId, ...input } };
      const r = file ? await api.gqlUpload(ATTACH, variables, { "input.file": { bytes: file, name: "x.srt" } }, key) : await api.gql(ATTACH, variables, key);
      expect(r.errors?.[0]?.extensions?.code, JSON.stringify(input)).toBe("INVALID_INPUT");
      expect(r.errors?.[0]?.message).toMatch(message);
    }
    const badKind = await api.gql(ATTACH, { input: { videoId, assetId: pngId, language: "en", kind: "KARAOKE" } }, key);
    expect(badKind.errors?.[0]).toBeDefined();
    expect(await footprint()).toEqual(before);
    expect((await api.gql(TRACKS, { id: videoId }, key)).data.video.captionTracks).toEqual([]);
  });
});
