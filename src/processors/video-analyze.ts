// video.analyze: what is in a Video, kept on the Video — a fresh ffprobe (videos.media),
// the scene changes and the EBU R128 loudness (videos.analysis). No assets.
//
// Both measurements are ffmpeg filters that write per-frame metadata to a file in the work
// folder (`metadata=print:file=`): that file, not stderr, is what is parsed, so the result
// does not depend on log levels or how much of stderr is kept. Scene scores come from
// `select='gt(scene,T)'` (the 2018 npm build has no scdet), loudness from ebur128, whose
// integrated value and loudness range in the last frame's metadata are the whole run's.
import { open, readFile } from "node:fs/promises";
import path from "node:path";
import type { z } from "zod";
import { JobError, SpoolError } from "../errors.ts";
import { inTransaction } from "../engine/queryable.ts";
import { defineJobType, type Job, type JobContext } from "../engine/types.ts";
import type { Loudness } from "./audio-transcode.ts";
import type { FfmpegSpec } from "../tools/ffmpeg/argv.ts";
import type { MediaInfo } from "../tools/ffmpeg/media-info.ts";
import { analyzeInput } from "./media/inputs.ts";
import { loadVideo, probeSource, runStage, sourceInput, withWorkDir, type MediaDeps } from "./media/source.ts";
import { planOf, Stages } from "./media/stages.ts";

export type Scene = { timeSeconds: number; score: number };
/** What videos.analysis holds (graphql/video-outputs.ts reads it). */
export type Analysis = { scenes: Scene[] | null; loudness: Loudness | null; analyzedAt: string };
export type AnalyzeInput = z.infer<ReturnType<typeof analyzeInput>>;
export type AnalyzeResult = { metadata: MediaInfo; scenes: Scene[] | null; loudness: Loudness | null };

/**
 * Kept scenes at most (the strongest, in time order): enough for any edit, and the list
 * stays far below the job result's size limit (≈40 bytes a scene).
 */
const MAX_SCENES = 2000;
/** ebur128's absolute gate: an integrated value at or below it means nothing was loud enough to measure. */
const SILENCE_LUFS = -70;
/** ebur128 writes one metadata block per 100 ms; the last one is all that is read. */
const TAIL_BYTES = 64 * 1024;

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

export function scenesSpec(source: { path: string; format?: string }, threshold: number, scoresFile: string): FfmpegSpec {
  return {
    inputs: [{ path: source.path, format: source.format }],
    outputs: [{
      path: "/dev/null",
      args: ["-map", "0:v:0", "-vf", `select='gt(scene,${Number(threshold.toFixed(4))})',metadata=print:file=${scoresFile}`, "-f", "null"],
    }],
  };
}

export function loudnessSpec(source: { path: string; format?: string }, metadataFile: string): FfmpegSpec {
  return {
    inputs: [{ path: source.path, format: source.format }],
    outputs: [{
      path: "/dev/null",
      // framelog=verbose keeps ebur128's ten lines a second out of stderr.
      args: ["-map", "0:a:0", "-af", `ebur128=peak=true:metadata=1:framelog=verbose,ametadata=print:file=${metadataFile}`, "-f", "null"],
    }],
  };
}

/** `frame:N pts:… pts_time:T` followed by `key=value` lines, as the metadata filters print them. */
function metadataBlocks(text: string): { ptsTime: number | null; values: Map<string, string> }[] {
  const blocks: { ptsTime: number | null; values: Map<string, string> }[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line.startsWith("frame:")) {
      const m = /pts_time:\s*(-?[\d.]+(?:e[-+]?\d+)?)/i.exec(line);
      blocks.push({ ptsTime: m ? Number(m[1]) : null, values: new Map() });
      continue;
    }
    const eq = line.indexOf("=");
    if (eq > 0 && blocks.length) blocks[blocks.length - 1]!.values.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  return blocks;
}

export function parseScenes(text: string): Scene[] {
  const scenes: Scene[] = [];
  for (const b of metadataBlocks(text)) {
    const score = Number(b.values.get("lavfi.scene_score"));
    if (b.ptsTime === null || !Number.isFinite(b.ptsTime) || !Number.isFinite(score)) continue;
    scenes.push({ timeSeconds: round3(Math.max(0, b.ptsTime)), score: round3(score) });
  }
  if (scenes.length <= MAX_SCENES) return scenes;
  return [...scenes].sort((a, b) => b.score - a.score).slice(0, MAX_SCENES).sort((a, b) => a.timeSeconds - b.timeSeconds);
}

