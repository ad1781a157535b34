// The one place Spool runs ffmpeg and ffprobe. Processors decide what to do; this file
// executes it: it finds the binaries, refuses anything that could make ffmpeg open more
// than the files it was given, reports progress, and stops the process for good on abort,
// timeout, or the death of this Node process.
//
// fluent-ffmpeg is archived upstream and must not leak past this file. It is used for what
// it still does well (spawning, splitting stderr into lines, parsing stats lines into
// progress events) and nothing else: several of its internals are overridden per command
// (see `fluentCommand`) because they are unsafe or process-global.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants as fsConstants, mkdtempSync, statSync } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import os from "node:os";
import { delimiter, dirname, join, resolve as resolvePath } from "node:path";
import fluentFfmpeg from "fluent-ffmpeg";
import { JobError, SpoolError, type ErrorCode } from "../errors.ts";

export type FfmpegBinaries = {
  ffmpeg: string;
  ffprobe: string;
  source: "env" | "path" | "npm";
  /** First line of `ffmpeg -version` without the copyright, e.g. "ffmpeg version 5.1.9-0+deb12u1". */
  version: string;
  ffprobeVersion: string;
};
export type FfmpegCapabilities = { encoders: Set<string>; filters: Set<string>; muxers: Set<string>; demuxers: Set<string> };
export type MediaInfo = {
  formatName: string;
  durationSec: number | null;
  sizeBytes: number;
  bitRate: number | null;
  tags: Record<string, string>;
  video: {
    codec: string;
    width: number;
    height: number;
    fps: number | null;
    bitRate: number | null;
    pixFmt: string | null;
    rotation: number;
    frames: number | null;
  } | null;
  audio: { codec: string; channels: number; sampleRate: number; bitRate: number | null; channelLayout: string | null } | null;
  streamCount: number;
};
export type FfmpegInput = {
  path: string;
  /** Forced demuxer, e.g. "mov". */
  format?: string;
  /** -ss before -i: fast seek. */
  seekSec?: number;
  /** -t before -i. */
  durationSec?: number;
  /** -loop 1 for a still image. */
  loop?: boolean;
  /** -stream_loop N: the file is read N more times after the first. */
  streamLoop?: number;
};
export type FfmpegSpec = {
  inputs: FfmpegInput[];
  filterComplex?: string;
  /** Per-output options, e.g. ["-map","[v0]","-c:v","libx264","-crf","23"]. */
  outputs: { path: string; args: string[] }[];
};
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

export class FfmpegError extends JobError {
  override name = "FfmpegError";
  readonly stderrTail: string[];
  constructor(code: ErrorCode, message: string, stderrTail: string[]) {
    super(code, message, { retryable: false, details: { stderrTail } });
    this.stderrTail = stderrTail;
  }
}

const TAIL_LINES = 40;
const MESSAGE_TAIL_LINES = 10;
const VERSION_TIMEOUT_MS = 15_000;
const DEFAULT_PROBE_TIMEOUT_MS = 60_000;
const PROBE_STDOUT_CAP = 8 * 1024 * 1024;
// About 60 bytes of JSON a packet: room for a 2-hour 60 fps video's packet list.
const KEYFRAMES_STDOUT_CAP = 32 * 1024 * 1024;
/** Packets dataEnd lists at most (~110 bytes of JSON each): over 3 minutes of 60 fps video with audio. */
const DATA_END_PACKETS = 20_000;
/** After SIGKILL, how long to wait for the exit event before rejecting anyway. */
const KILL_SETTLE_MS = 300;

// ---------------------------------------------------------------------------------------
// Orphan guard.
//
// ffmpeg ignores SIGPIPE itself (SigIgn has bit 13 set in both the 2018 npm build and
// Debian's 5.1), so when Node is SIGKILLed its stderr writes just fail with EPIPE and it
// keeps encoding until done. Instead, each binary is started through this tiny sh script:
// it keeps our stdin pipe on fd 3 in a background subshell, then execs the binary (same
// pid, so kill() and exit codes are unchanged). Nobody ever writes to that pipe; it reaches
// EOF only when every writer is gone, i.e. when Node closed it after the exit or Node died,
// and then the subshell SIGKILLs the pid. The subshell's own output goes to /dev/null so
// that it never holds our stderr pipe open.
const WATCHDOG = 'exec 3<&0 </dev/null; ( read -r _ <&3; kill -KILL $$ ) >/dev/null 2>&1 & exec 3<&-; exec "$0" "$@"';
const SH = "/bin/sh";
const hasSh = isExecutableFile(SH);

