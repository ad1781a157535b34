// audio.transcode: a Video's audio track (or an audio-only source) as mp3, aac (.m4a),
// vorbis (.ogg) or opus (.opus), optionally denoised (afftdn) and loudness-normalised
// (EBU R128 with loudnorm in two passes: measure, then a linear gain from the measurement,
// which keeps the dynamics that one-pass loudnorm would compress; a clip shorter than one
// 400 ms gating block is measured played in a loop and gets a plain gain). The input's
// loudness is always measured and returned; the output's when it was normalised.
import path from "node:path";
import type { z } from "zod";
import { JobError } from "../errors.ts";
import { defineJobType, type JobContext } from "../engine/types.ts";
import type { FfmpegSpec } from "../tools/ffmpeg/argv.ts";
import { FfmpegError } from "../tools/ffmpeg/failures.ts";
import { FASTSTART } from "./media/encoders.ts";
import { AUDIO_ENCODERS, audioInput, encoderFor, type AudioCodec } from "./media/inputs.ts";
import { storeOutputs } from "./media/outputs.ts";
import { loadVideo, probeSource, sourceInput, withWorkDir, type MediaDeps } from "./media/source.ts";
import { planOf, Stages } from "./media/stages.ts";

export type AudioInput = z.infer<ReturnType<typeof audioInput>>;
// inputs.ts types the enum as its first member only (it is narrowed to the binary at runtime).
type Format = "mp3" | "aac" | "ogg" | "opus";
export type Loudness = { integratedLufs: number | null; truePeakDbtp: number | null; rangeLu: number | null };
export type AudioResult = {
  assetId: string;
  label: string;
  format: Format;
  bitrateKbps: number;
  sampleRate: number;
  channels: number;
  durationSec: number | null;
  sizeBytes: number;
  /** EBU R128 of the audio going in (after noise reduction, when both are on). */
  inputLoudness: Loudness | null;
  normalized: boolean;
  /** loudnorm's own measurement of what it wrote, when normalised. */
  outputLoudness: Loudness | null;
};

const FORMATS: Record<Format, { codec: AudioCodec; muxer: string; ext: string; contentType: string; demuxer: string; rates: readonly number[] | null }> = {
  mp3: { codec: "mp3", muxer: "mp3", ext: "mp3", contentType: "audio/mpeg", demuxer: "mp3", rates: [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000] },
  aac: { codec: "aac", muxer: "ipod", ext: "m4a", contentType: "audio/mp4", demuxer: "mov", rates: [7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000] },
  ogg: { codec: "vorbis", muxer: "ogg", ext: "ogg", contentType: "audio/ogg", demuxer: "ogg", rates: null },
  // Opus codes at these rates only; players decode at 48 kHz whatever was asked.
  opus: { codec: "opus", muxer: "ogg", ext: "opus", contentType: "audio/opus", demuxer: "ogg", rates: [8000, 12000, 16000, 24000, 48000] },
};

// Fixed afftdn settings: noise reduction in dB, and the noise floor it assumes (dB).
const DENOISE = { light: "afftdn=nr=10:nf=-50", strong: "afftdn=nr=24:nf=-40" } as const;
const TRUE_PEAK = -1.5;
const RANGE = 11;

/** The sample rate the encoder can take: the one asked for (or the source's), else the next one up. */
export function encodableRate(format: Format, want: number): number {
  const rates = FORMATS[format].rates;
  if (!rates) return want;
  return rates.find((r) => r >= want) ?? rates[rates.length - 1]!;
}

// libvorbis' managed bitrate mode refuses most rate/channel pairs away from 44.1/48 kHz
// stereo (320 kb/s at 22.05 kHz fails setup), so ogg uses its quality scale instead, from
// the nominal stereo bitrates of each step (q4 ≈ 128 kb/s, q6 ≈ 192 kb/s, …).
const VORBIS_STEPS: ReadonlyArray<[number, number]> = [[64, 0], [80, 1], [96, 2], [112, 3], [128, 4], [160, 5], [192, 6], [224, 7], [256, 8], [320, 9], [500, 10]];
export function vorbisQuality(kbps: number, channels: number): number {
  const stereo = channels === 1 ? kbps * 2 : kbps;
  if (stereo <= VORBIS_STEPS[0]![0]) return 0;
  for (let i = 1; i < VORBIS_STEPS.length; i++) {
    const [b1, q1] = VORBIS_STEPS[i]!;
    const [b0, q0] = VORBIS_STEPS[i - 1]!;
    if (stereo <= b1) return Math.round((q0 + ((stereo - b0) / (b1 - b0)) * (q1 - q0)) * 10) / 10;
  }
  return 10;
}

