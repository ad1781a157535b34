// Which ffmpeg and ffprobe Spool runs, and what that ffmpeg can do. Each binary is found on
// its own: the explicit path (FFMPEG_PATH / FFPROBE_PATH from config), then PATH, then the
// npm packages, and each must answer `-version` before it is trusted, so a broken binary is
// refused at startup with what to fix rather than failing the first job.
import { execFile } from "node:child_process";
import { accessSync, constants as fsConstants, statSync } from "node:fs";
import { createRequire } from "node:module";
import { delimiter, join, resolve as resolvePath } from "node:path";
import { SpoolError } from "../../errors.ts";

export type FfmpegBinaries = {
  ffmpeg: string;
  ffprobe: string;
  source: "env" | "path" | "npm";
  /** First line of `ffmpeg -version` without the copyright, e.g. "ffmpeg version 5.1.9-0+deb12u1". */
  version: string;
  ffprobeVersion: string;
};
/** What this ffmpeg build can encode, filter, write and read: processors refuse jobs it cannot do. */
export type FfmpegCapabilities = { encoders: Set<string>; filters: Set<string>; muxers: Set<string>; demuxers: Set<string> };
export type ResolvedBinary = { path: string; source: "env" | "path" | "npm"; version: string };

const VERSION_TIMEOUT_MS = 15_000;

export function isExecutableFile(path: string): boolean {
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

/** Finds one binary: `explicit` (a path or a name on PATH), else PATH, else npm. Throws FFMPEG_UNAVAILABLE. */
export async function resolveBinary(
  name: "ffmpeg" | "ffprobe",
  explicit: string | undefined,
  pathEnv: string | undefined,
): Promise<ResolvedBinary> {
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

/** Parses `ffmpeg -encoders/-filters/-muxers/-demuxers`. Throws FFMPEG_UNAVAILABLE when they do not run. */
export async function readCapabilities(ffmpeg: string): Promise<FfmpegCapabilities> {
  let texts: [string, string, string, string];
  try {
    texts = await Promise.all(
      ["-encoders", "-filters", "-muxers", "-demuxers"].map((flag) => execText(ffmpeg, ["-hide_banner", flag])),
    ) as [string, string, string, string];
  } catch (err) {
    throw new SpoolError("FFMPEG_UNAVAILABLE", `${ffmpeg} could not list its capabilities: ${(err as Error).message.split("\n")[0]}`);
  }
  const [enc, fil, mux, demux] = texts;
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