/** Loudness from the last metadata block; null when there is none or the audio is silent. */
export function parseLoudness(text: string): Loudness | null {
  const last = metadataBlocks(text).filter((b) => b.values.has("lavfi.r128.I")).pop();
  if (!last) return null;
  const num = (k: string) => {
    const v = last.values.get(k);
    const n = v === undefined ? NaN : Number(v);
    return Number.isFinite(n) ? n : null;
  };
  const integrated = num("lavfi.r128.I");
  if (integrated === null || integrated <= SILENCE_LUFS) return null;
  // Linear sample values per channel (5.1 also gives the maximum as true_peak).
  const peaks = [...last.values.entries()].filter(([k]) => /^lavfi\.r128\.true_peaks?(_ch\d+)?$/.test(k)).map(([, v]) => Number(v)).filter((n) => Number.isFinite(n) && n > 0);
  const peak = peaks.length ? Math.max(...peaks) : null;
  return {
    integratedLufs: round3(integrated),
    truePeakDbtp: peak === null ? null : round3(20 * Math.log10(peak)),
    rangeLu: num("lavfi.r128.LRA") === null ? null : round3(num("lavfi.r128.LRA")!),
  };
}

async function readTail(file: string, bytes: number): Promise<string> {
  const fh = await open(file, "r").catch(() => null);
  if (!fh) return "";
  try {
    const { size } = await fh.stat();
    const start = Math.max(0, size - bytes);
    const buf = Buffer.alloc(size - start);
    await fh.read(buf, 0, buf.length, start);
    const text = buf.toString("utf8");
    // Begin at a block boundary when the read started mid-file.
    return start === 0 ? text : text.slice(Math.max(0, text.indexOf("\nframe:") + 1));
  } finally {
    await fh.close();
  }
}

/** Shares of progress by stage (the definition's `stages`). */
const STAGES = { probe: 1, scenes: 6, loudness: 3 };

export const videoAnalyze = defineJobType<MediaDeps, AnalyzeInput, AnalyzeResult>({
  type: "video.analyze",
  description: "Metadata, scene changes and loudness (integrated LUFS, true peak, range), kept on the Video.",
  mutation: { name: "analyzeVideo", description: "Metadata, scene changes and loudness (LUFS, true peak), kept on the Video. Runs a video.analyze job." },
  stages: STAGES,
  input: analyzeInput(),
  timeoutMs: 4 * 3600_000,
  async run(job: Job<AnalyzeInput>, ctx: JobContext, deps): Promise<AnalyzeResult> {
    const input = job.input;
    const src = await loadVideo(deps.pool, job, input.videoId);
    const stages = new Stages(ctx, planOf(STAGES, ["probe", "scenes", "loudness"]));
    try {
      const result = await withWorkDir(job, ctx.attempt, (dir) => deps.assets.storage.withLocalFile(src.source.key, async (local) => {
        await stages.enter("probe");
        const metadata = await probeSource(deps, { ...src, media: null }, local, ctx) /* a fresh probe, not the cached one */;
        const source = sourceInput(src, local);
        const opts = { durationSec: metadata.durationSec, maxOutputBytes: deps.assets.limits.videoBytes };

        let scenes: Scene[] | null = null;
        if (input.scenes && metadata.video) {
          await stages.enter("scenes");
          const file = path.join(dir, "scenes.txt");
          await runStage(deps, ctx, stages, scenesSpec(source, input.sceneThreshold, file), opts);
          scenes = parseScenes(await readFile(file, "utf8").catch(() => ""));
        }

        let loudness: Loudness | null = null;
        if (input.loudness && metadata.audio) {
          await stages.enter("loudness");
          const file = path.join(dir, "loudness.txt");
          await runStage(deps, ctx, stages, loudnessSpec(source, file), opts);
          loudness = parseLoudness(await readTail(file, TAIL_BYTES));
        }
        return { metadata, scenes, loudness };
      }, ctx.signal));

      const analysis: Analysis = { scenes: result.scenes, loudness: result.loudness, analyzedAt: new Date().toISOString() };
      await inTransaction(deps.pool, async (tx) => {
        const fence = await tx.query(`select 1 from jobs where id = $1 and attempts = $2 and status = 'RUNNING' for update`, [job.id, ctx.attempt]);
        if (!fence.rowCount) throw new JobError("LEASE_LOST", "This attempt no longer owns the job (cancelled or reclaimed).");
        const updated = await tx.query(
          `update videos set media = $3, analysis = $4, updated_at = now() where id = $1 and organization_id = $2`,
          [src.videoId, job.organizationId, JSON.stringify(result.metadata), JSON.stringify(analysis)],
        );
        if (!updated.rowCount) throw new JobError("NOT_FOUND", "The Video was deleted during the analysis.");
      });
      ctx.progress(1);
      return result;
    } catch (err) {
      if (!ctx.signal.aborted && err instanceof SpoolError && !(err instanceof JobError)) throw new JobError(err.code, err.message);
      throw err;
    }
  },
});