/** The JSON object loudnorm prints (print_format=json) among ffmpeg's stderr lines. */
export function parseLoudnormJson(lines: string[]): Record<string, string> | null {
  const text = lines.join("\n");
  const matches = text.match(/\{[^{}]*"input_i"[^{}]*\}/g);
  if (!matches) return null;
  try {
    return JSON.parse(matches[matches.length - 1]!) as Record<string, string>;
  } catch {
    return null;
  }
}

/** ebur128's closing summary (I, LRA, true peak). */
export function parseEbur128Summary(lines: string[]): Loudness | null {
  const at = lines.findLastIndex((l) => /Parsed_ebur128.*Summary:/.test(l));
  if (at < 0) return null;
  const rest = lines.slice(at);
  const pick = (re: RegExp) => {
    for (const l of rest) {
      const m = re.exec(l);
      if (m) return finiteOrNull(m[1]);
    }
    return null;
  };
  return { integratedLufs: pick(/^\s*I:\s*(\S+)\s*LUFS/), rangeLu: pick(/^\s*LRA:\s*(\S+)\s*LU\b/), truePeakDbtp: pick(/^\s*Peak:\s*(\S+)\s*dBFS/) };
}

function finiteOrNull(v: unknown): number | null {
  const n = typeof v === "string" ? Number(v) : typeof v === "number" ? v : NaN;
  return Number.isFinite(n) ? n : null;
}

const STATS_LINE = /^\s*(?:frame|size)=.*time=/;

/**
 * runStage with the stderr lines kept: loudnorm and ebur128 report on stderr. Only the
 * last lines are kept (the reports come at the end); a failure logs the adapter's tail.
 */
async function runCollecting(deps: MediaDeps, ctx: JobContext, stages: Stages, spec: FfmpegSpec, durationSec: number | null): Promise<string[]> {
  const lines: string[] = [];
  try {
    await deps.ffmpeg.run(spec, {
      signal: ctx.signal,
      durationSec,
      maxOutputBytes: deps.assets.limits.videoBytes,
      onProgress: (p) => stages.update(p.fraction, { fps: p.fps, speed: p.speed, etaSeconds: p.etaSec }),
      onStderrLine: (line) => {
        if (STATS_LINE.test(line)) return;
        lines.push(line);
        if (lines.length > 200) lines.shift();
      },
    });
  } catch (err) {
    if (err instanceof FfmpegError) for (const line of err.stderrTail.slice(-15)) ctx.logLine(`ffmpeg: ${line}`, "error");
    throw err;
  }
  return lines;
}

const fixed = (n: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, n)).toFixed(2);
const round2 = (n: number) => Math.round(n * 100) / 100;

/** A short clip is measured played this long in a loop: 27 gating blocks, loudnorm's own 3 s window. */
const LOOPED_SECONDS = 3;
/** Assumed for a clip whose duration the container does not give. */
const SHORTEST_CLIP_SECONDS = 0.01;

/** How many more times to read a clip so that it plays for LOOPED_SECONDS. */
export function loopsToFill(durationSec: number | null): number {
  return Math.ceil(LOOPED_SECONDS / Math.max(durationSec ?? SHORTEST_CLIP_SECONDS, SHORTEST_CLIP_SECONDS)) - 1;
}

/**
 * The one gain (dB) that takes a clip shorter than a gating block to the target, lowered so
 * that its true peak stays at or under TRUE_PEAK. It is applied with `volume`, not loudnorm:
 * on a 0.3 s clip the 2018 npm build's loudnorm leaves the level as it was in linear mode
 * (5.1's lands 0.7 LU off), and its dynamic mode means nothing over less than one block.
 */
