// The ffmpeg adapter processors hold: one object, built once by the composition root
// (app.ts calls `Ffmpeg.resolve`), that knows which binaries to run and what they can do,
// and runs them. Processors decide what to do; this folder executes it: it finds the
// binaries (binaries.ts), refuses anything that could make ffmpeg open more than the files
// it was given (argv.ts), reads ffprobe's facts (probe.ts, media-info.ts), reports progress
// and stops the process for good on abort, timeout, or the death of this Node process
// (run.ts, orphan-guard.ts). No database, no decisions.
import type { FfmpegSpec } from "./argv.ts";
import { readCapabilities, resolveBinary, type FfmpegBinaries, type FfmpegCapabilities } from "./binaries.ts";
import type { MediaInfo, ProbeStream } from "./media-info.ts";
import { findGuardShell } from "./orphan-guard.ts";
import { Prober, type DataEnd, type ProbeOptions } from "./probe.ts";
import { runFfmpeg, type RunOptions, type RunResult } from "./run.ts";

export class Ffmpeg {
  private readonly prober: Prober;

  private constructor(
    readonly binaries: FfmpegBinaries,
    readonly capabilities: FfmpegCapabilities,
    /** The orphan guard's shell, null where there is none. */
    private readonly sh: string | null,
  ) {
    this.prober = new Prober(binaries.ffprobe, sh);
  }

  /**
   * Finds ffmpeg and ffprobe, each independently: the explicit path, then PATH, then the
   * npm packages, and reads what this ffmpeg can do. `pathEnv` replaces process.env.PATH
   * for the search (tests).
   */
  static async resolve(opts: { ffmpegPath?: string; ffprobePath?: string; pathEnv?: string }): Promise<Ffmpeg> {
    const pathEnv = opts.pathEnv ?? process.env.PATH;
    const [ffmpeg, ffprobe] = await Promise.all([
      resolveBinary("ffmpeg", opts.ffmpegPath, pathEnv),
      resolveBinary("ffprobe", opts.ffprobePath, pathEnv),
    ]);
    const capabilities = await readCapabilities(ffmpeg.path);
    return new Ffmpeg(
      { ffmpeg: ffmpeg.path, ffprobe: ffprobe.path, source: ffmpeg.source, version: ffmpeg.version, ffprobeVersion: ffprobe.version },
      capabilities,
      findGuardShell(),
    );
  }

  /** ffprobe facts about a file. Undecodable input → FfmpegError VIDEO_FORMAT_UNSUPPORTED. */
  probe(path: string, opts: ProbeOptions = {}): Promise<MediaInfo> {
    return this.prober.probe(path, opts);
  }

  /** The streams of one type (`s`: subtitles) as ffprobe describes them (tags, disposition). */
  streams(path: string, type: "v" | "a" | "s", opts: ProbeOptions = {}): Promise<ProbeStream[]> {
    return this.prober.streams(path, type, opts);
  }

  /** The first video stream's keyframe times, from its packets; null when too many to list. */
  keyframes(path: string, opts: ProbeOptions = {}): Promise<number[] | null> {
    return this.prober.keyframes(path, opts);
  }

  /** Where a file's packets really end, listed from a seek to `fromSec` (see Prober.dataEnd). */
  dataEnd(path: string, opts: ProbeOptions & { fromSec: number }): Promise<DataEnd> {
    return this.prober.dataEnd(path, opts);
  }

  /** Runs one ffmpeg command. Rejects with FfmpegError, or SpoolError ABORTED / INVALID_INPUT. */
  run(spec: FfmpegSpec, opts: RunOptions): Promise<RunResult> {
    return runFfmpeg(this.binaries.ffmpeg, this.sh, spec, opts);
  }
}
