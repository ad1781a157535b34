// The rules of video.index that need no video: how lines read in successive frames become
// segments (track.ts) and how the frame pass is planned and spelled (frames.ts).
import { describe, expect, it } from "vitest";
import { buildFfmpegArgs } from "../../src/tools/ffmpeg/argv.ts";
import type { OcrResult, OcrWord } from "../../src/tools/ocr/types.ts";
import { framesSpec, frameFiles, planFrames, readFrames } from "../../src/processors/video-index/frames.ts";
import { linesOf, mergeReadings, similarity, trackText, type FrameText, type TextLine } from "../../src/processors/video-index/track.ts";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

const word = (text: string, confidence: number, x0: number, y0 = 100, w = 10 * text.length, h = 20): OcrWord => ({ text, confidence, bbox: { x0, y0, x1: x0 + w, y1: y0 + h } });
const result = (lines: OcrWord[][]): OcrResult => ({
  text: lines.map((l) => l.map((w) => w.text).join(" ")).join("\n"), confidence: 90, language: "eng", elapsedMs: 1,
  words: lines.flat(), lines: lines.map((words) => ({ text: words.map((w) => w.text).join(" "), confidence: 90, words, bbox: words[0]!.bbox })),
});
const line = (text: string, confidence = 90, y = 10, x = 10): TextLine => ({
  text, tokens: text.toLowerCase().split(" "), confidences: text.split(" ").map(() => confidence), box: { x, y, width: 10 * text.length, height: 20 },
});
const bounds = { width: 640, height: 360 };
const at = (timeSec: number, ...lines: TextLine[]): FrameText => ({ timeSec, lines });

describe("similarity", () => {
  it("is 1 for the same tokens, high for a misread letter or a lost short word, low for other text", () => {
    expect(similarity(["harbour"], ["harbour"])).toBe(1);
    expect(similarity(["harbour", "master"], ["harbcur", "master"])).toBeGreaterThanOrEqual(0.8);
    expect(similarity(["lighthouse"], ["lighthouse", "42"])).toBeGreaterThanOrEqual(0.8);
    expect(similarity(["uay"], ["quay"])).toBeGreaterThanOrEqual(0.8);
    expect(similarity(["ay"], ["quay"])).toBeLessThan(0.8);
    expect(similarity(["lighthouse"], ["lighthouse", "tours", "open", "daily"])).toBeLessThan(0.8);
    expect(similarity(["harbour"], ["beacon"])).toBeLessThan(0.8);
    expect(similarity([], ["x"])).toBe(0);
  });
});

describe("linesOf and mergeReadings", () => {
  it("keeps confident words of two letters or more, boxes back in source pixels", () => {
    const lines = linesOf(result([[word("HARBOUR", 95, 200), word("l", 99, 300), word("xx", 40, 320)], [word("~~", 99, 0, 10)]]), { minConfidence: 60, scale: 2 });
    expect(lines).toEqual([{ text: "HARBOUR", tokens: ["harbour"], confidences: [95], box: { x: 100, y: 50, width: 35, height: 10 } }]);
  });

  it("of two readings of the same place the more confident wins; other places are kept, top to bottom", () => {
    const merged = mergeReadings([[line("HARB0UR", 70, 100)], [line("HARBOUR", 96, 102), line("LIGHTHOUSE 42", 90, 10)]]);
    expect(merged.map((l) => l.text)).toEqual(["LIGHTHOUSE 42", "HARBOUR"]);
  });
});

describe("trackText", () => {
  it("one segment from the first frame showing a text to the first frame without it; text coming back is a new one", () => {
    const segs = trackText([at(0), at(1, line("HARBOUR")), at(2, line("HARBOUR")), at(3, line("HARBCUR")), at(4), at(6, line("HARBOUR")), at(7, line("HARBOUR"))], 8, bounds);
    expect(segs.map((s) => [s.text, s.startMs, s.durationMs])).toEqual([["HARBOUR", 1000, 3000], ["HARBOUR", 6000, 2000]]);
  });

  it("follows lines one by one: a ticking clock beside a title does not split the title", () => {
    const frames = [0, 1, 2, 3].map((t) => at(t, line(`00:00:0${t}`, 90, 5), line("EVENING NEWS", 92, 300)));
    const segs = trackText(frames, 4, bounds);
    const news = segs.filter((s) => s.text === "EVENING NEWS");
    expect(news.map((s) => [s.startMs, s.durationMs, s.confidence])).toEqual([[0, 4000, 92]]);
  });

  it("a text changed to another closes the first at the change", () => {
    const segs = trackText([at(0, line("HARBOUR")), at(1, line("HARBOUR")), at(2, line("BEACON")), at(3, line("BEACON"))], 3.5, bounds);
    expect(segs.map((s) => [s.text, s.startMs, s.durationMs])).toEqual([["HARBOUR", 0, 2000], ["BEACON", 2000, 1500]]);
  });

  it("drops a reading seen in one frame unless OCR was sure of it; keeps the usual reading, boxed where it was read best", () => {
    const moving = (x: number, text = "MARINA", confidence = 90) => ({ ...line(text, confidence, 100, x) });
    const segs = trackText([at(0, line("wr", 61, 200)), at(1, moving(10)), at(2, moving(30, "MARlNA")), at(3, moving(50, "MARINA", 94)), at(4, line("BEACON", 95, 300))], 5, bounds);
    expect(segs.map((s) => [s.text, s.startMs, s.durationMs])).toEqual([["MARINA", 1000, 3000], ["BEACON", 4000, 1000]]);
    expect(segs[0]!.box).toEqual({ x: 50, y: 100, width: 60, height: 20 });
    expect(segs[0]!.confidence).toBe(91.33);
  });

  it("clips boxes to the picture and never gives a zero duration", () => {
    const [s] = trackText([at(2, { ...line("EDGE", 95), box: { x: 600, y: 340, width: 80, height: 40 } })], 2, bounds);
    expect(s).toMatchObject({ startMs: 2000, durationMs: 1, box: { x: 600, y: 340, width: 40, height: 20 } });
  });
});