export function shortClipGain(targetLufs: number, measuredLufs: number, truePeakDbtp: number): { db: number; limited: boolean } {
  const db = targetLufs - measuredLufs;
  return truePeakDbtp + db > TRUE_PEAK ? { db: TRUE_PEAK - truePeakDbtp, limited: true } : { db, limited: false };
}

/** Shares of progress by stage (the definition's `stages`). */
const STAGES = { probe: 1, measure: 4, encode: 5, store: 1 };

export const audioTranscode = defineJobType<MediaDeps, AudioInput, AudioResult>({
  type: "audio.transcode",
  description: "A Video's audio as mp3/aac/ogg/opus, optionally denoised and loudness-normalised (EBU R128, two passes).",
  mutation: { name: "transcodeAudio", description: "The audio track as mp3/aac/ogg/opus, optionally loudness-normalised and denoised. Runs a audio.transcode job." },
  stages: STAGES,
  input: (deps) => audioInput(deps.ffmpeg.capabilities),
  timeoutMs: 4 * 60 * 60_000,
  async run(job, ctx, deps) {
    const caps = deps.ffmpeg.capabilities;
    const input = job.input;
    const format = input.format as Format;
    const fmt = FORMATS[format];
    const encoder = encoderFor(AUDIO_ENCODERS, fmt.codec, caps);
    if (!encoder) throw new JobError("INVALID_INPUT", `This server's ffmpeg cannot encode ${format}.`);
    const src = await loadVideo(deps.pool, job, input.videoId);
    return withWorkDir(job, ctx.attempt, (dir) => deps.assets.storage.withLocalFile(src.source.key, async (local) => {
      await ctx.stage("probe");
      const info = await probeSource(deps, src, local, ctx);
      if (!info.audio) throw new JobError("VIDEO_FORMAT_UNSUPPORTED", "The source has no audio stream.");
      const duration = info.durationSec;
      const stages = new Stages(ctx, planOf(STAGES, ["probe", input.normalize && "measure", "encode", "store"]));

      const channels = input.channels ?? Math.min(2, Math.max(1, info.audio.channels));
      const sampleRate = encodableRate(format, input.sampleRate ?? (info.audio.sampleRate || 48_000));
      const bitrateKbps = fmt.codec === "opus" ? Math.min(input.bitrateKbps, 256 * channels) : input.bitrateKbps;
      const label = `${format}-${bitrateKbps}k`;
      const out = path.join(dir, `${label}.${fmt.ext}`);
      const inputs = [sourceInput(src, local)];
      const denoise = input.noiseReduction === "off" ? null : DENOISE[input.noiseReduction];
      // -ar always: loudnorm works at 192 kHz and would hand that rate to the encoder.
      const encode = ["-ar", String(sampleRate), "-ac", String(channels), "-c:a", encoder,
        ...(fmt.codec === "vorbis" ? ["-q:a", String(vorbisQuality(bitrateKbps, channels))] : ["-b:a", `${bitrateKbps}k`]),
        ...(fmt.muxer === "ipod" ? FASTSTART : []), "-f", fmt.muxer];
      const target = input.loudnessTarget;
      const loudnorm = `loudnorm=I=${target}:TP=${TRUE_PEAK}:LRA=${RANGE}`;

      let inputLoudness: Loudness | null = null;
      let outputLoudness: Loudness | null = null;
      let gain: string | null = null;
      if (input.normalize) {
        await stages.enter("measure");
        const measure = async (loops: number) => {
          const lines = await runCollecting(deps, ctx, stages, {
            inputs: [{ ...inputs[0]!, streamLoop: loops }],
            outputs: [{ path: "/dev/null", args: ["-map", "0:a:0", "-af", [denoise, `${loudnorm}:print_format=json`].filter(Boolean).join(","), "-f", "null"] }],
          }, duration === null ? null : duration * (loops + 1));
          const m = parseLoudnormJson(lines);
          if (!m) throw new JobError("TRANSCODING_FAILED", "loudnorm printed no measurement; the audio could not be analysed.");
          return m;
        };
        let m = await measure(0);
        // EBU R128 integrates 400 ms blocks, so a clip shorter than one has no integrated
        // loudness (loudnorm prints -inf) though it is not silent: its peak is measurable.
        // (A long source with no loudness is below the -70 LUFS gate: looping cannot help.)
        const short = finiteOrNull(m.input_i) === null && finiteOrNull(m.input_tp) !== null && loopsToFill(duration) > 0;
        if (short) m = await measure(loopsToFill(duration));
        inputLoudness = { integratedLufs: finiteOrNull(m.input_i), truePeakDbtp: finiteOrNull(m.input_tp), rangeLu: finiteOrNull(m.input_lra) };
        const mi = finiteOrNull(m.input_i), mtp = finiteOrNull(m.input_tp), mlra = finiteOrNull(m.input_lra);
        const mth = finiteOrNull(m.input_thresh), off = finiteOrNull(m.target_offset);
        if (mi === null || mtp === null || mlra === null || mth === null || off === null) {
          ctx.logLine("the source is silent (no measurable loudness); it is encoded without normalisation", "warn");
        } else if (short) {
          const g = shortClipGain(target, mi, mtp);
          if (g.limited) ctx.logLine(`the clip's peak (${mtp} dBTP) allows a gain of ${g.db.toFixed(2)} dB only; it ends below ${target} LUFS`, "warn");
          gain = `volume=${g.db.toFixed(2)}dB`;
          // A linear gain moves every measure by the same number of dB: this is what
          // loudnorm would report of its output (before the encoder), for a clip it cannot gate.
          outputLoudness = { integratedLufs: round2(mi + g.db), truePeakDbtp: round2(mtp + g.db), rangeLu: mlra };
        } else {
          // loudnorm refuses measurements outside these ranges; a quieter source is nearly silence.
          gain = `${loudnorm}:measured_I=${fixed(mi, -99, 0)}:measured_TP=${fixed(mtp, -99, 99)}:measured_LRA=${fixed(mlra, 0, 99)}` +
            `:measured_thresh=${fixed(mth, -99, 0)}:offset=${fixed(off, -99, 99)}:linear=true:print_format=json`;
        }
      }

      await stages.enter("encode");
      let spec: FfmpegSpec;
      if (gain) {
        spec = { inputs, outputs: [{ path: out, args: ["-map", "0:a:0", "-af", [denoise, gain].filter(Boolean).join(","), ...encode] }] };
      } else {
        // Measure the input on a branch so the delivered audio is not resampled for ebur128 (48 kHz only).
        spec = {
          inputs,
          filterComplex: `[0:a:0]asplit=2[m][a];[m]ebur128=peak=true:framelog=verbose,anullsink;[a]${denoise ?? "anull"}[out]`,
          outputs: [{ path: out, args: ["-map", "[out]", ...encode] }],
        };
      }
      const lines = await runCollecting(deps, ctx, stages, spec, duration);
      if (gain && !outputLoudness) {
        const o = parseLoudnormJson(lines);
        if (o) outputLoudness = { integratedLufs: finiteOrNull(o.output_i), truePeakDbtp: finiteOrNull(o.output_tp), rangeLu: finiteOrNull(o.output_lra) };
        if (o?.normalization_type && o.normalization_type !== "linear") {
          ctx.logLine(`loudnorm could not apply one linear gain within the ${TRUE_PEAK} dBTP peak limit; it normalised dynamically`, "warn");
        }
      } else if (!inputLoudness) {
        inputLoudness = parseEbur128Summary(lines);
      }

      await stages.enter("store");
      const media = await deps.ffmpeg.probe(out, { format: fmt.demuxer, signal: ctx.signal });
      const [row] = await storeOutputs(deps, job, ctx.attempt, { videoId: src.videoId }, [{
        role: "AUDIO", label, filename: `${label}.${fmt.ext}`, contentType: fmt.contentType, kind: "AUDIO", media, file: out,
      }], ctx.signal);
      stages.update(1);
      return {
        assetId: row!.id,
        label,
        format,
        bitrateKbps,
        sampleRate: media.audio?.sampleRate ?? sampleRate,
        channels: media.audio?.channels ?? channels,
        durationSec: media.durationSec,
        sizeBytes: media.sizeBytes,
        inputLoudness,
        normalized: gain !== null,
        outputLoudness,
      };
    }, ctx.signal));
  },
});
