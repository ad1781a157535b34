// Storage in a folder. A write goes to <root>/.tmp (same filesystem, so rename is atomic) and
// is renamed into place once complete and flushed: a reader never sees a partial file, and a
// failed write leaves nothing but what its cleanup removes.
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { constants, createWriteStream, type Dirent, type WriteStream } from "node:fs";
import { copyFile, mkdir, open, readdir, rename, rm, rmdir, stat, unlink } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { SpoolError } from "../../errors.ts";
import { countedBody } from "./counted-body.ts";
import { notFound, storageFailed } from "./failures.ts";
import { assertValidKey, assertValidPrefix, checkRange, isValidKey, RESERVED_SEGMENT } from "./keys.ts";
import type { Storage, StoredObject } from "./storage.ts";

const DIR_MODE = 0o700;
const FILE_MODE = 0o600;

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

// ENOTDIR: a key below what is a file here ("a/b/c" when "a/b" is an object) is just missing.
function isMissing(err: unknown): boolean {
  const code = errno(err);
  return code === "ENOENT" || code === "ENOTDIR";
}

export class LocalStorage implements Storage {
  readonly kind = "local" as const;
  readonly root: string;
  private readonly rootWithSep: string;
  private readonly tmpDir: string;

  constructor(root: string) {
    this.root = path.resolve(root);
    this.rootWithSep = this.root.endsWith(path.sep) ? this.root : this.root + path.sep;
    this.tmpDir = path.join(this.root, RESERVED_SEGMENT);
  }

  localPath(key: string): string {
    assertValidKey(key);
    const file = path.resolve(this.root, ...key.split("/"));
    // Belt and braces: the key rules already forbid every way out of the root.
    if (!file.startsWith(this.rootWithSep)) throw new SpoolError("INVALID_INPUT", `Storage key ${JSON.stringify(key)} leaves the storage root.`);
    return file;
  }

  async put(key: string, body: Readable, opts: { contentType?: string; signal?: AbortSignal } = {}): Promise<{ size: number }> {
    const { signal } = opts;
    let dest: string;
    try {
      dest = this.localPath(key);
      signal?.throwIfAborted();
    } catch (err) {
      body.destroy();
      throw err;
    }
    const counted = countedBody(body, signal);
    const tmp = this.tmpName();
    let out: WriteStream | undefined;
    try {
      await this.prepareTmp();
      // flush: fsync before close, or a crash after the rename could expose an empty file.
      out = createWriteStream(tmp, { flags: "wx", mode: FILE_MODE, flush: true });
      await pipeline(counted.stream, out);
      await this.commit(tmp, dest, signal);
      return { size: counted.size() };
    } catch (err) {
      // A stream destroyed while still opening creates the file afterwards: wait for it.
      if (out && !out.closed) await once(out, "close").catch(() => undefined);
      await rm(tmp, { force: true }).catch(() => undefined);
      if (!body.destroyed) body.destroy();
      if (signal?.aborted) throw signal.reason;
      const input = counted.inputError();
      if (input) throw input.error;
      throw err instanceof SpoolError ? err : storageFailed("local", "put", key, err);
    } finally {
      counted.detach();
    }
  }

