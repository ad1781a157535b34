// OCR of the selected frames on the shared pool: both readings of each frame (the grey
// picture and its light-text mask) are queued, a bounded number at a time so that one long
// video does not fill the pool's queue ahead of every other job, and each PNG is deleted
// once read. The first failure stops the rest (their requests are aborted).
import { rm } from "node:fs/promises";
import type { JobContext } from "../../engine/types.ts";
import type { OcrPool } from "../../tools/ocr/pool.ts";
import type { Frame } from "./frames.ts";
import { linesOf, mergeReadings, type FrameText } from "./track.ts";

export type ReadOptions = { language: string; minConfidence: number; scale: number; onDone(done: number, total: number): void };

export async function readFrameTexts(ocr: OcrPool, ctx: JobContext, frames: Frame[], opts: ReadOptions): Promise<{ texts: FrameText[]; ocrMs: number }> {
  const stop = new AbortController();
  const signal = AbortSignal.any([ctx.signal, stop.signal]);
  const texts: FrameText[] = new Array(frames.length);
  const limit = Math.max(2, ocr.size * 2);
  let next = 0;
  let done = 0;
  let ocrMs = 0;
  let failure: unknown = null;

  const readOne = async (frame: Frame) => {
    const readings = [];
    for (const file of [frame.grey, frame.light]) {
      const result = await ocr.recognize(file, { language: opts.language, signal });
      ocrMs += result.elapsedMs;
      readings.push(linesOf(result, opts));
      await rm(file, { force: true });
    }
    texts[frame.index] = { timeSec: frame.timeSec, lines: mergeReadings(readings) };
    done++;
    opts.onDone(done, frames.length);
  };

  const lane = async () => {
    while (failure === null && next < frames.length) {
      const frame = frames[next++]!;
      try {
        await readOne(frame);
      } catch (err) {
        if (failure === null) {
          failure = err;
          stop.abort(err);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, frames.length) }, lane));
  if (failure !== null) throw ctx.signal.aborted && ctx.signal.reason instanceof Error ? ctx.signal.reason : failure;
  return { texts: texts.filter(Boolean), ocrMs };
}
