// The frame cap: a video longer than SPOOL_MAX_OCR_PAGES frames at the asked interval is
// read at a wider one (logged), never more frames than the limit, and still from start to end.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { Engine } from "../../src/engine/engine.ts";
import { idOf } from "../../src/graphql/ids.ts";
import { Ffmpeg } from "../../src/tools/ffmpeg/ffmpeg.ts";
import { OcrPool } from "../../src/tools/ocr/pool.ts";
import { createTestApi, type Api } from "../graphql/api-helpers.ts";
import { createTestDatabase, log, type TestDb } from "../helpers.ts";
import { npmFfmpeg, npmFfprobe } from "../media/fixtures.ts";
import { harbourVideo } from "./video-index-fixtures.ts";

let db: TestDb;
let ocr: OcrPool;
let api: Api;
let dir: string;
beforeAll(async () => {
  db = await createTestDatabase();
  ocr = new OcrPool({ size: 2 });
  api = await createTestApi(db, { ffmpeg: await Ffmpeg.resolve({ ffmpegPath: npmFfmpeg(), ffprobePath: npmFfprobe() }), ocr, limits: { ocrPages: 6 } });
  dir = await mkdtemp(path.join(os.tmpdir(), "spool-video-index-limits-"));
});
afterAll(async () => {
  await api?.close();
  await ocr?.close();
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it("12 s at one frame a second with a 6-frame limit: 6 frames at most, 2.4 s apart, the last text still found", { timeout: 300_000 }, async () => {
  const { key } = await api.tenant();
  const file = await harbourVideo(npmFfmpeg(), path.join(dir, "harbour.mp4"));
  const up = await api.gqlUpload(`mutation($input: CreateVideoInput!) { createVideo(input: $input) { video { id } } }`,
    { input: { file: null } }, { "input.file": { bytes: await readFile(file), name: "harbour.mp4" } }, key);
  const videoId = up.data.createVideo.video.id;
  const r = await api.gql(`mutation($input: IndexVideoInput!) { indexVideo(input: $input) { job { id } } }`, { input: { videoId, modes: ["VISUAL"] } }, key);
  expect(r.errors).toBeUndefined();
  const engine = new Engine({ pool: db.pool, registry: api.registry, log, concurrency: 1 });
  await engine.drain();
  const j = await api.gql(`query($id: ID!) { job(id: $id) { status result events(first: 100) { edges { node { kind message } } } } }`, { id: r.data.indexVideo.job.id }, key);
  expect(j.data.job.status).toBe("SUCCEEDED");
  expect(j.data.job.result.frames).toBeLessThanOrEqual(6);
  expect(j.data.job.result.frames).toBeGreaterThanOrEqual(5);
  expect(j.data.job.result.intervalSeconds).toBeCloseTo(2.4, 2);
  const logs = j.data.job.events.edges.map((e: { node: { kind: string; message: string } }) => e.node).filter((e: { kind: string }) => e.kind === "LOG").map((e: { message: string }) => e.message);
  expect(logs).toContainEqual(expect.stringMatching(/a frame every 2\.4 s instead of 1 s: at most 6 frames per job/));
  // Frames at 0, 2.4, 4.8, 7.2 and 9.6 (the cut at 6.6 s is closer than 2.4 s to the frame before):
  // LIGHTHOUSE 42 (7.5–10 s) is seen at 9.6.
  const { rows } = await db.pool.query(`select text, start_ms from search_segments where item_id = $1 and source = 'visual'`, [idOf("Video", videoId)]);
  expect(rows.map((s) => s.text.toLowerCase())).toContain("lighthouse 42");
});