  async putFile(key: string, source: string, opts: { contentType?: string; signal?: AbortSignal } = {}): Promise<{ size: number }> {
    const { signal } = opts;
    const dest = this.localPath(key);
    signal?.throwIfAborted();
    // The caller's file: a missing or unreadable source is the caller's error, unchanged.
    const info = await stat(source);
    if (!info.isFile()) throw new SpoolError("INVALID_INPUT", `putFile: ${source} is not a regular file.`);
    const tmp = this.tmpName();
    try {
      await this.prepareTmp();
      // copyFile lets the kernel copy (copy_file_range, reflinks) instead of streaming through JS.
      await copyFile(source, tmp, constants.COPYFILE_EXCL);
      const fh = await open(tmp, "r+");
      let size: number;
      try {
        await fh.sync();
        size = (await fh.stat()).size;
      } finally {
        await fh.close();
      }
      await this.commit(tmp, dest, signal);
      return { size };
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined);
      if (signal?.aborted) throw signal.reason;
      throw err instanceof SpoolError ? err : storageFailed("local", "putFile", key, err);
    }
  }

  async get(key: string, range?: { start: number; end?: number }): Promise<Readable> {
    const file = this.localPath(key);
    if (range) checkRange(key, range);
    let fh;
    try {
      fh = await open(file, "r");
    } catch (err) {
      if (isMissing(err)) throw notFound(key);
      throw storageFailed("local", "get", key, err);
    }
    try {
      const info = await fh.stat();
      // A directory opens fine for reading on Linux; it is still no object.
      if (!info.isFile()) throw notFound(key);
      if (range) checkRange(key, range, info.size);
      return fh.createReadStream(range ? (range.end === undefined ? { start: range.start } : { start: range.start, end: range.end }) : {});
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw err instanceof SpoolError ? err : storageFailed("local", "get", key, err);
    }
  }

  async stat(key: string): Promise<StoredObject | null> {
    const file = this.localPath(key);
    try {
      const info = await stat(file);
      return info.isFile() ? { key, size: info.size, modifiedAt: info.mtime } : null;
    } catch (err) {
      if (isMissing(err)) return null;
      throw storageFailed("local", "stat", key, err);
    }
  }

  async delete(key: string): Promise<void> {
    const file = this.localPath(key);
    try {
      await unlink(file);
    } catch (err) {
      // EISDIR: the key names a folder of other keys, not an object; nothing to delete.
      if (!isMissing(err) && errno(err) !== "EISDIR") throw storageFailed("local", "delete", key, err);
    }
    await this.pruneEmptyDirs(path.dirname(file));
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    assertValidPrefix(prefix);
    const slash = prefix.lastIndexOf("/");
    const dirKey = slash >= 0 ? prefix.slice(0, slash) : "";
    yield* this.walk(dirKey ? this.localPath(dirKey) : this.root, dirKey, prefix);
  }

  async presignGet(key: string): Promise<string | null> {
    assertValidKey(key);
    return null;
  }

  async withLocalFile<T>(key: string, fn: (path: string) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const file = this.localPath(key);
    signal?.throwIfAborted();
    if (!(await this.stat(key))) throw notFound(key);
    return fn(file);
  }

  async close(): Promise<void> {}

  private tmpName(): string {
    return path.join(this.tmpDir, `${randomUUID()}.part`);
  }

  // Every write makes sure of its folders: cheap, and survives someone removing .tmp.
  private async prepareTmp(): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: DIR_MODE });
    await mkdir(this.tmpDir, { recursive: true, mode: DIR_MODE });
  }

  /** The last point where an abort still wins; after the rename the object is there. */
  private async commit(tmp: string, dest: string, signal: AbortSignal | undefined): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      signal?.throwIfAborted();
      try {
        await mkdir(path.dirname(dest), { recursive: true, mode: DIR_MODE });
        await rename(tmp, dest);
        return;
      } catch (err) {
        // A concurrent delete may prune a folder while mkdir builds the chain below it, or
        // between our mkdir and rename: build it again. (Node's recursive mkdir reports a
        // folder that vanished between its EEXIST and its check as ENOTDIR.) A real file in
        // the way keeps failing and ends the retries.
        if ((errno(err) !== "ENOENT" && errno(err) !== "ENOTDIR") || attempt >= 10) throw err;
      }
    }
  }

  /** Removes folders left empty by a delete, up to (not including) the root. */
  private async pruneEmptyDirs(dir: string): Promise<void> {
    while (dir.startsWith(this.rootWithSep)) {
      try {
        await rmdir(dir);
      } catch (err) {
        // ENOENT: someone else removed it already, keep going up. Anything else (not empty,
        // no permission) ends the walk: an empty folder left over is harmless.
        if (errno(err) !== "ENOENT") return;
      }
      dir = path.dirname(dir);
    }
  }

  // Entries are sorted with folders as "name/", so the walk yields keys in plain string order.
  private async *walk(dir: string, dirKey: string, prefix: string): AsyncGenerator<StoredObject> {
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      // Gone meanwhile (a concurrent delete pruned it), or the prefix names no folder; but a
      // root that is not a folder is a broken setup, not an empty store.
      if (errno(err) === "ENOENT" || (errno(err) === "ENOTDIR" && dir !== this.root)) return;
      throw storageFailed("local", "list", dirKey || null, err);
    }
    const sorted = entries
      .map((entry) => ({ entry, sortKey: entry.isDirectory() ? `${entry.name}/` : entry.name }))
      .sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0));
    for (const { entry } of sorted) {
      const key = dirKey ? `${dirKey}/${entry.name}` : entry.name;
      // Skips .tmp and anything put here by hand that no key could name.
      if (!isValidKey(key)) continue;
      if (entry.isDirectory()) {
        const folder = `${key}/`;
        if (folder.startsWith(prefix) || prefix.startsWith(folder)) yield* this.walk(path.join(dir, entry.name), key, prefix);
      } else if (entry.isFile() && key.startsWith(prefix)) {
        try {
          const info = await stat(path.join(dir, entry.name));
          yield { key, size: info.size, modifiedAt: info.mtime };
        } catch (err) {
          if (!isMissing(err)) throw storageFailed("local", "list", key, err);
        }
      }
    }
  }
}
