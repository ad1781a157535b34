// The argument list ffmpeg gets, and the rules that keep it to the files it was given.
// ffmpeg can open URLs, other files named inside an input (concat, hls, movie=…), and
// option values loaded from files; every one of those is refused here, before a process
// exists: inputs and outputs are absolute local paths of a small alphabet, each input is
// read with `-protocol_whitelist file,pipe` and may be forced to a named demuxer, and no
// filtergraph or output argument may name a protocol, a movie source or a ".." segment.
import { JobError } from "../../errors.ts";

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

export const PATH_RULE = /^\/[A-Za-z0-9._\/-]+$/;
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

export function checkPath(path: string, what: string, rule: RegExp): void {
  if (typeof path !== "string" || !rule.test(path) || path.split("/").includes("..")) {
    invalid(`${what} ${JSON.stringify(path)} must be an absolute path of letters, digits and ._-/ with no ".." segment`);
  }
}

export function checkFormat(format: string, what: string): void {
  if (!FORMAT_NAME.test(format)) invalid(`${what} format ${JSON.stringify(format)} is not a demuxer name`);
  if (FORBIDDEN_DEMUXERS.has(format)) invalid(`${what} format "${format}" opens other files and is not allowed`);
}

function checkText(text: string, what: string): void {
  if (text.includes("://")) invalid(`${what} must not contain a URL`);
  if (PROTOCOL_PREFIX.test(text)) invalid(`${what} must not name an ffmpeg protocol`);
  if (MOVIE_SOURCE.test(text)) invalid(`${what} must not use the movie/amovie sources`);
  if (DOTDOT_SEGMENT.test(text)) invalid(`${what} must not contain a ".." path segment`);
}

export function finite(n: number | undefined, what: string): void {
  if (n !== undefined && !(Number.isFinite(n) && n >= 0)) invalid(`${what} must be a non-negative number`);
}

// String(1e-7) is "1e-7", which ffmpeg's time parser refuses.
export function seconds(n: number): string {
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
