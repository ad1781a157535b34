// Signed download URLs for assets: /files/<assetId>/<exp>-<i|a>-<sig>/<name or path>.
// The signature (HMAC-SHA256 over id, expiry and disposition) is the capability: whoever
// holds the URL may download until it expires, which is what a <video src>, a player or a
// curl needs. It sits in the path, not the query, so that the relative URLs inside an HLS
// or DASH package (master.m3u8 → 720p/index.m3u8 → 720p/seg_001.ts) inherit it. The
// organization check happened when the URL was made (Asset.url resolves only the caller's
// assets). Single files on S3 use the bucket's presigned URLs instead (storage.presignGet).
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type pg from "pg";

/** The longest a signed URL may live: S3's own presigning limit, 7 days. */
export const MAX_EXPIRES_IN = 7 * 24 * 3600;

export type Disposition = "inline" | "attachment";

function sign(secret: string, assetId: string, exp: number, disposition: Disposition): string {
  return createHmac("sha256", secret).update(`${assetId}\n${exp}\n${disposition}`).digest("base64url");
}

/** The path (and name) of a signed URL; `name` is cosmetic for a file, the entry of a package. */
export function signedFilePath(secret: string, asset: { id: string; name: string }, opts: { expiresIn: number; disposition: Disposition; now?: number }): string {
  const exp = Math.floor((opts.now ?? Date.now()) / 1000) + opts.expiresIn;
  const token = `${exp}-${opts.disposition === "inline" ? "i" : "a"}-${sign(secret, asset.id, exp, opts.disposition)}`;
  return `/files/${asset.id}/${token}/${asset.name.split("/").map(encodeURIComponent).join("/")}`;
}

export type Verdict =
  | { ok: true; assetId: string; disposition: Disposition; exp: number; rest: string }
  | { ok: false; status: 403 | 404 | 410; reason: string };

const FORBIDDEN: Verdict = { ok: false, status: 403, reason: "The URL's signature does not match; ask Asset.url for a new one." };

/** Checks a /files URL: a bad or missing signature is 403 (before expiry is even looked at), an expired one 410. */
export function verifyFileUrl(secret: string, url: URL, now = Date.now()): Verdict {
  const m = /^\/files\/([0-9a-f-]{36})\/([^/]*)(?:\/(.*))?$/.exec(url.pathname);
  if (!m) return { ok: false, status: 404, reason: "No such file URL." };
  const [, assetId, token, rest = ""] = m as unknown as [string, string, string, string | undefined];
  const t = /^(\d{1,12})-([ia])-([A-Za-z0-9_-]{43})$/.exec(token);
  if (!t) return FORBIDDEN;
  const exp = Number(t[1]);
  const disposition: Disposition = t[2] === "i" ? "inline" : "attachment";
  const expected = Buffer.from(sign(secret, assetId, exp, disposition));
  if (!timingSafeEqual(Buffer.from(t[3]!), expected)) return FORBIDDEN;
  if (exp * 1000 <= now) return { ok: false, status: 410, reason: "The URL has expired; ask Asset.url for a new one." };
  let decoded: string;
  try {
    decoded = rest.split("/").map(decodeURIComponent).join("/");
  } catch {
    return { ok: false, status: 404, reason: "No such file in this asset." };
  }
  return { ok: true, assetId, disposition, exp, rest: decoded };
}

/**
 * The signing key: SPOOL_FILES_SECRET if set, else one generated on first start and kept
 * in the database, so every API process signs and verifies with the same key.
 */
export async function filesSecret(pool: pg.Pool, fromEnv: string | undefined): Promise<string> {
  if (fromEnv) return fromEnv;
  await pool.query(`insert into settings (name, value) values ('files_secret', $1) on conflict (name) do nothing`, [randomBytes(32).toString("base64url")]);
  const { rows } = await pool.query<{ value: string }>(`select value from settings where name = 'files_secret'`);
  return rows[0]!.value;
}
