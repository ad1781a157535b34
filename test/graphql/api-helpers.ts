// A real GraphQL server over a test database: yoga.fetch for HTTP tests, `listen()` for
// WebSocket clients. Keys are created through the real service. Subscriptions need a
// started PgListener (`opts.listener`); without one they answer UNAVAILABLE.
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import type { Limits } from "../../src/config.ts";
import { createUploads } from "../../src/http/uploads.ts";
import { createRegistry } from "../../src/app.ts";
import type { ProcessorRegistry } from "../../src/engine/registry.ts";
import { LiveUpdates } from "../../src/pubsub/live-updates.ts";
import type { PgListener } from "../../src/pubsub/pg-listener.ts";
import { createGraphQLServer } from "../../src/server.ts";
import { createApiKey, type Scope, SCOPES } from "../../src/services/api-keys.ts";
import type { AssetServices } from "../../src/services/assets.ts";
import type { Ffmpeg } from "../../src/tools/ffmpeg/ffmpeg.ts";
import type { OcrPool } from "../../src/tools/ocr/pool.ts";
import type { WebhookDeps } from "../../src/services/webhooks.ts";
import { defaultOutboundPolicy, type OutboundPolicy } from "../../src/tools/http.ts";
import { createStorage } from "../../src/tools/storage/create-storage.ts";
import type { Storage } from "../../src/tools/storage/storage.ts";
import { createOrg, log, type TestDb } from "../helpers.ts";

export type Api = Awaited<ReturnType<typeof createTestApi>>;

export const TEST_FILES_SECRET = "test-files-secret-0123456789abcdef0123456789";

export type TestApiOptions = {
  registry?: ProcessorRegistry; introspection?: boolean; listener?: PgListener; gapTimeoutMs?: number;
  /** Storage for assets; default: a local folder under the OS temp dir, removed by close(). */
  storage?: Storage;
  limits?: Partial<Limits>;
  outbound?: Partial<OutboundPolicy>;
  publicUrl?: string;
  uploadExpiryMs?: number;
  /** Unfinished tus uploads an organization may have open (SPOOL_MAX_OPEN_UPLOADS); default 20. */
  maxOpenUploads?: number;
  /** Registers the media processors with this ffmpeg. */
  ffmpeg?: Ffmpeg;
  /** With ffmpeg, also registers the document processors that OCR (the caller closes the pool). */
  ocr?: OcrPool;
  /** Webhooks: management through the API and webhook.deliver (clock and randomness for schedule tests). */
  webhooks?: { now?: () => Date; random?: () => number };
};

export const TEST_WEBHOOK_SECRETS_KEY = Buffer.alloc(32, 7);

export async function createTestApi(db: TestDb, opts: TestApiOptions = {}) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "spool-api-"));
  const storage = opts.storage ?? createStorage({ kind: "local", root: path.join(dataDir, "files") });
  const assets: AssetServices = {
    storage,
    limits: { videoBytes: 50 * 1024 * 1024, documentBytes: 20 * 1024 * 1024, multipartBytes: 10 * 1024 * 1024, videoSeconds: 3600, documentPages: 5000, ocrPages: 1000, ...opts.limits },
    outbound: { ...defaultOutboundPolicy, ...opts.outbound },
    filesSecret: TEST_FILES_SECRET,
    log,
  };
  const webhooks: WebhookDeps = { pool: db.pool, secretsKey: TEST_WEBHOOK_SECRETS_KEY, outbound: assets.outbound };
  const registry = opts.registry ?? createRegistry({
    assets, pool: db.pool, ffmpeg: opts.ffmpeg, ocr: opts.ocr, webhooks: { secretsKey: TEST_WEBHOOK_SECRETS_KEY, ...opts.webhooks },
  });
  const liveUpdates = opts.listener ? new LiveUpdates({ listener: opts.listener, pool: db.pool, prisma: db.prisma, log, gapTimeoutMs: opts.gapTimeoutMs }) : undefined;
  await liveUpdates?.start();
  const deps = { pool: db.pool, prisma: db.prisma, registry, log, liveUpdates, assets, publicUrl: opts.publicUrl, webhooks };
  const uploads = createUploads({
    deps, assets, pool: db.pool, dataDir,
    expiryMs: opts.uploadExpiryMs ?? 3_600_000, maxOpenUploads: opts.maxOpenUploads ?? 20, publicUrl: opts.publicUrl,
  });
  const api = createGraphQLServer({
    ...deps, uploads,
    introspection: opts.introspection ?? true, graphiql: true,
    health: async () => ({ database: "up" }),
  });

  async function keyFor(organizationId: string, scopes: readonly Scope[] = SCOPES.filter((s) => s !== "admin")) {
    return (await createApiKey(db.prisma, { organizationId, name: "test", scopes })).key;
  }

  /** POST /graphql through yoga.fetch; returns the parsed body and the response. */
  async function gql<T = any>(query: string, variables: Record<string, unknown> = {}, key?: string | null, headers: Record<string, string> = {}) {
    const res = await api.yoga.fetch("http://spool.test/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { data?: T; errors?: Array<{ message: string; extensions?: { code?: string } }> };
    return { ...body, res };
  }

  /**
   * A GraphQL multipart request (graphql-multipart-request-spec): `files` maps variable
   * paths (`input.file`) to file contents, sent as the parts browsers and Apollo send.
   */
  async function gqlUpload<T = any>(query: string, variables: Record<string, unknown>, files: Record<string, { bytes: Buffer; name: string; type?: string }>, key?: string | null) {
    const form = new FormData();
    form.set("operations", JSON.stringify({ query, variables }));
    const entries = Object.entries(files);
    form.set("map", JSON.stringify(Object.fromEntries(entries.map(([p], i) => [String(i), [`variables.${p}`]]))));
    entries.forEach(([, f], i) => form.set(String(i), new Blob([new Uint8Array(f.bytes)], { type: f.type ?? "application/octet-stream" }), f.name));
    const res = await api.yoga.fetch("http://spool.test/graphql", {
      method: "POST",
      // Apollo and urql send this header with uploads; yoga's CSRF guard asks for one like it.
      headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), "apollo-require-preflight": "true" },
      body: form,
    });
    const text = await res.text();
    let body: { data?: T; errors?: Array<{ message: string; extensions?: { code?: string } }> };
    try {
      body = JSON.parse(text);
    } catch {
      body = { errors: [{ message: text }] };
    }
    return { ...body, res };
  }

  /** A new organization with a key holding every non-admin scope. */
  async function tenant() {
    const org = await createOrg(db);
    return { org, key: await keyFor(org.id) };
  }

  async function listen(): Promise<{ http: string; ws: string }> {
    await new Promise<void>((resolve) => api.server.listen(0, "127.0.0.1", resolve));
    const { port } = api.server.address() as AddressInfo;
    return { http: `http://127.0.0.1:${port}/graphql`, ws: `ws://127.0.0.1:${port}/graphql` };
  }

  async function close() {
    await api.close();
    await liveUpdates?.stop();
    await storage.close();
    rmSync(dataDir, { recursive: true, force: true });
  }

  return { ...api, close, liveUpdates, registry, assets, webhooks, storage, uploads, dataDir, gql, gqlUpload, keyFor, tenant, listen };
}
