// Signed download URLs for the local backend: /files/<assetId>/<name>?exp=…&disposition=…&sig=…
// The signature (HMAC-SHA256 over id, expiry and disposition) is the capability: whoever
// holds the URL may download until it expires, which is what a <video src> or a curl
// needs. The organization check happened when the URL was made (Asset.url resolves only
// the caller's assets). On S3 the bucket presigns instead (storage.presignGet).
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type pg from "pg";

/** The longest a signed URL may live: S3's own presigning limit, 7 days. */
export const MAX_EXPIRES_IN = 7 * 24 * 3600;

export type Disposition = "inline" | "attachment";

function sign(secret: string, assetId: string, exp: number, disposition: Disposition): string {
  return createHmac("sha256", secret).update(`${assetId}\n${exp}\n${disposition}`).digest("base64url");
}

export function signedFilePath(secret: string, asset: { id: string; filename: string | null }, opts: { expiresIn: number; disposition: Disposition; now?: number }): string {
  const exp = Math.floor((opts.now ?? Date.now()) / 1000) + opts.expiresIn;
  const name = encodeURIComponent(asset.filename ?? asset.id);
  const sig = sign(secret, asset.id, exp, opts.disposition);
  return `/files/${asset.id}/${name}?exp=${exp}&disposition=${opts.disposition}&sig=${sig}`;
}

export type Verdict = { ok: true; assetId: string; disposition: Disposition; exp: number } | { ok: false; status: 403 | 404 | 410; reason: string };

/** Checks a /files URL: a bad or missing signature is 403 (before expiry is even looked at), an expired one 410. */
export function verifyFileUrl(secret: string, url: URL, now = Date.now()): Verdict {
  const m = /^\/files\/([0-9a-f-]{36})(?:\/[^/]*)?$/.exec(url.pathname);
  if (!m) return { ok: false, status: 404, reason: "No such file URL." };
  const assetId = m[1]!;
  const exp = Number(url.searchParams.get("exp"));
  const disposition = url.searchParams.get("disposition");
  const sig = url.searchParams.get("sig") ?? "";
  if (!Number.isSafeInteger(exp) || (disposition !== "inline" && disposition !== "attachment")) {
    return { ok: false, status: 403, reason: "The URL's signature does not match; ask Asset.url for a new one." };
  }
  const expected = Buffer.from(sign(secret, assetId, exp, disposition));
  const given = Buffer.from(sig);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, status: 403, reason: "The URL's signature does not match; ask Asset.url for a new one." };
  }
  if (exp * 1000 <= now) return { ok: false, status: 410, reason: "The URL has expired; ask Asset.url for a new one." };
  return { ok: true, assetId, disposition, exp };
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