/**
 * The static ffprobe shipped on npm (a 2023 build) segfaults on every MPEG-TS file when it
 * loads the host's iconv (gconv) modules; pointing GCONV_PATH at an empty folder keeps it to
 * its built-in conversions. Harmless for other builds.
 */
let gconvEmpty: string | null = null;
function probeEnv(): NodeJS.ProcessEnv {
  gconvEmpty ??= mkdtempSync(join(os.tmpdir(), "spool-gconv-"));
  return { ...process.env, GCONV_PATH: gconvEmpty };
}

function guarded(bin: string, args: string[]): { command: string; args: string[] } {
  return hasSh ? { command: SH, args: ["-c", WATCHDOG, bin, ...args] } : { command: bin, args };
}

// ---------------------------------------------------------------------------------------
// Hardening rules.

const PATH_RULE = /^\/[A-Za-z0-9._\/-]+$/;
// Outputs and absolute paths inside arguments may also carry printf patterns
// (seg_%03d.ts, frame_%04d.jpg); inputs may not, or image2 would read them as a glob.
const OUTPUT_PATH_RULE = /^\/[A-Za-z0-9._\/%-]+$/;
const PROTOCOLS = [
  "android_content", "async", "bluray", "cache", "concat", "concatf", "crypto", "data", "fd", "ffrtmpcrypt",
  "ffrtmphttp", "file", "ftp", "gopher", "gophers", "hls", "http", "httpproxy", "https", "icecast", "ipfs",
  "ipns", "librtmp", "md5", "mmsh", "mmst", "pipe", "prompeg", "rtmp", "rtmpe", "rtmps", "rtmpt", "rtmpte",
  "rtmpts", "rtp", "rtsp", "sctp", "sftp", "smb", "srt", "srtp", "subfile", "tcp", "tee", "tls", "udp",
  "udplite", "unix", "zmq",
];
// "name:" (or "name+other:") not preceded by a word character, plus subfile's "subfile,,"
// syntax. Backslashes and quotes may stand between: filtergraph escaping ("file\:") removes
// them before the value is used.
const PROTOCOL_PREFIX = new RegExp(
  `(?:^|[^A-Za-z0-9_])(?:${PROTOCOLS.join("|")})(?:\\+[A-Za-z0-9_]+)*[\\\\'"\\s]*:|(?:^|[^A-Za-z0-9_])subfile[\\\\'"\\s]*,`,
  "i",
);
// movie/amovie sources open any file or URL by name, bypassing our inputs.
const MOVIE_SOURCE = /(?:^|[^A-Za-z0-9_])a?movie(?:@[^=\s]*)?\s*=/i;
const DOTDOT_SEGMENT = /(?:^|[\/=:'"\s])\.\.(?:\/|$)/;
// Options that add an input, read a file into the output, or (5.1's "-/opt") load an
// option's value from a file: they would bypass the input rules.
const FORBIDDEN_OUTPUT_OPTIONS = new Set(["-i", "-filter_complex_script", "-filter_script", "-attach", "-dump_attachment"]);
// Demuxers that open other files or URLs named inside their input, or build a graph.
const FORBIDDEN_DEMUXERS = new Set(["lavfi", "concat", "hls", "applehttp", "dash", "sdp", "rtsp", "rtp", "sap", "webm_dash_manifest"]);
const FORMAT_NAME = /^[a-z0-9_]+$/;

// A JobError (permanent), not a plain SpoolError: a spec the rules refuse will be refused
// again, so the engine must not retry it.
function invalid(message: string): never {
  throw new JobError("INVALID_INPUT", message);
}

function checkPath(path: string, what: string, rule: RegExp): void {
  if (typeof path !== "string" || !rule.test(path) || path.split("/").includes("..")) {
    invalid(`${what} ${JSON.stringify(path)} must be an absolute path of letters, digits and ._-/ with no ".." segment`);
  }
}

function checkFormat(format: string, what: string): void {
  if (!FORMAT_NAME.test(format)) invalid(`${what} format ${JSON.stringify(format)} is not a demuxer name`);
  if (FORBIDDEN_DEMUXERS.has(format)) invalid(`${what} format "${format}" opens other files and is not allowed`);
}

function checkText(text: string, what: string): void {
  if (text.includes("://")) invalid(`${what} must not contain a URL`);
  if (PROTOCOL_PREFIX.test(text)) invalid(`${what} must not name an ffmpeg protocol`);
  if (MOVIE_SOURCE.test(text)) invalid(`${what} must not use the movie/amovie sources`);
  if (DOTDOT_SEGMENT.test(text)) invalid(`${what} must not contain a ".." path segment`);
}

function finite(n: number | undefined, what: string): void {
  if (n !== undefined && !(Number.isFinite(n) && n >= 0)) invalid(`${what} must be a non-negative number`);
}

// String(1e-7) is "1e-7", which ffmpeg's time parser refuses.
function seconds(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(6);
}

/** The full ffmpeg argument list for a spec, after checking it. Throws INVALID_INPUT. */
export function buildFfmpegArgs(spec: FfmpegSpec, opts: { maxOutputBytes?: number } = {}): string[] {
  if (!spec.inputs?.length) invalid("ffmpeg needs at least one input");
  if (!spec.outputs?.length) invalid("ffmpeg needs at least one output");
  const args = ["-nostdin", "-hide_banner", "-y"];
  spec.inputs.forEach((input, i) => {
    checkPath(input.path, `input ${i}`, PATH_RULE);
    args.push("-protocol_whitelist", "file,pipe");
    if (input.format !== undefined) {
      checkFormat(input.format, `input ${i}`);
      args.push("-f", input.format);
    }
    finite(input.seekSec, `input ${i} seekSec`);
    finite(input.durationSec, `input ${i} durationSec`);
    if (input.streamLoop !== undefined && !(Number.isInteger(input.streamLoop) && input.streamLoop >= 0 && input.streamLoop <= 10_000)) {
      invalid(`input ${i} streamLoop must be an integer from 0 to 10000`);
    }
    if (input.loop) args.push("-loop", "1");
    if (input.streamLoop) args.push("-stream_loop", String(input.streamLoop));
    if (input.seekSec !== undefined) args.push("-ss", seconds(input.seekSec));
    if (input.durationSec !== undefined) args.push("-t", seconds(input.durationSec));
    args.push("-i", input.path);
  });
  if (spec.filterComplex !== undefined) {
    checkText(spec.filterComplex, "filterComplex");
    args.push("-filter_complex", spec.filterComplex);
  }
  if (opts.maxOutputBytes !== undefined && !(Number.isInteger(opts.maxOutputBytes) && opts.maxOutputBytes > 0)) {
    invalid("maxOutputBytes must be a positive integer");
  }
  spec.outputs.forEach((output, i) => {
    checkPath(output.path, `output ${i}`, OUTPUT_PATH_RULE);
    for (const arg of output.args) {
      if (typeof arg !== "string") invalid(`output ${i} arguments must be strings`);
      if (FORBIDDEN_OUTPUT_OPTIONS.has(arg) || arg.startsWith("-/")) invalid(`output ${i} argument ${arg} is not allowed`);
      checkText(arg, `output ${i} argument ${JSON.stringify(arg)}`);
      if (arg.startsWith("/")) checkPath(arg, `output ${i} argument`, OUTPUT_PATH_RULE);
    }
    // Last occurrence wins in ffmpeg, so ours overrides any -fs in the args.
    args.push(...output.args, ...(opts.maxOutputBytes !== undefined ? ["-fs", String(opts.maxOutputBytes)] : []), output.path);
  });
  return args;
}

// ---------------------------------------------------------------------------------------
// Errors from stderr.

const UNDECODABLE = [
  /Invalid data found when processing input/i,
  /moov atom not found/i,
  /could not find codec parameters/i,
  /does not contain any stream/i,
  /EBML header parsing failed/i,
];

function isUndecodable(line: string, inputPaths: string[]): boolean {
  if (UNDECODABLE.some((re) => re.test(line))) return true;
  return inputPaths.some((p) => line.startsWith(`${p}: Invalid argument`));
}

function withTail(summary: string, tail: string[]): string {
  const lines = tail.filter((l) => l.trim() !== "").slice(-MESSAGE_TAIL_LINES);
  return lines.length ? `${summary}\n${lines.join("\n")}` : summary;
}

// Stats lines arrive every half second; kept out of the tail so that errors stay visible.
const STATS_LINE = /^\s*(?:frame|size)=.*time=/;

class LineRing {
  readonly lines: string[] = [];
  snapshot(): string[] {
    return [...this.lines];
  }
  push(line: string): void {
    if (STATS_LINE.test(line)) return;
    this.lines.push(line);
    if (this.lines.length > TAIL_LINES) this.lines.shift();
  }
}

// ---------------------------------------------------------------------------------------
// Binary resolution.

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function searchPath(name: string, pathEnv: string | undefined): string | null {
  for (const dir of (pathEnv ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return null;
}

function execText(bin: string, args: string[], timeoutMs = VERSION_TIMEOUT_MS): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { timeout: timeoutMs, killSignal: "SIGKILL", maxBuffer: 16 * 1024 * 1024 }, (err, stdout) => {
      if (err) reject(err);
      else resolve(stdout);
    });
  });
}

