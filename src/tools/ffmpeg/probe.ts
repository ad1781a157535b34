// ffprobe on Spool's own files: stream facts, keyframe times, and where the data really
// ends. ffprobe is spawned directly rather than through fluent-ffmpeg's ffprobe, which
// cannot be killed (so neither abort nor timeout would work) and probes with no protocol
// whitelist or forced format, exactly what argv.ts forbids.
import { spawn } from "node:child_process";
import { mkdtempSync, statSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { abortError } from "../../errors.ts";
import { checkFormat, checkPath, finite, PATH_RULE, seconds } from "./argv.ts";
import { FfmpegError, LineRing, withTail } from "./failures.ts";
import { mediaInfoFromProbe, num, type MediaInfo, type ProbeData, type ProbeStream } from "./media-info.ts";
import { guarded, KILL_SETTLE_MS } from "./orphan-guard.ts";

export type ProbeOptions = { format?: string; signal?: AbortSignal; timeoutMs?: number };
export type DataEnd = { startSec: number | null; endSec: number | null; reachedEnd: boolean };

const DEFAULT_PROBE_TIMEOUT_MS = 60_000;
const PROBE_STDOUT_CAP = 8 * 1024 * 1024;
// About 60 bytes of JSON a packet: room for a 2-hour 60 fps video's packet list.
const KEYFRAMES_STDOUT_CAP = 32 * 1024 * 1024;
/** Packets dataEnd lists at most (~110 bytes of JSON each): over 3 minutes of 60 fps video with audio. */
const DATA_END_PACKETS = 20_000;
const TOO_LARGE = "ffprobe output too large";

export class Prober {
  /**
   * The static ffprobe shipped on npm (a 2023 build) segfaults on every MPEG-TS file when it
   * loads the host's iconv (gconv) modules; pointing GCONV_PATH at an empty folder keeps it
   * to its built-in conversions. Harmless for other builds. Made at the first probe.
   */
  private gconvEmpty: string | null = null;

  constructor(
    private readonly ffprobe: string,
    private readonly sh: string | null,
  ) {}

  /** ffprobe facts about a file. Undecodable input → FfmpegError VIDEO_FORMAT_UNSUPPORTED. */
  async probe(path: string, opts: ProbeOptions = {}): Promise<MediaInfo> {
    const data = await this.json<ProbeData>(path, ["-show_format", "-show_streams"], opts, PROBE_STDOUT_CAP);
    if (!data.streams?.length) throw new FfmpegError("VIDEO_FORMAT_UNSUPPORTED", `${path} does not contain any stream`, []);
    let size = 0;
    try {
      size = statSync(path).size;
    } catch {
      /* ffprobe's own size is used */
    }
    return mediaInfoFromProbe(data, size);
  }

  /**
   * The streams of one type (`s`: subtitles) as ffprobe describes them: codec, tags,
   * disposition, what MediaInfo leaves out. No streams of that type → [].
   */
  async streams(path: string, type: "v" | "a" | "s", opts: ProbeOptions = {}): Promise<ProbeStream[]> {
    const data = await this.json<ProbeData>(path, ["-select_streams", type, "-show_streams"], opts, PROBE_STDOUT_CAP);
    return data.streams ?? [];
  }

  /**
   * The times (seconds) of the first video stream's keyframes, read from its packets without
   * decoding anything; null when there are too many to list (very long or all-intra videos).
   */
  async keyframes(path: string, opts: ProbeOptions = {}): Promise<number[] | null> {
    let data: { packets?: Array<{ pts_time?: string; flags?: string }> };
    try {
      data = await this.json(path, ["-select_streams", "v:0", "-show_entries", "packet=pts_time,flags"], opts, KEYFRAMES_STDOUT_CAP);
    } catch (err) {
      if (err instanceof FfmpegError && err.message.startsWith(TOO_LARGE)) return null;
      throw err;
    }
    return (data.packets ?? []).filter((p) => p.flags?.startsWith("K") && p.pts_time !== undefined).map((p) => Number(p.pts_time)).filter(Number.isFinite).sort((a, b) => a - b);
  }

  /**
   * Where a file's data really ends: its packets are listed, not decoded, from a seek to
   * `fromSec`, at most DATA_END_PACKETS of them. `endSec` is the end of the last one (null:
   * none there); `reachedEnd` says the listing stopped at the end of the file, not at the count.
   */
  async dataEnd(path: string, opts: ProbeOptions & { fromSec: number }): Promise<DataEnd> {
    finite(opts.fromSec, "fromSec");
    const data = await this.json<{ format?: { start_time?: unknown }; packets?: Array<{ pts_time?: unknown; duration_time?: unknown }> }>(path, [
      "-read_intervals", `${seconds(opts.fromSec)}%+#${DATA_END_PACKETS}`, "-show_entries", "format=start_time:packet=pts_time,duration_time",
    ], opts, PROBE_STDOUT_CAP);
    const packets = data.packets ?? [];
    let endSec: number | null = null;
    for (const p of packets) {
      const t = num(p.pts_time);
      if (t !== null) endSec = Math.max(endSec ?? -Infinity, t + (num(p.duration_time) ?? 0));
    }
    return { startSec: num(data.format?.start_time), endSec, reachedEnd: packets.length < DATA_END_PACKETS };
  }

  private env(): NodeJS.ProcessEnv {
    this.gconvEmpty ??= mkdtempSync(join(os.tmpdir(), "spool-gconv-"));
    return { ...process.env, GCONV_PATH: this.gconvEmpty };
  }

  /** Runs ffprobe with JSON output, killable by signal and timeout, its stdout capped. */
  private json<T>(path: string, show: string[], opts: ProbeOptions, stdoutCap: number): Promise<T> {
    try {
      checkPath(path, "probe input", PATH_RULE);
      if (opts.format !== undefined) checkFormat(opts.format, "probe input");
    } catch (err) {
      return Promise.reject(err);
    }
    const args = ["-hide_banner", "-v", "error", "-protocol_whitelist", "file,pipe"];
    if (opts.format !== undefined) args.push("-f", opts.format);
    args.push("-print_format", "json", ...show, "-i", path);
    const { signal } = opts;
    const timeoutMs = opts.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;

    return new Promise<T>((resolve, reject) => {
      if (signal?.aborted) return reject(abortError(signal, "ffprobe"));
      const g = guarded(this.sh, this.ffprobe, args);
      const child = spawn(g.command, g.args, { stdio: ["pipe", "pipe", "pipe"], env: this.env() });
      const ring = new LineRing();
      const chunks: Buffer[] = [];
      let stdoutBytes = 0;
      let stderrRest = "";
      let settled = false;
      let failure: Error | null = null;

      const finish = (err: Error | null, info?: T) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        if (err) reject(err);
        else resolve(info!);
      };
      const kill = (err: Error) => {
        if (failure) return;
        failure = err;
        child.kill("SIGKILL");
        // The exit normally follows at once; do not hang on it.
        setTimeout(() => finish(err), KILL_SETTLE_MS).unref();
      };
      const onAbort = () => kill(abortError(signal!, "ffprobe"));
      signal?.addEventListener("abort", onAbort, { once: true });
      const timer = setTimeout(() => kill(new FfmpegError("VIDEO_FORMAT_UNSUPPORTED", withTail(`ffprobe timed out after ${timeoutMs} ms`, ring.lines), ring.snapshot())), timeoutMs);
      timer.unref();

      child.stdout!.on("data", (d: Buffer) => {
        stdoutBytes += d.length;
        if (stdoutBytes <= stdoutCap) chunks.push(d);
        else kill(new FfmpegError("VIDEO_FORMAT_UNSUPPORTED", TOO_LARGE, ring.snapshot()));
      });
      child.stderr!.setEncoding("utf8");
      child.stderr!.on("data", (d: string) => {
        const lines = (stderrRest + d).split(/\r\n|\r|\n/);
        stderrRest = lines.pop() ?? "";
        for (const l of lines) ring.push(l);
      });
      child.on("error", (err) => finish(new FfmpegError("FFMPEG_UNAVAILABLE", `ffprobe could not start: ${err.message}`, [])));
      child.on("close", (code, sig) => {
        if (stderrRest) ring.push(stderrRest);
        if (failure) return finish(failure);
        if (code !== 0) {
          return finish(new FfmpegError("VIDEO_FORMAT_UNSUPPORTED", withTail(`ffprobe could not read ${path} (${sig ? `signal ${sig}` : `exit ${code}`})`, ring.lines), ring.snapshot()));
        }
        let data: T;
        try {
          data = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        } catch {
          return finish(new FfmpegError("VIDEO_FORMAT_UNSUPPORTED", withTail(`ffprobe printed no readable result for ${path}`, ring.lines), ring.snapshot()));
        }
        finish(null, data);
      });
    });
  }
}
