// The composition root: configuration → database (embedded Postgres when DATABASE_URL is
// unset) → migrations → LISTEN connection → OCR pool → engine → HTTP. Nothing in Spool does work at
// import time; everything is built here and torn down by stop() in reverse order.
import type http from "node:http";
import type { Config } from "./config.ts";
import { migrateOrExplain, resolveDatabaseUrl } from "./db/connect.ts";
import { openDatabase, type Database } from "./db/database.ts";
import type pg from "pg";
import { Engine } from "./engine/engine.ts";
import { ProcessorRegistry } from "./engine/registry.ts";
import type { Logger } from "./log.ts";
import { assetIngest } from "./processors/asset-ingest.ts";
import { DOCUMENT_READING_JOB_TYPES, MEDIA_JOB_TYPES } from "./processors/job-types.ts";
import { searchReindex } from "./processors/search-reindex.ts";
import { systemCleanup } from "./processors/system-cleanup.ts";
import { webhookDeliver, type WebhookDeliverDeps } from "./processors/webhook-deliver.ts";
import { LiveUpdates } from "./pubsub/live-updates.ts";
import { PgListener } from "./pubsub/pg-listener.ts";
import { explainListenError } from "./http/listen.ts";
import { createUploads } from "./http/uploads.ts";
import { createGraphQLServer } from "./server.ts";
import { bootstrapAdminKey } from "./services/api-keys.ts";
import type { AssetServices } from "./services/assets.ts";
import { filesSecret } from "./services/files.ts";
import { webhookSecretsKey } from "./services/webhook-secrets.ts";
import { Ffmpeg } from "./tools/ffmpeg/ffmpeg.ts";
import { defaultOutboundPolicy } from "./tools/http.ts";
import { installedOcrLanguages } from "./tools/ocr/languages.ts";
import { OcrPool } from "./tools/ocr/pool.ts";
import { createStorage } from "./tools/storage/create-storage.ts";

export type RegistryDeps = {
  /** The processors' one door to the database (deps.pool). */
  pool: pg.Pool;
  assets?: AssetServices; ffmpeg?: Ffmpeg; ocr?: OcrPool;
  /** Registers webhook.deliver (signing key, clock for tests). */
  webhooks?: Omit<WebhookDeliverDeps, "pool" | "outbound">;
};

/**
 * Binds each job type to what it needs. Types that store files need the asset services,
 * media types the ffmpeg adapter, document reading the OCR pool as well; without them
 * (engine-only tests) only the types that need the database alone are registered.
 */
export function createRegistry(deps: RegistryDeps): ProcessorRegistry {
  const { pool, assets } = deps;
  const registry = new ProcessorRegistry().register(systemCleanup, { pool, assets }).register(searchReindex, { pool });
  if (!assets) return registry;
  registry.register(assetIngest, { assets, pool });
  if (deps.webhooks) registry.register(webhookDeliver, { ...deps.webhooks, pool, outbound: assets.outbound });
  if (deps.ffmpeg) {
    const media = { assets, pool, ffmpeg: deps.ffmpeg };
    for (const definition of MEDIA_JOB_TYPES) registry.register(definition, media);
    if (deps.ocr) for (const definition of DOCUMENT_READING_JOB_TYPES) registry.register(definition, { ...media, ocr: deps.ocr });
  }
  return registry;
}

export type App = {
  config: Config;
  db: Database;
  registry: ProcessorRegistry;
  assets: AssetServices;
  listener: PgListener;
  engine: Engine | null;
  server: http.Server | null;
  /** The yoga instance (tests call yoga.fetch); null for a worker. */
  graphql: ReturnType<typeof createGraphQLServer> | null;
  /** Where the HTTP server listens, once started. */
  url: string | null;
  start(): Promise<void>;
  stop(opts?: { graceMs?: number }): Promise<void>;
};