async function versionOf(bin: string): Promise<string> {
  const out = await execText(bin, ["-version"]);
  const first = out.split(/\r?\n/, 1)[0] ?? "";
  if (!/version/i.test(first)) throw new Error(`unexpected -version output: ${first.slice(0, 200)}`);
  return first.replace(/\s+Copyright.*$/, "").trim();
}

function npmBinary(pkg: "@ffmpeg-installer/ffmpeg" | "@ffprobe-installer/ffprobe"): string | null {
  try {
    // These packages throw a plain string when the platform has no binary package.
    const mod = createRequire(import.meta.url)(pkg) as { path?: unknown };
    return typeof mod.path === "string" ? mod.path : null;
  } catch {
    return null;
  }
}

type Resolved = { path: string; source: "env" | "path" | "npm"; version: string };

async function resolveBinary(
  name: "ffmpeg" | "ffprobe",
  explicit: string | undefined,
  pathEnv: string | undefined,
): Promise<Resolved> {
  const envName = name === "ffmpeg" ? "FFMPEG_PATH" : "FFPROBE_PATH";
  if (explicit) {
    const candidate = explicit.includes("/") ? resolvePath(explicit) : searchPath(explicit, pathEnv);
    if (!candidate || !isExecutableFile(candidate)) {
      throw new SpoolError("FFMPEG_UNAVAILABLE", `${envName}=${explicit} is not an executable file: fix ${envName} or unset it to use ${name} from PATH or npm`);
    }
    try {
      return { path: candidate, source: "env", version: await versionOf(candidate) };
    } catch (err) {
      throw new SpoolError("FFMPEG_UNAVAILABLE", `${envName}=${explicit} does not run as ${name} (${(err as Error).message.split("\n")[0]}): fix ${envName} or unset it`);
    }
  }
  const tried: string[] = [];
  const onPath = searchPath(name, pathEnv);
  if (onPath) {
    try {
      return { path: onPath, source: "path", version: await versionOf(onPath) };
    } catch (err) {
      tried.push(`${onPath}: ${(err as Error).message.split("\n")[0]}`);
    }
  }
  const fromNpm = npmBinary(name === "ffmpeg" ? "@ffmpeg-installer/ffmpeg" : "@ffprobe-installer/ffprobe");
  if (fromNpm) {
    try {
      return { path: fromNpm, source: "npm", version: await versionOf(fromNpm) };
    } catch (err) {
      tried.push(`${fromNpm}: ${(err as Error).message.split("\n")[0]}`);
    }
  }
  throw new SpoolError(
    "FFMPEG_UNAVAILABLE",
    `no working ${name} found${tried.length ? ` (${tried.join("; ")})` : ""}: set ${envName}, put ${name} on PATH, or install the npm package`,
  );
}

