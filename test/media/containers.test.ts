// Every container the allowlist promises, as ffmpeg writes it, against both builds: the
// upload is accepted under the type file-type detects (its names, e.g. video/vnd.avi and
// video/matroska, not the older x- names), and a job then reads it with the demuxer
// forced from that type.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDb } from "../helpers.ts";
import { binaries, generate } from "./fixtures.ts";
import { startMediaEnv, type MediaEnv } from "./harness.ts";

const CREATE_VIDEO = `mutation($input: CreateVideoInput!) { createVideo(input: $input) { video { id status source { kind contentType } } } }`;
const ANALYZE = `mutation($id: ID!) { analyzeVideo(input: { videoId: $id }) { job { id } } }`;
const JOB = `query($id: ID!) { job(id: $id) { status error { code message } result } }`;

const PICTURE = ["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=1"];
const SOUND = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=1"];

/** What browsers, cameras and editors hand over in containers other than mp4/webm. */
const CONTAINERS: Array<{ name: string; args: string[]; contentType: string; kind: "VIDEO" | "AUDIO"; video: boolean }> = [
  { name: "clip.avi", args: [...PICTURE, ...SOUND, "-c:v", "mpeg4", "-c:a", "libmp3lame", "-f", "avi"], contentType: "video/vnd.avi", kind: "VIDEO", video: true },
  { name: "clip.mkv", args: [...PICTURE, ...SOUND, "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-f", "matroska"], contentType: "video/matroska", kind: "VIDEO", video: true },
  { name: "clip.vob", args: [...PICTURE, ...SOUND, "-c:v", "mpeg2video", "-c:a", "mp2", "-f", "vob"], contentType: "video/MP2P", kind: "VIDEO", video: true },
  { name: "clip.mpg", args: [...PICTURE, ...SOUND, "-c:v", "mpeg1video", "-c:a", "mp2", "-f", "mpeg"], contentType: "video/MP1S", kind: "VIDEO", video: true },
  { name: "clip.3g2", args: [...PICTURE, ...SOUND, "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-f", "3g2"], contentType: "video/3gpp2", kind: "VIDEO", video: true },
  { name: "tone.aiff", args: [...SOUND, "-c:a", "pcm_s16be", "-f", "aiff"], contentType: "audio/aiff", kind: "AUDIO", video: false },
];


let db: TestDb;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

describe.each(binaries())("containers written by the $name ffmpeg", (bin) => {
  let env: MediaEnv;
  beforeAll(async () => {
    env = await startMediaEnv(db, bin, { dirPrefix: "containers-test-" });
  });
  afterAll(() => env?.close());

  it.each(CONTAINERS)("$name uploads as $contentType and video.analyze reads it", async (c) => {
    const file = await generate(bin.ffmpeg, c.args, path.join(env.dir, c.name));
    const r = await env.api.gqlUpload(CREATE_VIDEO, { input: { file: null } }, { "input.file": { bytes: await readFile(file), name: c.name } }, env.key);
    expect(r.errors).toBeUndefined();
    expect(r.data.createVideo.video).toMatchObject({ status: "READY", source: { kind: c.kind, contentType: c.contentType } });
    const s = await env.api.gql(ANALYZE, { id: r.data.createVideo.video.id }, env.key);
    expect(s.errors).toBeUndefined();
    await env.engine.drain();
    const j = (await env.api.gql(JOB, { id: s.data.analyzeVideo.job.id }, env.key)).data.job;
    expect(j.error).toBeNull();
    expect(j.status).toBe("SUCCEEDED");
    expect(Math.abs(j.result.metadata.durationSec - 1)).toBeLessThan(0.2);
    expect(j.result.metadata.video !== null).toBe(c.video);
    expect(j.result.loudness.integratedLufs).toBeLessThan(-10);
  });
});