export async function createApp(config: Config, log: Logger, opts: { registry?: ProcessorRegistry } = {}): Promise<App> {
  const { url, embedded } = await resolveDatabaseUrl(config, log);
  try {
    const applied = await migrateOrExplain(url);
    if (applied.length > 0) log.info({ applied }, "migrations applied");
  } catch (err) {
    // Do not leave an embedded Postgres behind a failed start.
    await embedded?.stop();
    throw err;
  }

  const db = openDatabase(url, {
    // Each running job may hold a connection (its progress, stage and log writes) besides the loop's.
    engineMax: config.concurrency + 4,
    engineSyncCommit: config.engineSyncCommit,
    onError: (err) => log.warn({ err: err.message }, "idle database connection failed"),
  });
  const storage = createStorage(config.storage);
  const assets: AssetServices = {
    storage,
    limits: config.limits,
    outbound: { ...defaultOutboundPolicy, ...config.outbound, maxBytes: Math.max(config.limits.videoBytes, config.limits.documentBytes) },
    filesSecret: await filesSecret(db.pool, config.filesSecret),
    log,
  };
  const ffmpeg = await Ffmpeg.resolve({ ffmpegPath: config.ffmpegPath, ffprobePath: config.ffprobePath });
  log.info({ ffmpeg: ffmpeg.binaries.ffmpeg, source: ffmpeg.binaries.source, version: ffmpeg.binaries.version }, "ffmpeg found");
  const listener = new PgListener(url, log);
  // One fixed pool of tesseract.js workers per process, started on the first page to OCR (an
  // API-only process never starts one; it needs the registry only to validate inputs).
  const ocr = new OcrPool({ size: config.ocrWorkers });
  const secretsKey = await webhookSecretsKey(db.pool, config.webhookSecretsKey);
  const registry = opts.registry ?? createRegistry({ assets, pool: db.pool, ffmpeg, ocr, webhooks: { secretsKey } });
  const engine = config.role === "api" ? null : new Engine({ pool: db.enginePool, registry, log, listener, concurrency: config.concurrency, leaseMs: config.leaseMs });
  // Subscriptions ride on the same LISTEN connection as the engine's wake-ups.
  const liveUpdates = config.role === "worker" ? null : new LiveUpdates({ listener, pool: db.pool, prisma: db.prisma, log });
  const webhooks = { pool: db.pool, secretsKey, outbound: assets.outbound };
  const deps = { pool: db.pool, prisma: db.prisma, registry, log, liveUpdates: liveUpdates ?? undefined, assets, publicUrl: config.publicUrl, webhooks };
  const uploads = config.role === "worker" ? null : createUploads({
    deps, assets, pool: db.pool, dataDir: config.dataDir, expiryMs: config.uploadExpiryMs, maxOpenUploads: config.maxOpenUploads, publicUrl: config.publicUrl,
  });
  const graphql = config.role === "worker" ? null : createGraphQLServer({
    ...deps, uploads: uploads ?? undefined,
    introspection: config.introspection, graphiql: config.graphiql,
    health: async () => ({
      database: await db.pool.query("select 1").then(() => "up" as const, () => "down" as const),
      listener: listener.connected ? "up" : "down",
      engine: engine ? { running: engine.runningCount, concurrency: config.concurrency } : null,
      storage: await storage.stat("health/probe").then(() => "up" as const, () => "down" as const),
      ffmpeg: { source: ffmpeg.binaries.source, version: ffmpeg.binaries.version, path: ffmpeg.binaries.ffmpeg },
      ocr: { workers: ocr.size, live: ocr.liveWorkers, queued: ocr.queueLength, languages: installedOcrLanguages() },
    }),
  });
  const server = graphql?.server ?? null;

  let sweepTimer: NodeJS.Timeout | null = null;
  const app: App = {
    config, db, registry, assets, listener, engine, server, graphql, url: null,
    async start() {
      await listener.start();
      await liveUpdates?.start();
      if (server) {
        // Bound before the admin key is made: a port taken since main's check (checkListen)
        // fails the start before a key is generated and printed for a server that never ran.
        await new Promise<void>((resolve, reject) => {
          server.once("error", reject);
          server.listen(config.port, config.host, () => resolve());
        }).catch((err) => {
          throw explainListenError(err, config.port, config.host);
        });
      }
      if (graphql) {
        const created = await bootstrapAdminKey(db.prisma, { adminKey: config.adminKey, dataDir: config.dataDir });
        // Printed once, on the first start; afterwards it is in the file only.
        if (created) process.stdout.write(`\nSpool admin API key (shown once, also saved to ${created.file}):\n  ${created.key}\n\n`);
      }
      engine?.start();
      // Abandoned tus uploads (no PATCH for SPOOL_UPLOAD_EXPIRY_HOURS) are removed hourly.
      if (uploads) {
        sweepTimer = setInterval(() => {
          uploads.cleanUpExpired().then(
            (n) => n > 0 && log.info({ removed: n }, "expired uploads removed"),
            (err) => log.warn({ err: err.message }, "expired upload sweep failed"),
          );
        }, 3_600_000);
        sweepTimer.unref();
      }
      if (server) {
        // Logged once the admin key exists: "listening" means ready to answer with it.
        const addr = server.address();
        app.url = typeof addr === "object" && addr ? `http://${config.host}:${addr.port}` : null;
        log.info({ url: app.url }, "listening");
      }
    },
    async stop({ graceMs = config.shutdownGraceMs } = {}) {
      if (sweepTimer) clearInterval(sweepTimer);
      await graphql?.close();
      await engine?.stop(graceMs);
      await liveUpdates?.stop();
      await listener.stop();
      // After the drain: jobs still OCRing have finished or been stopped.
      await ocr.close();
      await storage.close();
      await db.close();
      await embedded?.stop();
    },
  };
  return app;
}