function listAfterSeparator(text: string, separator: RegExp): string[] {
  const lines = text.split(/\r?\n/);
  const start = lines.findIndex((l) => separator.test(l));
  return start < 0 ? [] : lines.slice(start + 1);
}

async function readCapabilities(ffmpeg: string): Promise<FfmpegCapabilities> {
  const [enc, fil, mux, demux] = await Promise.all(
    ["-encoders", "-filters", "-muxers", "-demuxers"].map((flag) => execText(ffmpeg, ["-hide_banner", flag])),
  ) as [string, string, string, string];
  const encoders = new Set<string>();
  for (const line of listAfterSeparator(enc, /^\s*-{6}\s*$/)) {
    const m = /^\s*[VAS][.A-Z]{5}\s+(\S+)/.exec(line);
    if (m) encoders.add(m[1]!);
  }
  const filters = new Set<string>();
  for (const line of fil.split(/\r?\n/)) {
    const m = /^\s*[T.][S.][C.]\s+(\S+)\s+\S*->\S*/.exec(line);
    if (m) filters.add(m[1]!);
  }
  const formats = (text: string) => {
    const names = new Set<string>();
    for (const line of listAfterSeparator(text, /^\s*--\s*$/)) {
      const m = /^\s*[DEd]+\s+(\S+)/.exec(line);
      if (m) for (const n of m[1]!.split(",")) names.add(n);
    }
    return names;
  };
  return { encoders, filters, muxers: formats(mux), demuxers: formats(demux) };
}

