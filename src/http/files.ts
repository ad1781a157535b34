// GET/HEAD /files/…: serves a stored asset to whoever holds a valid signed URL
// (services/files.ts), with single byte ranges so players can seek. A package asset (HLS,
// DASH) serves the files of its folder by their relative path, so a player that loads the
// manifest finds its playlists and segments under the same signed prefix. Multiple ranges
// are answered with the whole file, which RFC 9110 allows. CORS is open: the URL itself is
// the credential, and players on other origins (hls.js, dash.js) fetch with Range.
import type http from "node:http";
import path from "node:path";
import { pipeline } from "node:stream";
import type pg from "pg";
import type { Logger } from "../log.ts";
import { packageOf, type AssetServices } from "../services/assets.ts";
import { verifyFileUrl } from "../services/files.ts";
import { contentDisposition } from "../tools/storage/content-disposition.ts";
import { isValidKey } from "../tools/storage/keys.ts";

const CORS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, HEAD, OPTIONS",
  "access-control-allow-headers": "Range",
  "access-control-expose-headers": "Content-Length, Content-Range, Accept-Ranges, Content-Disposition",
};

/** Types of the files inside packages, by extension (their bytes are ours, written by ffmpeg). */
const PACKAGE_TYPES: Record<string, string> = {
  ".m3u8": "application/vnd.apple.mpegurl",
  ".mpd": "application/dash+xml",
  ".ts": "video/mp2t",
  ".m4s": "video/iso.segment",
  ".mp4": "video/mp4",
  ".m4a": "audio/mp4",
  ".aac": "audio/aac",
  ".vtt": "text/vtt",
  ".jpg": "image/jpeg",
  ".png": "image/png",
  ".webp": "image/webp",
};

function fail(res: http.ServerResponse, status: number, code: string, message: string) {
  res.writeHead(status, { ...CORS, "content-type": "application/json", "cache-control": "no-store" });
  res.end(JSON.stringify({ error: { code, message } }));
}

/** The one range of a `Range: bytes=…` header, null for none or several, "unsatisfiable" when outside the file. */
function parseRange(header: string | undefined, size: number): { start: number; end: number } | null | "unsatisfiable" {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return null;
  let start: number;
  let end: number;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0) return "unsatisfiable";
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (start > end || start >= size) return "unsatisfiable";
  }
  return { start, end };
}

type Target = { key: string; size: number; contentType: string; etag: string; name: string; disposition: "inline" | "attachment" };

export function createFilesHandler(deps: { assets: AssetServices; pool: pg.Pool; log: Logger }) {
  /** What the verified URL points at: the asset's file, or a file of its package. */
  async function resolve(assetId: string, rest: string, disposition: "inline" | "attachment"): Promise<Target | null> {
    const { rows } = await deps.pool.query<{ key: string; size: string; content_type: string; filename: string | null; sha256: string }>(
      `select key, size, content_type, filename, sha256 from assets where id = $1`, [assetId],
    );
    const asset = rows[0];
    if (!asset) return null;
    const pkg = packageOf(asset.key);
    if (!pkg) {
      return { key: asset.key, size: Number(asset.size), contentType: asset.content_type, etag: `"${asset.sha256}"`, name: asset.filename ?? assetId, disposition };
    }
    const key = `${pkg.dir}/${rest || pkg.entry}`;
    // The key rules refuse `..`, empty segments and odd characters: a path cannot leave the package.
    if (!isValidKey(key)) return null;
    const stat = await deps.assets.storage.stat(key);
    if (!stat) return null;
    const type = PACKAGE_TYPES[path.extname(key).toLowerCase()] ?? "application/octet-stream";
    return { key, size: stat.size, contentType: type, etag: `"${assetId}-${stat.size}-${stat.modifiedAt.getTime()}"`, name: path.basename(key), disposition: "inline" };
  }

  return async function serveFile(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.method === "OPTIONS") {
      res.writeHead(204, { ...CORS, "access-control-max-age": "600" });
      return void res.end();
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("allow", "GET, HEAD, OPTIONS");
      return fail(res, 405, "METHOD_NOT_ALLOWED", "Files are downloaded with GET or HEAD.");
    }
    const verdict = verifyFileUrl(deps.assets.filesSecret, new URL(req.url ?? "/", "http://spool.invalid"));
    if (!verdict.ok) return fail(res, verdict.status, verdict.status === 410 ? "URL_EXPIRED" : verdict.status === 403 ? "FORBIDDEN" : "NOT_FOUND", verdict.reason);
    const target = await resolve(verdict.assetId, verdict.rest, verdict.disposition);
    if (!target) return fail(res, 404, "NOT_FOUND", "The asset was deleted, or has no such file.");
    const headers: Record<string, string> = {
      ...CORS,
      "content-type": target.contentType,
      "accept-ranges": "bytes",
      etag: target.etag,
      "content-disposition": contentDisposition(target.name, target.disposition === "inline"),
      // The URL is the secret: keep it out of shared caches, and never let a served file
      // run script in Spool's origin (a PDF or SVG opened inline).
      "cache-control": `private, max-age=${Math.max(0, verdict.exp - Math.floor(Date.now() / 1000))}`,
      "x-content-type-options": "nosniff",
      "content-security-policy": "sandbox; default-src 'none'; media-src 'self'; img-src 'self'",
      "referrer-policy": "no-referrer",
    };
    const range = parseRange(req.headers.range, target.size);
    if (range === "unsatisfiable") {
      res.writeHead(416, { ...headers, "content-range": `bytes */${target.size}` });
      return void res.end();
    }
    const status = range ? 206 : 200;
    if (range) headers["content-range"] = `bytes ${range.start}-${range.end}/${target.size}`;
    headers["content-length"] = String(range ? range.end - range.start + 1 : target.size);
    if (req.method === "HEAD" || target.size === 0) {
      res.writeHead(status, headers);
      return void res.end();
    }
    let body;
    try {
      body = await deps.assets.storage.get(target.key, range ?? undefined);
    } catch (err) {
      deps.log.error({ key: target.key, err: (err as Error).message }, "stored file unreadable");
      return fail(res, (err as { code?: string }).code === "NOT_FOUND" ? 404 : 502, "STORAGE_FAILED", "The stored file could not be read.");
    }
    // The client may have gone while the file was opened. pipeline() refuses a destroyed
    // response (it throws on Node 22+) and would leave the stream unread and its FileHandle
    // to the garbage collector, which Node 26 turns into an uncaught exception: close it here.
    if (res.destroyed) return void body.destroy();
    res.writeHead(status, headers);
    // A client that goes away mid-download destroys the storage stream too.
    pipeline(body, res, () => undefined);
  };
}
