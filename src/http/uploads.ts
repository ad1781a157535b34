// /uploads: tus resumable uploads (@tus/server) for files too large for a GraphQL multipart
// request. The upload's bytes live in the tus file store under $SPOOL_DATA_DIR/uploads until
// the last PATCH; then they go through the same ingest as every other way in (into the
// local folder or the S3 bucket) and become an Asset of the caller's organization. That
// PATCH answers with `Spool-Asset-Id` (the Asset's global id); `createVideo(input:
// { uploadId })` also finds it by the upload's id.
//
// Why not @tus/s3-store with the S3 backend: it needs S3 calls (multipart abort/listing,
// tagging) that s3rver, the S3 we can test against, does not implement, and we do not ship
// what we cannot test. The cost: behind several API replicas an unfinished upload lives on
// one replica's disk, so route /uploads/<id> to the same replica or share the folder.
import { randomBytes } from "node:crypto";
import path from "node:path";
import type { Readable } from "node:stream";
import { encodeGlobalID } from "@pothos/plugin-relay";
import { Server, type Upload } from "@tus/server";
import type pg from "pg";
import { SpoolError } from "../errors.ts";
import type { Deps } from "../graphql/context.ts";
import { keyFrom, principalFor } from "../graphql/context.ts";
import { ingest, insertAsset, type AssetServices } from "../services/assets.ts";
import { UploadStore } from "./upload-store.ts";
import type { Principal } from "../services/api-keys.ts";

export const UPLOADS_PATH = "/uploads";

type Refusal = { status_code: number; body: string };

function refusal(status: number, code: string, message: string): Refusal {
  return { status_code: status, body: JSON.stringify({ error: { code, message } }) };
}

const STATUS_OF: Record<string, number> = {
  UNAUTHENTICATED: 401, FORBIDDEN: 403, NOT_FOUND: 404, INVALID_INPUT: 400,
  VIDEO_TOO_LARGE: 413, DOCUMENT_TOO_LARGE: 413, DOCUMENT_CORRUPTED: 422,
  VIDEO_FORMAT_UNSUPPORTED: 415, DOCUMENT_FORMAT_UNSUPPORTED: 415, RATE_LIMITED: 429,
};

function asRefusal(err: unknown): Refusal {
  if (err instanceof SpoolError) return refusal(STATUS_OF[err.code] ?? 400, err.code, err.message);
  throw err;
}

export type UploadsOptions = {
  deps: Deps;
  assets: AssetServices;
  pool: pg.Pool;
  dataDir: string;
  expiryMs: number;
  /** SPOOL_MAX_OPEN_UPLOADS: unfinished uploads one organization may have at once. */
  maxOpenUploads: number;
  /** SPOOL_PUBLIC_URL: the Location of new uploads is built on it, else on the request. */
  publicUrl?: string;
};

export function createUploads(opts: UploadsOptions) {
  const datastore = new UploadStore({
    directory: path.join(opts.dataDir, "uploads"), expiryMs: opts.expiryMs, maxOpenPerOrganization: opts.maxOpenUploads,
    organizationOf: (upload) => upload.metadata?.spoolOrg ?? undefined,
  });
  const principals = new WeakMap<Request, Principal>();

  const server: Server = new Server({
    path: UPLOADS_PATH,
    datastore,
    // The largest file any kind accepts; the kind's own limit is checked at the end, when the bytes say what they are.
    maxSize: Math.max(opts.assets.limits.videoBytes, opts.assets.limits.documentBytes),
    // Ids are ours, never the client's: unguessable and safe in a path.
    namingFunction: () => `up${randomBytes(16).toString("hex")}`,
    generateUrl: opts.publicUrl
      ? (_req, { path: p, id }) => `${opts.publicUrl}${p}/${id}`
      : undefined,
    disableTerminationForFinishedUploads: true,
    // A browser page (tus-js-client, Uppy) reads only the response headers CORS exposes.
    exposedHeaders: ["Spool-Asset-Id"],
    async onIncomingRequest(req, uploadId) {
      let principal: Principal | null;
      try {
        principal = await principalFor(opts.deps, keyFrom(req.headers));
      } catch (err) {
        throw asRefusal(err);
      }
      if (!principal) throw refusal(401, "UNAUTHENTICATED", "Send an API key as `Authorization: Bearer <key>`.");
      if (!principal.scopes.includes("assets:write") && !principal.scopes.includes("admin")) {
        throw refusal(403, "FORBIDDEN", "This API key lacks the assets:write scope.");
      }
      principals.set(req as unknown as Request, principal);
      if (req.method === "POST") return;
      // Another organization's upload does not exist, as far as this caller can tell.
      const upload = await datastore.getUpload(uploadId).catch(() => null);
      if (!upload || upload.metadata?.spoolOrg !== principal.organizationId) {
        throw refusal(404, "NOT_FOUND", `No upload ${uploadId} in your organization.`);
      }
    },
    async onUploadCreate(req, upload) {
      const principal = principals.get(req as unknown as Request)!;
      if (upload.size === undefined) throw refusal(400, "INVALID_INPUT", "Send Upload-Length: uploads of unknown length are not accepted.");
      // The organization is set here, server-side; a client-sent spoolOrg is overwritten.
      return { metadata: { ...upload.metadata, spoolOrg: principal.organizationId } };
    },
    async onUploadFinish(_req, upload) {
      try {
        const asset = await finish(upload);
        return {
          status_code: 200,
          headers: { "Spool-Asset-Id": encodeGlobalID("Asset", asset.id), "Content-Type": "application/json" },
          body: JSON.stringify({ asset: { id: encodeGlobalID("Asset", asset.id), kind: asset.kind, contentType: asset.content_type, size: Number(asset.size), sha256: asset.sha256 } }),
        };
      } catch (err) {
        throw asRefusal(err);
      } finally {
        // Accepted or refused, the bytes are no longer the upload's: remove them from the tus store.
        await datastore.remove(upload.id).catch((err) => opts.assets.log.warn({ upload: upload.id, err: err.message }, "could not remove a finished upload"));
      }
    },
    onResponseError(_req, err) {
      if (err instanceof SpoolError) return asRefusal(err);
      if ("status_code" in err) return undefined;
      opts.assets.log.error({ err: err.message }, "tus upload failed");
      return refusal(500, "INTERNAL_SERVER_ERROR", "The upload failed unexpectedly.");
    },
  });

  async function finish(upload: Upload) {
    const organizationId = upload.metadata?.spoolOrg;
    if (!organizationId) throw new SpoolError("NOT_FOUND", "The upload has no organization.");
    const body: Readable = await datastore.read(upload.id);
    return ingest(opts.assets, { organizationId, body, use: "any", declaredSize: upload.size }, (blob) =>
      insertAsset(opts.pool, blob, { organizationId, origin: "UPLOAD", uploadId: upload.id, filename: upload.metadata?.filename ?? null }));
  }

  return {
    server,
    handle: (req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse) => {
      // tus serves GET of an upload's bytes; finished uploads are Assets with signed URLs instead.
      if (req.method === "GET") {
        res.writeHead(405, { allow: "POST, HEAD, PATCH, DELETE, OPTIONS", "content-type": "application/json" });
        return void res.end(JSON.stringify({ error: { code: "METHOD_NOT_ALLOWED", message: "Download finished uploads through Asset.url." } }));
      }
      return server.handle(req, res);
    },
    /** Deletes uploads abandoned longer than the expiry; returns how many. */
    cleanUpExpired: () => server.cleanUpExpiredUploads(),
  };
}
