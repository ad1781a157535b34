// video.index: makes a Video searchable by what it shows. VISUAL: the text on screen, read
// by OCR from frames taken at every scene change and at least every intervalSeconds (one
// ffmpeg pass: video-index/frames.ts), followed over time so each distinct text is one
// segment with when it appears, how long it stays, where it is and how sure OCR was
// (video-index/track.ts). AUDIO: the subtitle streams inside the source become caption
// tracks with their cues as segments (video-index/subtitles.ts, after the OCR, so a job
// cancelled while it reads frames has written nothing). Each mode's segments replace the
// ones an earlier run wrote, in a transaction fenced by the attempt with its video.indexed
// event: a cancelled or reclaimed attempt writes nothing more, a re-run adds no duplicates.
import { JobError, SpoolError } from "../errors.ts";
import { inTransaction } from "../engine/queryable.ts";
import { defineJobType, type Job, type JobContext } from "../engine/types.ts";
import { publishIndexed, replaceSegments } from "../services/search-index.ts";
import type { MediaInfo } from "../tools/ffmpeg/media-info.ts";
import type { DocumentDeps } from "./documents/read.ts";
import { fenceAttempt } from "./media/outputs.ts";
import { loadVideo, probeSource, requireVideoStream, runStage, sourceInput, withWorkDir } from "./media/source.ts";
import { planOf, Stages } from "./media/stages.ts";
import { checkFrames, frameFiles, framesSpec, MAX_FRAMES, planFrames, readFrames } from "./video-index/frames.ts";
import { indexInput, type IndexInput } from "./video-index/input.ts";
import { readFrameTexts } from "./video-index/read-frames.ts";
import { indexSubtitleStreams, type SubtitleIndexResult } from "./video-index/subtitles.ts";
import { trackText, type TextSegment } from "./video-index/track.ts";

export type IndexResult = {
  modes: ("VISUAL" | "AUDIO")[];
  /** Frames read (VISUAL), the interval used (wider than asked when the frame cap applied). */
  frames: number;
  intervalSeconds: number | null;
  /** ON_SCREEN_TEXT segments stored. */
  segments: number;
  /** Time the OCR workers spent on this job's frames. */
  ocrMs: number;
  durationSeconds: number | null;
  /** AUDIO: caption tracks stored from the source's subtitle streams, their CAPTION segments, streams skipped. */
  captions: { tracks: number; segments: number; skipped: number } | null;
};

/** Shares of progress by stage (the definition's `stages`). */
const STAGES = { probe: 1, frames: 4, ocr: 14, captions: 2, store: 1 };
/** The frames of one job on disk at most (both readings of up to MAX_FRAMES frames, PNG). */
const MAX_FRAME_BYTES = 8 * 1024 ** 3;

/** The picture as players show it: a 90° rotation swaps width and height. */
function displaySize(video: NonNullable<MediaInfo["video"]>): { width: number; height: number } {
  const quarter = Math.abs(Math.round(video.rotation / 90)) % 2 === 1;
  return quarter ? { width: video.height, height: video.width } : { width: video.width, height: video.height };
}

