// OCR language data, offline: which `@tesseract.js-data/<lang>` packages are installed, where
// their files are, and a per-user cache of the gunzipped data that workers read. tesseract.js
// fetches language data from a CDN by default and then hangs forever without network; Spool
// never lets it: data comes only from installed packages.
import { constants as fsConstants, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync } from "node:fs";
import { open, readFile, rename, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import os from "node:os";
import { dirname, join } from "node:path";
import { gunzipSync } from "node:zlib";
import { SpoolError } from "../../errors.ts";

const require = createRequire(import.meta.url);

export const LANGUAGE_RE = /^[a-z]{3}(?:_[a-z]+)?$/i;
const DATA_VARIANT = "4.0.0_best_int"; // LSTM-only integer models, what tesseract.js uses by default

/** Languages whose `@tesseract.js-data/<lang>` package (with LSTM data) is installed. */
export function installedOcrLanguages(): string[] {
  const found = new Set<string>();
  for (const base of require.resolve.paths("@tesseract.js-data/eng") ?? []) {
    const scope = join(base, "@tesseract.js-data");
    let names: string[] = [];
    try {
      names = readdirSync(scope);
    } catch {
      continue;
    }
    for (const name of names) {
      if (LANGUAGE_RE.test(name) && existsSync(join(scope, name, DATA_VARIANT, `${name}.traineddata.gz`))) found.add(name);
    }
  }
  return [...found].sort();
}

/** Where a worker reads one language's data from: the cache (readOnly) or, for tests, a given folder (none). */
export type LanguageData = { code: string; langPath: string; cachePath: string; cacheMethod: "readOnly" | "none" };

function languagePackage(lang: string): { dir: string; version: string } | null {
  try {
    const pkgJson = require.resolve(`@tesseract.js-data/${lang}/package.json`);
    const version = String((require(pkgJson) as { version?: string }).version ?? "0");
    const dir = dirname(pkgJson);
    return existsSync(join(dir, DATA_VARIANT, `${lang}.traineddata.gz`)) ? { dir, version } : null;
  } catch {
    return null;
  }
}

/** A cache folder only this user can write: per-user folder under tmpdir, else a fresh mkdtemp. */
export function userCacheRoot(): string {
  const uid = typeof process.getuid === "function" ? process.getuid() : null;
  const root = join(os.tmpdir(), `spool-ocr-cache-${uid ?? "user"}`);
  try {
    mkdirSync(root, { recursive: true, mode: 0o700 });
    const st = lstatSync(root);
    const ownedAndPrivate = st.isDirectory() && !st.isSymbolicLink() && (uid === null || st.uid === uid) && (st.mode & 0o077) === 0;
    if (ownedAndPrivate) return root;
  } catch {
    // fall through
  }
  return mkdtempSync(join(os.tmpdir(), "spool-ocr-cache-"));
}

/** Gunzips `<lang>.traineddata.gz` once into the cache (tmp file + rename, so readers never see half a file). */
async function prepareCache(lang: string, gzPath: string, cachePath: string): Promise<void> {
  const target = join(cachePath, `${lang}.traineddata`);
  const gz = await readFile(gzPath);
  const expected = gz.readUInt32LE(gz.length - 4); // gzip ISIZE: uncompressed size mod 2^32
  try {
    const fh = await open(target, fsConstants.O_RDONLY);
    try {
      if ((await fh.stat()).size % 2 ** 32 === expected) return;
    } finally {
      await fh.close();
    }
  } catch {
    // missing: write it
  }
  const tmp = `${target}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, gunzipSync(gz), { mode: 0o600 });
  await rename(tmp, target);
}

/**
 * Finds the installed data of `code` (a lowercase tesseract code) and prepares its cache under
 * `cacheRoot()` (created on first need). INVALID_INPUT, listing what is installed, when missing.
 */
export async function loadLanguageData(code: string, langPathOverride: string | undefined, cacheRoot: () => string): Promise<LanguageData> {
  const pkg = languagePackage(code);
  if (!pkg) {
    const installed = installedOcrLanguages();
    throw new SpoolError(
      "INVALID_INPUT",
      `OCR language "${code}" is not installed (installed: ${installed.join(", ") || "none"}); install @tesseract.js-data/${code}`,
      { language: code, installed },
    );
  }
  if (langPathOverride !== undefined) {
    // cacheMethod "none": tesseract neither reads nor writes cachePath.
    return { code, langPath: langPathOverride, cachePath: os.tmpdir(), cacheMethod: "none" };
  }
  const cachePath = join(cacheRoot(), `${code}-${pkg.version}-${DATA_VARIANT}`);
  mkdirSync(cachePath, { recursive: true, mode: 0o700 });
  const langPath = join(pkg.dir, DATA_VARIANT);
  try {
    await prepareCache(code, join(langPath, `${code}.traineddata.gz`), cachePath);
  } catch {
    // Not fatal: with no cache file tesseract reads the .gz from langPath (still local).
  }
  return { code, langPath, cachePath, cacheMethod: "readOnly" };
}