// ---------------------------------------------------------------------------------------
// fluent-ffmpeg, contained.

type FluentInternals = {
  _getFfmpegPath(cb: (err: Error | null, path?: string) => void): void;
  _getArguments(): string[];
  _checkCapabilities(cb: (err?: Error | null) => void): void;
  availableEncoders(cb: (err: Error | null, encoders: Record<string, unknown>) => void): void;
  ffprobe(...args: unknown[]): void;
  ffmpegProc?: ChildProcess;
};

function fluentCommand(ffmpegPath: string, spec: FfmpegSpec, args: string[]): fluentFfmpeg.FfmpegCommand {
  const cmd = fluentFfmpeg({ stdoutLines: 100 });
  // fluent only runs when it knows of an output; it never sees these through its own
  // builder because that one splits arguments containing one space.
  for (const input of spec.inputs) cmd.input(input.path);
  for (const output of spec.outputs) cmd.output(output.path);
  const guard = guarded(ffmpegPath, args);
  const internals = cmd as unknown as FluentInternals;
  // setFfmpegPath is process-global in fluent; the path must belong to this command.
  internals._getFfmpegPath = (cb) => cb(null, guard.command);
  internals._getArguments = () => guard.args;
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

// ---------------------------------------------------------------------------------------
// ffprobe output.

type ProbeStream = Record<string, unknown> & { codec_type?: string; disposition?: Record<string, number>; tags?: Record<string, unknown> };

function num(v: unknown): number | null {
  if (v === undefined || v === null || v === "" || v === "N/A") return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

function ratio(v: unknown): number | null {
  if (typeof v !== "string") return null;
  const [a, b] = v.split("/").map(Number);
  if (a === undefined || !Number.isFinite(a) || a <= 0) return null;
  if (b === undefined) return a;
  return Number.isFinite(b) && b > 0 ? a / b : null;
}

function stringTags(tags: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (tags && typeof tags === "object") for (const [k, v] of Object.entries(tags)) out[k] = String(v);
  return out;
}

function rotationOf(stream: ProbeStream): number {
  // Older muxers/ffprobes give a "rotate" tag (clockwise); newer ones a display matrix
  // whose rotation is counter-clockwise.
  let deg: number | null = num(stream.tags?.rotate);
  if (deg === null && Array.isArray(stream.side_data_list)) {
    for (const sd of stream.side_data_list as Record<string, unknown>[]) {
      const r = num(sd.rotation);
      if (r !== null) {
        deg = -r;
        break;
      }
    }
  }
  if (deg === null) return 0;
  return (((Math.round(deg / 90) * 90) % 360) + 360) % 360;
}

export function mediaInfoFromProbe(data: { format?: Record<string, unknown>; streams?: ProbeStream[] }, fileSize: number): MediaInfo {
  const format = data.format ?? {};
  const streams = data.streams ?? [];
  // Cover art in audio files is a video stream with attached_pic: not a video.
  const v = streams.find((s) => s.codec_type === "video" && !s.disposition?.attached_pic);
  const a = streams.find((s) => s.codec_type === "audio");
  return {
    formatName: String(format.format_name ?? ""),
    durationSec: num(format.duration),
    sizeBytes: num(format.size) ?? fileSize,
    bitRate: num(format.bit_rate),
    tags: stringTags(format.tags),
    video: v
      ? {
          codec: String(v.codec_name ?? "unknown"),
          width: num(v.width) ?? 0,
          height: num(v.height) ?? 0,
          fps: ratio(v.avg_frame_rate),
          bitRate: num(v.bit_rate),
          pixFmt: typeof v.pix_fmt === "string" ? v.pix_fmt : null,
          rotation: rotationOf(v),
          frames: num(v.nb_frames),
        }
      : null,
    audio: a
      ? {
          codec: String(a.codec_name ?? "unknown"),
          channels: num(a.channels) ?? 0,
          sampleRate: num(a.sample_rate) ?? 0,
          bitRate: num(a.bit_rate),
          channelLayout: typeof a.channel_layout === "string" ? a.channel_layout : null,
        }
      : null,
    streamCount: streams.length,
  };
}

// ---------------------------------------------------------------------------------------

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

function abortError(signal: AbortSignal, what: string): SpoolError {
  const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? "aborted");
  return new SpoolError("ABORTED", `${what} stopped: ${reason}`);
}

export class Ffmpeg {
  private constructor(
    readonly binaries: FfmpegBinaries,
    readonly capabilities: FfmpegCapabilities,
  ) {}

  /**
   * Finds ffmpeg and ffprobe, each independently: the explicit path, then PATH, then the
   * npm packages. `pathEnv` replaces process.env.PATH for the search (tests).
   */
  static async resolve(opts: { ffmpegPath?: string; ffprobePath?: string; pathEnv?: string }): Promise<Ffmpeg> {
    const pathEnv = opts.pathEnv ?? process.env.PATH;
    const [ffmpeg, ffprobe] = await Promise.all([
      resolveBinary("ffmpeg", opts.ffmpegPath, pathEnv),
      resolveBinary("ffprobe", opts.ffprobePath, pathEnv),
    ]);
    let capabilities: FfmpegCapabilities;
    try {
      capabilities = await readCapabilities(ffmpeg.path);
    } catch (err) {
      throw new SpoolError("FFMPEG_UNAVAILABLE", `${ffmpeg.path} could not list its capabilities: ${(err as Error).message.split("\n")[0]}`);
    }
    return new Ffmpeg(
      { ffmpeg: ffmpeg.path, ffprobe: ffprobe.path, source: ffmpeg.source, version: ffmpeg.version, ffprobeVersion: ffprobe.version },
      capabilities,
    );
  }

  /** ffprobe facts about a file. Undecodable input → FfmpegError VIDEO_FORMAT_UNSUPPORTED. */
  async probe(path: string, opts: { format?: string; signal?: AbortSignal; timeoutMs?: number } = {}): Promise<MediaInfo> {
    const data = await this.ffprobe<{ format?: Record<string, unknown>; streams?: ProbeStream[] }>(path, ["-show_format", "-show_streams"], opts, PROBE_STDOUT_CAP);
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
   * The times (seconds) of the first video stream's keyframes, read from its packets without
   * decoding anything; null when there are too many to list (very long or all-intra videos).
   */
  async keyframes(path: string, opts: { format?: string; signal?: AbortSignal; timeoutMs?: number } = {}): Promise<number[] | null> {
    let data: { packets?: Array<{ pts_time?: string; flags?: string }> };
    try {
      data = await this.ffprobe(path, ["-select_streams", "v:0", "-show_entries", "packet=pts_time,flags"], opts, KEYFRAMES_STDOUT_CAP);
    } catch (err) {
      if (err instanceof FfmpegError && err.message.startsWith("ffprobe output too large")) return null;
      throw err;
    }
    return (data.packets ?? []).filter((p) => p.flags?.startsWith("K") && p.pts_time !== undefined).map((p) => Number(p.pts_time)).filter(Number.isFinite).sort((a, b) => a - b);
  }

  /**
   * Where a file's data really ends: its packets are listed, not decoded, from a seek to
   * `fromSec`, at most DATA_END_PACKETS of them. `endSec` is the end of the last one (null:
   * none there); `reachedEnd` says the listing stopped at the end of the file, not at the count.
   */
  async dataEnd(path: string, opts: { format?: string; fromSec: number; signal?: AbortSignal; timeoutMs?: number }): Promise<{ startSec: number | null; endSec: number | null; reachedEnd: boolean }> {
    finite(opts.fromSec, "fromSec");
    const data = await this.ffprobe<{ format?: { start_time?: unknown }; packets?: Array<{ pts_time?: unknown; duration_time?: unknown }> }>(path, [
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

  /** Runs ffprobe with JSON output on one of Spool's files, killable by signal and timeout. */
  private ffprobe<T>(path: string, show: string[], opts: { format?: string; signal?: AbortSignal; timeoutMs?: number }, stdoutCap: number): Promise<T> {
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
      // Spawned directly rather than through fluent's ffprobe: that one cannot be killed,
      // so neither abort nor timeout would work.
      const g = guarded(this.binaries.ffprobe, args);
      const child = spawn(g.command, g.args, { stdio: ["pipe", "pipe", "pipe"], env: probeEnv() });
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
        else kill(new FfmpegError("VIDEO_FORMAT_UNSUPPORTED", "ffprobe output too large", ring.snapshot()));
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

  /** Runs one ffmpeg command. Rejects with FfmpegError, or SpoolError ABORTED / INVALID_INPUT. */
  run(spec: FfmpegSpec, opts: RunOptions): Promise<RunResult> {
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
      const cmd = fluentCommand(this.binaries.ffmpeg, spec, args);
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
      const kill = (err: Error) => {
        if (settled || failure) return;
        failure = err;
        if (!proc) return; // 'start' kills it as soon as it exists
        proc.once("exit", () => finish(err));
        proc.kill("SIGKILL");
        setTimeout(() => finish(err), KILL_SETTLE_MS).unref();
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
        if (failure) {
          const err = failure;
          proc.once("exit", () => finish(err));
          proc.kill("SIGKILL");
          setTimeout(() => finish(err), KILL_SETTLE_MS).unref();
          return;
        }
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
}

/**
 * The ffmpeg demuxer to force for a content type Spool detected from the bytes; null when
 * unknown.
 */
export function demuxerFor(contentType: string): string | null {
  const type = contentType.split(";")[0]!.trim().toLowerCase();
  return DEMUXERS[type] ?? null;
}

const DEMUXERS: Record<string, string> = {
  "video/mp4": "mov",
  "video/quicktime": "mov",
  "video/x-m4v": "mov",
  "video/3gpp": "mov",
  "video/3gpp2": "mov",
  "audio/mp4": "mov",
  "audio/x-m4a": "mov",
  "audio/m4a": "mov",
  "video/webm": "matroska",
  "audio/webm": "matroska",
  "video/matroska": "matroska",
  "video/x-matroska": "matroska",
  "audio/x-matroska": "matroska",
  "video/vnd.avi": "avi",
  "video/x-msvideo": "avi",
  "video/avi": "avi",
  "video/mp2t": "mpegts",
  "video/mpeg": "mpeg",
  "video/mp1s": "mpeg",
  "video/mp2p": "mpeg",
  "video/x-flv": "flv",
  "video/ogg": "ogg",
  "audio/ogg": "ogg",
  "audio/opus": "ogg",
  "application/ogg": "ogg",
  "audio/mpeg": "mp3",
  "audio/mp3": "mp3",
  "audio/aac": "aac",
  "audio/x-aac": "aac",
  "audio/flac": "flac",
  "audio/x-flac": "flac",
  "audio/wav": "wav",
  "audio/x-wav": "wav",
  "audio/wave": "wav",
  "audio/vnd.wave": "wav",
  "audio/aiff": "aiff",
  "audio/x-aiff": "aiff",
  "image/png": "png_pipe",
  "image/jpeg": "jpeg_pipe",
  "image/webp": "webp_pipe",
  "image/tiff": "tiff_pipe",
  "image/bmp": "bmp_pipe",
  "image/gif": "gif",
};
