// One ffmpeg command run to its end: progress as it encodes, a wall-time cap, SIGKILL on
// abort, the output-size cap checked after the run, and a stable error code for every way
// it can fail.
//
// fluent-ffmpeg is archived upstream and must not leak past this folder. It is used for what
// it still does well (spawning, splitting stderr into lines, parsing stats lines into
// progress events) and nothing else: several of its internals are overridden per command
// (see `fluentCommand`) because they are unsafe or process-global.
import type { ChildProcess } from "node:child_process";
import { readdir, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import fluentFfmpeg from "fluent-ffmpeg";
import { abortError } from "../../errors.ts";
import { buildFfmpegArgs, type FfmpegSpec } from "./argv.ts";
import { FfmpegError, isUndecodable, LineRing, withTail } from "./failures.ts";
import { guarded, KILL_SETTLE_MS } from "./orphan-guard.ts";

export type FfmpegProgress = { fraction: number | null; outTimeSec: number; fps: number | null; speed: number | null; etaSec: number | null };
export type RunOptions = {
  signal: AbortSignal;
  /** Expected output duration, for fraction and eta. */
  durationSec?: number | null;
  onProgress?: (p: FfmpegProgress) => void;
  onStderrLine?: (line: string) => void;
  /** -fs on every output, and checked after the run. */
  maxOutputBytes?: number;
  /** Wall time cap. */
  timeoutMs?: number;
  /** Called with the ffmpeg pid as soon as it is spawned. */
  onStart?: (pid: number) => void;
};
export type RunResult = { elapsedMs: number; stderrTail: string[] };

type FluentInternals = {
  _getFfmpegPath(cb: (err: Error | null, path?: string) => void): void;
  _getArguments(): string[];
  _checkCapabilities(cb: (err?: Error | null) => void): void;
  availableEncoders(cb: (err: Error | null, encoders: Record<string, unknown>) => void): void;
  ffprobe(...args: unknown[]): void;
  ffmpegProc?: ChildProcess;
};

function fluentCommand(command: { command: string; args: string[] }, spec: FfmpegSpec): fluentFfmpeg.FfmpegCommand {
  const cmd = fluentFfmpeg({ stdoutLines: 100 });
  // fluent only runs when it knows of an output; it never sees these through its own
  // builder because that one splits arguments containing one space.
  for (const input of spec.inputs) cmd.input(input.path);
  for (const output of spec.outputs) cmd.output(output.path);
  const internals = cmd as unknown as FluentInternals;
  // setFfmpegPath is process-global in fluent; the path must belong to this command.
  internals._getFfmpegPath = (cb) => cb(null, command.command);
  internals._getArguments = () => command.args;
  // Its capability checks run `ffmpeg -formats`/`-encoders` through the global path and
  // cache the answer for every binary; our arguments never use what they check.
  internals._checkCapabilities = (cb) => cb(null);
  internals.availableEncoders = (cb) => cb(null, {});
  // With a progress listener it ffprobes input 0 with no protocol whitelist or forced
  // format, i.e. exactly the probing that hardening forbids. We compute fractions ourselves.
  internals.ffprobe = (...a: unknown[]) => {
    const cb = a[a.length - 1];
    if (typeof cb === "function") cb(new Error("ffprobe through fluent-ffmpeg is disabled"));
  };
  return cmd;
}

function timemarkSeconds(mark: unknown): number | null {
  if (typeof mark !== "string") return null;
  const neg = mark.trim().startsWith("-");
  const parts = mark.trim().replace(/^-/, "").split(":").map(Number);
  if (!parts.length || parts.some((n) => !Number.isFinite(n))) return null;
  const secs = parts.reduce((acc, n) => acc * 60 + n, 0);
  return neg ? 0 : secs;
}

/** Bytes an output wrote; a segmenting output's folder counts whole. */
async function outputSize(output: { path: string; args: string[] }): Promise<number> {
  const f = output.args.lastIndexOf("-f");
  const segmenting = output.path.includes("%") || (f >= 0 && /^(hls|segment|ssegment|stream_segment|dash|image2)$/.test(output.args[f + 1] ?? ""));
  if (segmenting) {
    let total = 0;
    const dir = dirname(output.path);
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (entry.isFile()) total += (await stat(join(dir, entry.name)).catch(() => null))?.size ?? 0;
    }
    return total;
  }
  const st = await stat(output.path).catch(() => null);
  return st?.isFile() ? st.size : 0;
}

