// The search issue's "done when", end to end against the real server process (`npm start`
// runs src/bin.js), with plain fetch and FormData: a newcomer uploads a video with its
// captions (an SRT as real ones are: BOM, CRLF, a 0-based index, tags and entities) and a
// scanned PDF, indexes the video, and `search` finds a spoken phrase with its timestamp, a
// word shown on screen with its timestamp and a sentence of the scan with its page and box,
// with facets; the HLS package carries the captions as a SUBTITLES group.
import { spawn } from "node:child_process";
import { chmod, mkdtemp, readFile, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scannedPdf } from "../documents/scan-fixtures.ts";
import { createTestDatabase, waitFor, type TestDb } from "../helpers.ts";
import { npmFfmpeg } from "../media/fixtures.ts";
import { harbourVideo } from "./video-index-fixtures.ts";

const BIN = fileURLToPath(new URL("../../src/bin.js", import.meta.url));

/** What is said in the harbour video (12 s): cue 2 is the phrase the newcomer looks for. */
const SRT = "\uFEFF" + [
  "0", "00:00:00,500 --> 00:00:02,000", "<i>Gulls</i> over the water", "",
  "1", "00:00:02,400 --> 00:00:05,100", "The ferry leaves at &quot;seven&quot;", "",
  "00:00:06,000 --> 00:00:09,250", "{\\an8}Fishing boats &amp; trawlers return", "",
].join("\r\n");

type GqlResult<T> = { data?: T | null; errors?: Array<{ message: string; extensions?: { code?: string } }> };
type Match = { kind: string; mode: string; startSeconds: number | null; durationSeconds: number | null; page: number | null; box: { x: number; y: number; width: number; height: number } | null; snippet: string };
type Hit = { title: string; matches: Match[]; item: { __typename: string; id: string } };
type Search = { search: { totalCount: number; facets: Record<string, Array<{ value: string; count: number }>>; edges: Array<{ node: Hit }> } };

const SEARCH = `query($q: String!, $modes: [SearchMode!]) { search(query: $q, modes: $modes) {
  totalCount
  facets { types { value count } languages { value count } durations { value count } qualities { value count } }
  edges { node { title item { __typename ... on Video { id } ... on Document { id } }
    matches { kind mode startSeconds durationSeconds page box { x y width height } snippet } } } } }`;

