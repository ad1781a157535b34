// GET/HEAD /files/…: serves a stored asset to whoever holds a valid signed URL
// (services/files.ts), with single byte ranges so players can seek. Multiple ranges are
// answered with the whole file, which RFC 9110 allows.
import type http from "node:http";
import { pipeline } from "node:stream";
import type pg from "pg";
import type { Logger } from "../log.ts";
import type { AssetServices } from "../services/assets.ts";
import { verifyFileUrl } from "../services/files.ts";
import { contentDisposition } from "../tools/storage/storage.ts";

function fail(res: http.ServerResponse, status: number, code: string, message: string) {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
  res.end(JSON.stringify({ error: { code, message } }));
}

/** The one range of a `Range: bytes=…` header, null for none or several, "unsatisfiable" when outside the file. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | null | "unsatisfiable" {
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

export function createFilesHandler(deps: { assets: AssetServices; pool: pg.Pool; log: Logger }) {
  return async function serveFile(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("allow", "GET, HEAD");
      return fail(res, 405, "METHOD_NOT_ALLOWED", "Files are downloaded with GET or HEAD.");
    }
    const verdict = verifyFileUrl(deps.assets.filesSecret, new URL(req.url ?? "/", "http://spool.invalid"));
    if (!verdict.ok) return fail(res, verdict.status, verdict.status === 410 ? "URL_EXPIRED" : verdict.status === 403 ? "FORBIDDEN" : "NOT_FOUND", verdict.reason);
    const { rows } = await deps.pool.query<{ key: string; size: string; content_type: string; filename: string | null; sha256: string }>(
      `select key, size, content_type, filename, sha256 from assets where id = $1`, [verdict.assetId],
    );
    const asset = rows[0];
    if (!asset) return fail(res, 404, "NOT_FOUND", "The asset was deleted.");
    const size = Number(asset.size);
    const headers: Record<string, string> = {
      "content-type": asset.content_type,
      "accept-ranges": "bytes",
      etag: `"${asset.sha256}"`,
      "content-disposition": contentDisposition(asset.filename ?? verdict.assetId, verdict.disposition === "inline"),
      // The URL is the secret: keep it out of shared caches, and never let a served file
      // run script in Spool's origin (a PDF or SVG opened inline).
      "cache-control": `private, max-age=${Math.max(0, verdict.exp - Math.floor(Date.now() / 1000))}`,
      "x-content-type-options": "nosniff",
      "content-security-policy": "sandbox; default-src 'none'; media-src 'self'; img-src 'self'",
      "referrer-policy": "no-referrer",
    };
    const range = parseRange(req.headers.range, size);
    if (range === "unsatisfiable") {
      res.writeHead(416, { ...headers, "content-range": `bytes */${size}` });
      return void res.end();
    }
    const status = range ? 206 : 200;
    if (range) headers["content-range"] = `bytes ${range.start}-${range.end}/${size}`;
    headers["content-length"] = String(range ? range.end - range.start + 1 : size);
    if (req.method === "HEAD") {
      res.writeHead(status, headers);
      return void res.end();
    }
    let body;
    try {
      body = await deps.assets.storage.get(asset.key, range ?? undefined);
    } catch (err) {
      deps.log.error({ key: asset.key, err: (err as Error).message }, "stored file unreadable");
      return fail(res, (err as { code?: string }).code === "NOT_FOUND" ? 404 : 502, "STORAGE_FAILED", "The stored file could not be read.");
    }
    res.writeHead(status, headers);
    // A client that goes away mid-download destroys the storage stream too.
    pipeline(body, res, () => undefined);
  };
}