export const videoIndex = defineJobType<DocumentDeps, IndexInput, IndexResult>({
  type: "video.index",
  description: "Makes a Video searchable: on-screen text (OCR of frames at scene changes and intervals) with times, boxes and confidence; the subtitle streams of the source as caption tracks.",
  mutation: {
    name: "indexVideo",
    description: "Indexes a Video for search: the text shown on screen (mode VISUAL: when it appears, for how long, where, how sure OCR was) and the subtitle streams inside the file (mode AUDIO: caption tracks). Runs a video.index job.",
  },
  stages: STAGES,
  input: indexInput(),
  timeoutMs: 4 * 3600_000,
  async run(job: Job<IndexInput>, ctx: JobContext, deps): Promise<IndexResult> {
    const input = job.input;
    const modes = input.modes ?? ["visual", "audio"];
    const audio = modes.includes("audio");
    const src = await loadVideo(deps.pool, job, input.videoId);
    // Modes left unset read the picture only when there is one (the cached probe says; a
    // Video not yet probed is assumed to have one, and is checked after its probe below).
    let visual = modes.includes("visual") && !(input.modes === undefined && src.media !== null && !src.media.video);
    const stages = new Stages(ctx, planOf(STAGES, ["probe", visual && "frames", visual && "ocr", audio && "captions", "store"]));
    try {
      const found = await withWorkDir(job, ctx.attempt, (dir) => deps.assets.storage.withLocalFile(src.source.key, async (local) => {
        await stages.enter("probe");
        // Kept on the Video (videos.media) when it was not yet: search filters by its duration and quality.
        const info = await probeSource(deps, src, local, ctx);
        if (visual && input.modes === undefined && !info.video) {
          visual = false;
          ctx.logLine("no video stream (audio only): indexing its AUDIO only");
        }
        const captions = async (): Promise<SubtitleIndexResult | null> => {
          if (!audio) return null;
          await stages.enter("captions");
          return indexSubtitleStreams(deps, job, ctx, { local, dir, source: src });
        };
        if (!visual) return { info, frames: 0, intervalSeconds: null, segments: [] as TextSegment[], ocrMs: 0, captions: await captions() };
        const size = displaySize(requireVideoStream(info));
        const maxFrames = Math.min(MAX_FRAMES, deps.assets.limits.ocrPages);
        const plan = planFrames({ durationSec: info.durationSec, ...size, intervalSec: input.intervalSeconds, sceneThreshold: input.sceneThreshold, maxFrames });
        if (plan.widened) ctx.logLine(`a frame every ${plan.intervalSec} s instead of ${input.intervalSeconds} s: at most ${maxFrames} frames per job (SPOOL_MAX_OCR_PAGES)`, "warn");

        await stages.enter("frames");
        const files = frameFiles(dir);
        await runStage(deps, ctx, stages, framesSpec(sourceInput(src, local), plan, files), { durationSec: info.durationSec, maxOutputBytes: MAX_FRAME_BYTES });
        const frames = await checkFrames(await readFrames(files), files, plan.maxFrames);
        ctx.logLine(`${frames.length} frame${frames.length === 1 ? "" : "s"} to read (${plan.width}×${plan.height} for OCR, ${input.language})`);

        await stages.enter("ocr");
        const { texts, ocrMs } = await readFrameTexts(deps.ocr, ctx, frames, {
          language: input.language, minConfidence: input.minConfidence, scale: plan.scale,
          onDone: (done, total) => stages.update(done / total),
        });
        const last = frames.length ? frames[frames.length - 1]!.timeSec : 0;
        const endSec = info.durationSec && info.durationSec > last ? info.durationSec : last + plan.intervalSec;
        const segments = trackText(texts, endSec, size);
        return { info, frames: frames.length, intervalSeconds: plan.intervalSec, segments, ocrMs, captions: await captions() };
      }, ctx.signal));

      await stages.enter("store");
      const owner = { organizationId: job.organizationId, videoId: src.videoId };
      const stored = await inTransaction(deps.pool, async (tx) => {
        await fenceAttempt(tx, job, ctx.attempt);
        const video = await tx.query(`select 1 from videos where id = $1 and organization_id = $2 for share`, [src.videoId, job.organizationId]);
        if (!video.rowCount) throw new JobError("NOT_FOUND", "The Video was deleted during the indexing.");
        if (!visual) return 0;
        const n = await replaceSegments(tx, owner, "visual", found.segments.map((s) => ({
          mode: "VISUAL" as const, kind: "ON_SCREEN_TEXT" as const, text: s.text, startMs: s.startMs, durationMs: s.durationMs,
          box: s.box, confidence: s.confidence, language: input.language,
        })));
        await publishIndexed(tx, owner, { modes: ["VISUAL"], source: "visual", segmentCount: n, jobId: job.id });
        return n;
      });
      ctx.progress(1);
      const c = found.captions;
      return {
        modes: [...(visual ? ["VISUAL" as const] : []), ...(audio ? ["AUDIO" as const] : [])],
        frames: found.frames, intervalSeconds: found.intervalSeconds, segments: stored,
        ocrMs: Math.round(found.ocrMs), durationSeconds: found.info.durationSec,
        captions: c ? { tracks: c.tracks, segments: c.segments, skipped: c.skipped.length } : null,
      };
    } catch (err) {
      if (!ctx.signal.aborted && err instanceof SpoolError && !(err instanceof JobError)) throw new JobError(err.code, err.message);
      throw err;
    }
  },
});