/** Runs one ffmpeg command. Rejects with FfmpegError, or SpoolError ABORTED / INVALID_INPUT. */
export function runFfmpeg(ffmpeg: string, sh: string | null, spec: FfmpegSpec, opts: RunOptions): Promise<RunResult> {
  let args: string[];
  try {
    args = buildFfmpegArgs(spec, { maxOutputBytes: opts.maxOutputBytes });
  } catch (err) {
    return Promise.reject(err);
  }
  const { signal } = opts;
  const inputPaths = spec.inputs.map((i) => i.path);
  const duration = opts.durationSec && opts.durationSec > 0 ? opts.durationSec : null;

  return new Promise<RunResult>((resolve, reject) => {
    if (signal.aborted) return reject(abortError(signal, "ffmpeg"));
    const cmd = fluentCommand(guarded(sh, ffmpeg, args), spec);
    const ring = new LineRing();
    let undecodable = false;
    let startedAt = Date.now();
    let proc: ChildProcess | undefined;
    let settled = false;
    let failure: Error | null = null;
    let timer: NodeJS.Timeout | undefined;

    const finish = (err: Error | null, result?: RunResult) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      if (err) reject(err);
      else resolve(result!);
    };
    const killNow = (p: ChildProcess, err: Error) => {
      p.once("exit", () => finish(err));
      p.kill("SIGKILL");
      setTimeout(() => finish(err), KILL_SETTLE_MS).unref();
    };
    const kill = (err: Error) => {
      if (settled || failure) return;
      failure = err;
      if (proc) killNow(proc, err); // else 'start' kills it as soon as it exists
    };
    const onAbort = () => kill(abortError(signal, "ffmpeg"));
    signal.addEventListener("abort", onAbort, { once: true });
    if (opts.timeoutMs !== undefined) {
      timer = setTimeout(
        () => kill(new FfmpegError("TRANSCODING_FAILED", withTail(`ffmpeg timed out after ${opts.timeoutMs} ms`, ring.lines), ring.snapshot())),
        opts.timeoutMs,
      );
      timer.unref();
    }

    cmd.on("start", () => {
      startedAt = Date.now();
      proc = (cmd as unknown as FluentInternals).ffmpegProc;
      if (!proc?.pid) return;
      if (failure) return killNow(proc, failure);
      opts.onStart?.(proc.pid);
    });
    cmd.on("stderr", (line: string) => {
      ring.push(line);
      if (!undecodable && isUndecodable(line, inputPaths)) undecodable = true;
      opts.onStderrLine?.(line);
    });
    cmd.on("progress", (p: { timemark?: unknown; currentFps?: unknown }) => {
      if (settled || failure || !opts.onProgress) return;
      const outTimeSec = timemarkSeconds(p.timemark);
      if (outTimeSec === null) return;
      const wallSec = (Date.now() - startedAt) / 1000;
      const speed = wallSec > 0 ? outTimeSec / wallSec : null;
      const fps = typeof p.currentFps === "number" && Number.isFinite(p.currentFps) ? p.currentFps : null;
      const fraction = duration ? Math.min(1, Math.max(0, outTimeSec / duration)) : null;
      const etaSec = duration && speed ? Math.max(0, (duration - outTimeSec) / speed) : null;
      opts.onProgress({ fraction, outTimeSec, fps, speed, etaSec });
    });
    cmd.on("error", (err: Error) => {
      // After a kill this is the exit we waited for; before a spawn it is all we get.
      if (failure) return finish(failure);
      const tail = ring.snapshot();
      const spawnErr = (err as NodeJS.ErrnoException).code;
      if (spawnErr === "ENOENT" || spawnErr === "EACCES") {
        return finish(new FfmpegError("FFMPEG_UNAVAILABLE", `ffmpeg could not start: ${err.message}`, tail));
      }
      const code = undecodable ? "VIDEO_FORMAT_UNSUPPORTED" : "TRANSCODING_FAILED";
      const what = /killed with signal|exited with code/.exec(err.message) ? err.message.split(":")[0]! : "ffmpeg failed";
      finish(new FfmpegError(code, withTail(what, tail), tail));
    });
    cmd.on("end", () => {
      if (failure) return finish(failure);
      const tail = ring.snapshot();
      const elapsedMs = Date.now() - startedAt;
      const check = async () => {
        if (opts.maxOutputBytes === undefined) return;
        for (const output of spec.outputs) {
          const size = await outputSize(output);
          if (size >= opts.maxOutputBytes) {
            throw new FfmpegError("VIDEO_TOO_LARGE", `output ${output.path} reached the ${opts.maxOutputBytes}-byte limit`, tail);
          }
        }
      };
      check().then(
        () => finish(signal.aborted ? abortError(signal, "ffmpeg") : null, { elapsedMs, stderrTail: tail }),
        (err: Error) => finish(signal.aborted ? abortError(signal, "ffmpeg") : err),
      );
    });
    cmd.run();
  });
}