describe("planFrames and framesSpec", () => {
  it("upscales small pictures, shrinks big ones, keeps sizes even", () => {
    expect(planFrames({ durationSec: 12, width: 640, height: 360, intervalSec: 1, sceneThreshold: 0.3, maxFrames: 1000 })).toMatchObject({ scale: 1.5, width: 960, height: 540, intervalSec: 1, widened: false });
    expect(planFrames({ durationSec: 12, width: 3840, height: 2160, intervalSec: 1, sceneThreshold: 0.3, maxFrames: 1000 })).toMatchObject({ scale: 0.5, width: 1920, height: 1080 });
    expect(planFrames({ durationSec: 12, width: 1080, height: 1920, intervalSec: 1, sceneThreshold: 0.3, maxFrames: 1000 })).toMatchObject({ scale: 1, width: 1080, height: 1920 });
    expect(planFrames({ durationSec: 12, width: 161, height: 91, intervalSec: 1, sceneThreshold: 0.3, maxFrames: 1000 })).toMatchObject({ scale: 4, width: 644, height: 364 });
  });

  it("widens the interval and the scene gap so that a long video stays under the frame cap", () => {
    const p = planFrames({ durationSec: 7200, width: 1280, height: 720, intervalSec: 1, sceneThreshold: 0.3, maxFrames: 3600 });
    expect(p.widened).toBe(true);
    expect(7200 / p.sceneGapSec + 1).toBeLessThanOrEqual(3600);
    expect(p.intervalSec).toBeGreaterThanOrEqual(p.sceneGapSec);
    expect(planFrames({ durationSec: null, width: 1280, height: 720, intervalSec: 2, sceneThreshold: 0.3, maxFrames: 3600 })).toMatchObject({ intervalSec: 2, sceneGapSec: 0.2, widened: false });
  });

  it("spells one pass the ffmpeg adapter's rules accept, with the cap on both outputs", () => {
    const plan = planFrames({ durationSec: 12, width: 640, height: 360, intervalSec: 1.5, sceneThreshold: 0.25, maxFrames: 40 });
    const args = buildFfmpegArgs(framesSpec({ path: "/tmp/in.mp4", format: "mov" }, plan, frameFiles("/tmp/work")));
    const graph = args[args.indexOf("-filter_complex") + 1]!;
    // 12 s in at most 40 frames: scene frames at least 12/39 s apart.
    expect(graph).toContain("select='isnan(prev_selected_t)+gte(t-prev_selected_t\\,1.499)+gt(scene\\,0.25)*gte(t-prev_selected_t\\,0.307)'");
    expect(graph).toContain("metadata=print:file=/tmp/work/frames.txt,scale=960:540");
    expect(args.filter((a) => a === "-frames:v")).toHaveLength(2);
    expect(args.slice(-1)).toEqual(["/tmp/work/light-%06d.png"]);
  });

  it("reads each frame's time from the metadata listing, in order, counted from the first frame", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "spool-frames-"));
    try {
      await writeFile(path.join(dir, "frames.txt"), "frame:0    pts:126000  pts_time:1.4\r\nlavfi.scene_score=0.000000\r\nframe:1    pts:222030    pts_time:2.467\nlavfi.scene_score=0.01\nframe:2 pts:NOPTS pts_time:NOPTS\n");
      const frames = await readFrames(frameFiles(dir));
      expect(frames.map((f) => [f.index, f.timeSec, path.basename(f.grey), path.basename(f.light)])).toEqual([
        [0, 0, "grey-000001.png", "light-000001.png"], [1, 1.067, "grey-000002.png", "light-000002.png"], [2, 1.067, "grey-000003.png", "light-000003.png"],
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