let dir: string;
let db: TestDb;
let server: ReturnType<typeof spool> | null = null;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function spool(env: Record<string, string>) {
  const { DATABASE_URL: _ignored, ...rest } = process.env;
  const child = spawn(process.execPath, [BIN, "serve"], { env: { ...rest, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve((exitCode = code))));
  return { child, exited, output: () => out, hasExited: () => exitCode !== undefined };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "spool-search-newcomer-"));
  await chmod(dir, 0o755);
  db = await createTestDatabase();
});
afterAll(async () => {
  if (server && !server.hasExited()) {
    server.child.kill("SIGKILL");
    await server.exited;
  }
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("a newcomer searches inside a video, its captions and a scan, on the real server", () => {
  it("finds the spoken phrase, the word on screen and the sentence of the PDF, with when and where", { timeout: 300_000 }, async () => {
    const port = await freePort();
    const dataDir = path.join(dir, "data");
    server = spool({
      PORT: String(port), SPOOL_PG_PORT: String(await freePort()), SPOOL_DATA_DIR: dataDir, DATABASE_URL: db.url,
      SPOOL_OCR_WORKERS: "2", SPOOL_LOG_LEVEL: "warn",
    });
    const s = server;
    const base = `http://127.0.0.1:${port}`;
    await waitFor(async () => {
      if (s.hasExited()) throw new Error(`spool exited early: ${s.output()}`);
      return fetch(`${base}/health`).then((r) => r.status === 200, () => false);
    }, `spool to answer /health (output: ${s.output()})`, 60_000, 100);
    const adminKey = await waitFor(() => readFile(path.join(dataDir, "admin-key"), "utf8").then((k) => k.trim(), () => null), "the admin key file", 30_000, 50);
    const auth = { authorization: `Bearer ${adminKey}` };

    async function gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
      const res = await fetch(`${base}/graphql`, { method: "POST", headers: { "content-type": "application/json", ...auth }, body: JSON.stringify({ query, variables }) });
      const body = (await res.json()) as GqlResult<T>;
      expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
      return body.data!;
    }
    /** A mutation with one file, as the GraphQL multipart request spec says. */
    async function upload<T>(query: string, variables: Record<string, unknown>, file: { bytes: Buffer; type: string; name: string }): Promise<T> {
      const form = new FormData();
      form.set("operations", JSON.stringify({ query, variables: { ...variables, file: null } }));
      form.set("map", JSON.stringify({ 0: ["variables.file"] }));
      form.set("0", new Blob([new Uint8Array(file.bytes)], { type: file.type }), file.name);
      const res = await fetch(`${base}/graphql`, { method: "POST", headers: { ...auth, "apollo-require-preflight": "true" }, body: form });
      const body = JSON.parse(await res.text()) as GqlResult<T>;
      expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
      return body.data!;
    }
    async function finished(jobId: string) {
      const job = await waitFor(async () => {
        const { job } = await gql<{ job: { status: string; error: { code: string; message: string } | null } }>(`query($id: ID!) { job(id: $id) { status error { code message } } }`, { id: jobId });
        return ["SUCCEEDED", "FAILED", "CANCELLED"].includes(job.status) ? job : null;
      }, `job ${jobId}`, 240_000, 250);
      expect(job, JSON.stringify(job.error)).toMatchObject({ status: "SUCCEEDED" });
    }

    // 1. The video and its captions; then indexVideo reads the text on screen.
    const videoFile = await harbourVideo(npmFfmpeg(), path.join(dir, "harbour.mp4"));
    const { createVideo } = await upload<{ createVideo: { video: { id: string } } }>(
      `mutation($file: File!) { createVideo(input: { file: $file, title: "Harbour tour", tags: ["harbour"] }) { video { id } } }`, {},
      { bytes: await readFile(videoFile), type: "video/mp4", name: "harbour.mp4" });
    const videoId = createVideo.video.id;
    const { attachCaptions } = await upload<{ attachCaptions: { captionTrack: { language: string; cueCount: number } } }>(
      `mutation($file: File!, $videoId: ID!) { attachCaptions(input: { videoId: $videoId, file: $file, language: "en" }) { captionTrack { language cueCount } } }`,
      { videoId }, { bytes: Buffer.from(SRT, "utf8"), type: "application/x-subrip", name: "harbour.en.srt" });
    expect(attachCaptions.captionTrack).toEqual({ language: "en", cueCount: 3 });
    const { indexVideo } = await gql<{ indexVideo: { job: { id: string } } }>(`mutation($id: ID!) { indexVideo(input: { videoId: $id }) { job { id } } }`, { id: videoId });

    // 2. A two-page scan, its text only in pictures; document.process OCRs it.
    const pdf = await scannedPdf(path.join(dir, "harbour-rules.pdf"), [
      [{ text: "Harbour rules", size: 56 }, { text: "Boats moor on the east quay." }],
      [{ text: "Safety" }, { text: "Life jackets are required on every deck." }],
    ]);
    const { createDocument } = await upload<{ createDocument: { document: { id: string } } }>(
      `mutation($file: File!) { createDocument(input: { file: $file }) { document { id } } }`, {},
      { bytes: await readFile(pdf), type: "application/pdf", name: "harbour-rules.pdf" });
    const documentId = createDocument.document.id;
    const { processDocument } = await gql<{ processDocument: { job: { id: string } } }>(`mutation($id: ID!) { processDocument(input: { documentId: $id }) { job { id } } }`, { id: documentId });

    // 3. The HLS package, made after the captions were attached.
    const { createStreamingPackage } = await gql<{ createStreamingPackage: { job: { id: string } } }>(
      `mutation($id: ID!) { createStreamingPackage(input: { videoId: $id, formats: [HLS] }) { job { id } } }`, { id: videoId });
    await finished(indexVideo.job.id);
    await finished(processDocument.job.id);
    await finished(createStreamingPackage.job.id);

    // 4. A spoken phrase: the caption cue, with its time.
    const spoken = await gql<Search>(SEARCH, { q: `"ferry leaves"` });
    expect(spoken.search.totalCount).toBe(1);
    const cue = spoken.search.edges[0]!.node;
    expect(cue.item).toEqual({ __typename: "Video", id: videoId });
    expect(cue.matches[0]).toMatchObject({ kind: "CAPTION", mode: "AUDIO", startSeconds: 2.4, durationSeconds: 2.7 });
    expect(cue.matches[0]!.snippet).toContain("The <mark>ferry leaves</mark> at &quot;seven&quot;");

    // 5. A word on screen: "LIGHTHOUSE 42" is shown 7.5–10 s (the captions never say it).
    const shown = await gql<Search>(SEARCH, { q: "lighthouse", modes: ["VISUAL"] });
    expect(shown.search.totalCount).toBe(1);
    const onScreen = shown.search.edges[0]!.node.matches[0]!;
    expect(onScreen).toMatchObject({ kind: "ON_SCREEN_TEXT", mode: "VISUAL" });
    expect(Math.abs(onScreen.startSeconds! - 7.5)).toBeLessThanOrEqual(1);
    expect(onScreen.box!.width).toBeGreaterThan(0);

    // 6. A sentence of the scan: page 2, its box on the line the scan drew it on (150 dpi:
    // the line starts 150 px = 72 pt from the left edge, on the page's second line).
    const sentence = await gql<Search>(SEARCH, { q: `"life jackets are required"` });
    expect(sentence.search.totalCount).toBe(1);
    const page = sentence.search.edges[0]!.node;
    expect(page.item).toEqual({ __typename: "Document", id: documentId });
    expect(page.matches[0]).toMatchObject({ kind: "PAGE", page: 2 });
    const box = page.matches[0]!.box!;
    expect(box.x).toBeGreaterThan(60);
    expect(box.x).toBeLessThan(85);
    expect(box.y).toBeGreaterThan(90);
    expect(box.y).toBeLessThan(140);

    // 7. Facets over both items: "harbour" is in the video's title and tag, the scan's title.
    const both = await gql<Search>(SEARCH, { q: "harbour" });
    expect(both.search.totalCount).toBe(2);
    expect(both.search.facets.types).toEqual(expect.arrayContaining([{ value: "VIDEO", count: 1 }, { value: "DOCUMENT", count: 1 }]));
    expect(both.search.facets.languages).toEqual([{ value: "eng", count: 2 }]);
    expect(both.search.facets.durations).toEqual([{ value: "0-300", count: 1 }]);
    expect(both.search.facets.qualities).toEqual([{ value: "SD", count: 1 }]);

    // 8. The package's master playlist offers the captions to players.
    const { video } = await gql<{ video: { streamingPackages: Array<{ url: string }> } }>(`query($id: ID!) { video(id: $id) { streamingPackages { url } } }`, { id: videoId });
    const masterUrl = video.streamingPackages[0]!.url;
    const master = await (await fetch(masterUrl)).text();
    expect(master).toMatch(/#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",[^\n]*LANGUAGE="en"/);
    const subtitleUri = /TYPE=SUBTITLES[^\n]*URI="([^"]+)"/.exec(master)![1]!;
    const playlist = await (await fetch(new URL(subtitleUri, masterUrl))).text();
    const firstVtt = playlist.split("\n").find((l) => l && !l.startsWith("#"))!;
    const vtt = await (await fetch(new URL(firstVtt, new URL(subtitleUri, masterUrl)))).text();
    expect(vtt).toMatch(/^WEBVTT/);
    expect(vtt).toContain("X-TIMESTAMP-MAP=MPEGTS:");
  });
});
