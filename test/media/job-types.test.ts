// jobTypes lists the media job types with their input schemas, narrowed to what the ffmpeg
// in use can encode; a codec the binary lacks is refused when the job is submitted.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Ffmpeg } from "../../src/tools/ffmpeg/ffmpeg.ts";
import { VIDEO_ENCODERS } from "../../src/processors/media/inputs.ts";
import { createTestApi, type Api } from "../graphql/api-helpers.ts";
import { createTestDatabase, type TestDb } from "../helpers.ts";
import { binaries } from "./fixtures.ts";

let db: TestDb;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

describe.each(binaries())("jobTypes with the $name ffmpeg", (bin) => {
  let api: Api;
  let ffmpeg: Ffmpeg;
  beforeAll(async () => {
    ffmpeg = await Ffmpeg.resolve({ ffmpegPath: bin.ffmpeg, ffprobePath: bin.ffprobe });
    api = await createTestApi(db, { ffmpeg });
  });
  afterAll(async () => {
    await api?.close();
  });

  it("lists every media job type with its JSON Schema; codecs are the ones this binary can encode", async () => {
    const { key } = await api.tenant();
    const r = await api.gql(`{ jobTypes { type description inputSchema } }`, {}, key);
    const types = Object.fromEntries(r.data.jobTypes.map((t: any) => [t.type, t]));
    for (const t of ["video.transcode", "video.thumbnails", "video.analyze", "video.watermark", "media.streaming", "audio.transcode", "media.optimize"]) {
      expect(types[t], t).toBeDefined();
      expect(types[t].description.length).toBeGreaterThan(10);
    }
    const codecs = types["video.transcode"].inputSchema.properties.videoCodec.enum as string[];
    const expected = Object.entries(VIDEO_ENCODERS).filter(([, encs]) => encs.some((e) => ffmpeg.capabilities.encoders.has(e))).map(([c]) => c);
    expect(codecs.sort()).toEqual(expected.sort());
    expect(codecs).toContain("h264");
  });

  it("refuses at submit a codec the binary cannot encode, or the container cannot hold, naming the field", async () => {
    const { key } = await api.tenant();
    const missing = Object.keys(VIDEO_ENCODERS).find((c) => !VIDEO_ENCODERS[c as keyof typeof VIDEO_ENCODERS].some((e) => ffmpeg.capabilities.encoders.has(e)));
    const r = await api.gql(`mutation { submitJob(input: { type: "video.transcode", input: { videoId: "00000000-0000-4000-8000-000000000000", container: "webm", videoCodec: "h264" } }) { job { id } } }`, {}, key);
    expect(r.errors?.[0]?.extensions?.code).toBe("INVALID_INPUT");
    expect(r.errors?.[0]?.message).toMatch(/videoCodec/);
    if (missing) {
      const m = await api.gql(`mutation($c: String!) { submitJob(input: { type: "video.transcode", input: { videoId: "00000000-0000-4000-8000-000000000000", videoCodec: $c, container: "mkv" } }) { job { id } } }`, { c: missing }, key);
      expect(m.errors?.[0]?.extensions?.code).toBe("INVALID_INPUT");
    }
  });
});
