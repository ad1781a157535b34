// Spool's configuration: read from the environment once, validated, typed. The names are a
// contract with users and scripts (see the README's configuration table).
import os from "node:os";
import path from "node:path";
import { z } from "zod";

const intFrom = (min: number) => z.coerce.number().int().min(min);

const schema = z.object({
  DATABASE_URL: z.string().min(1).optional(),
  SPOOL_DATA_DIR: z.string().min(1).default("./.spool"),
  SPOOL_PG_PORT: intFrom(1).max(65535).default(54329),
  PORT: intFrom(0).max(65535).default(4000),
  HOST: z.string().min(1).default("127.0.0.1"),
  SPOOL_ADMIN_KEY: z.string().min(1).optional(),
  SPOOL_CONCURRENCY: intFrom(1).max(256).optional(),
  SPOOL_ROLE: z.enum(["all", "api", "worker"]).default("all"),
  SPOOL_SHUTDOWN_GRACE_MS: intFrom(0).default(30_000),
  SPOOL_LEASE_MS: intFrom(1_000).max(600_000).default(15_000),
  SPOOL_ENGINE_SYNC_COMMIT: z.enum(["on", "off"]).default("off"),
  SPOOL_INTROSPECTION: z.enum(["on", "off"]).default("on"),
  SPOOL_GRAPHIQL: z.enum(["on", "off"]).default("on"),
  SPOOL_LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  FFMPEG_PATH: z.string().min(1).optional(),
  FFPROBE_PATH: z.string().min(1).optional(),
  SPOOL_STORAGE: z.enum(["local", "s3"]).default("local"),
  SPOOL_S3_BUCKET: z.string().min(1).optional(),
  SPOOL_S3_REGION: z.string().min(1).default("us-east-1"),
  SPOOL_S3_ENDPOINT: z.url().optional(),
  SPOOL_S3_FORCE_PATH_STYLE: z.enum(["on", "off"]).default("off"),
  SPOOL_S3_PREFIX: z.string().regex(/^(?!\.{1,2}(\/|$))[A-Za-z0-9._-]+(\/(?!\.{1,2}(\/|$))[A-Za-z0-9._-]+)*$/, "segments of letters, digits, . _ - separated by /; no . or .. segments").optional(),
  SPOOL_PUBLIC_URL: z.url().optional(),
  SPOOL_FILES_SECRET: z.string().min(32).optional(),
  SPOOL_WEBHOOK_SECRETS_KEY: z.string().min(32).optional(),
  SPOOL_MAX_VIDEO_BYTES: intFrom(1).default(5 * 1024 ** 3),
  SPOOL_MAX_DOCUMENT_BYTES: intFrom(1).default(200 * 1024 ** 2),
  SPOOL_MAX_MULTIPART_BYTES: intFrom(1).default(100 * 1024 ** 2),
  SPOOL_MAX_VIDEO_SECONDS: intFrom(1).default(4 * 3600),
  SPOOL_MAX_DOCUMENT_PAGES: intFrom(1).max(100_000).default(5000),
  SPOOL_MAX_OCR_PAGES: intFrom(1).max(100_000).default(1000),
  SPOOL_OCR_WORKERS: intFrom(1).max(64).optional(),
  SPOOL_UPLOAD_EXPIRY_HOURS: intFrom(1).max(24 * 30).default(24),
  SPOOL_MAX_OPEN_UPLOADS: intFrom(1).max(10_000).default(20),
  SPOOL_URL_ALLOW_CIDRS: z.string().default(""),
  SPOOL_URL_ALLOWED_PORTS: z.string().regex(/^\d+(,\d+)*$/).default("80,443"),
  SPOOL_URL_TIMEOUT_MS: intFrom(1_000).default(30 * 60_000),
});

export type Config = {
  databaseUrl: string | undefined;
  dataDir: string;
  pgPort: number;
  port: number;
  host: string;
  adminKey: string | undefined;
  concurrency: number;
  role: "all" | "api" | "worker";
  shutdownGraceMs: number;
  leaseMs: number;
  engineSyncCommit: boolean;
  introspection: boolean;
  graphiql: boolean;
  logLevel: string;
  ffmpegPath: string | undefined;
  ffprobePath: string | undefined;
  storage: StorageConfig;
  /** Base of the URLs Spool hands out (/files, /uploads); unset → the request's own origin. */
  publicUrl: string | undefined;
  filesSecret: string | undefined;
  /** Encrypts webhook signing secrets at rest; unset → generated once and kept in the database. */
  webhookSecretsKey: string | undefined;
  limits: Limits;
  uploadExpiryMs: number;
  /** Unfinished tus uploads one organization may have at once (on this API process). */
  maxOpenUploads: number;
  outbound: { allowCidrs: string[]; allowedPorts: number[]; timeoutMs: number };
  /** tesseract.js worker threads of this process's OCR pool. */
  ocrWorkers: number;
};

export type StorageConfig =
  | { kind: "local"; root: string }
  | { kind: "s3"; bucket: string; region: string; endpoint?: string; forcePathStyle: boolean; prefix?: string };

/**
 * Size limits in bytes (video covers audio; document covers images), the longest media
 * accepted, the most pages a document job reads and the most it OCRs.
 */
export type Limits = { videoBytes: number; documentBytes: number; multipartBytes: number; videoSeconds: number; documentPages: number; ocrPages: number };

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** `defaults`: a caller's own default for a setting left unset (the CLI logs warnings only). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, defaults: { logLevel?: string } = {}): Config {
  // An empty variable means "unset", as in a docker-compose file with `FOO=`.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = schema.safeParse({ ...(defaults.logLevel ? { SPOOL_LOG_LEVEL: defaults.logLevel } : {}), ...present });
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join("\n")}`);
  }
  const e = parsed.data;
  if (e.SPOOL_STORAGE === "s3" && !e.SPOOL_S3_BUCKET) throw new ConfigError("Invalid configuration:\n  SPOOL_S3_BUCKET: required when SPOOL_STORAGE=s3");
  const allowCidrs = e.SPOOL_URL_ALLOW_CIDRS.split(",").map((c) => c.trim()).filter(Boolean);
  for (const c of allowCidrs) {
    if (!z.cidrv4().safeParse(c).success && !z.cidrv6().safeParse(c).success) throw new ConfigError(`Invalid configuration:\n  SPOOL_URL_ALLOW_CIDRS: ${c} is not a CIDR (e.g. 10.0.0.0/8)`);
  }
  const dataDir = path.resolve(e.SPOOL_DATA_DIR);
  return {
    databaseUrl: e.DATABASE_URL,
    dataDir,
    pgPort: e.SPOOL_PG_PORT,
    port: e.PORT,
    host: e.HOST,
    adminKey: e.SPOOL_ADMIN_KEY,
    concurrency: e.SPOOL_CONCURRENCY ?? os.availableParallelism(),
    role: e.SPOOL_ROLE,
    shutdownGraceMs: e.SPOOL_SHUTDOWN_GRACE_MS,
    leaseMs: e.SPOOL_LEASE_MS,
    engineSyncCommit: e.SPOOL_ENGINE_SYNC_COMMIT === "on",
    introspection: e.SPOOL_INTROSPECTION === "on",
    graphiql: e.SPOOL_GRAPHIQL === "on",
    logLevel: e.SPOOL_LOG_LEVEL,
    ffmpegPath: e.FFMPEG_PATH,
    ffprobePath: e.FFPROBE_PATH,
    storage: e.SPOOL_STORAGE === "s3"
      ? { kind: "s3", bucket: e.SPOOL_S3_BUCKET!, region: e.SPOOL_S3_REGION, endpoint: e.SPOOL_S3_ENDPOINT, forcePathStyle: e.SPOOL_S3_FORCE_PATH_STYLE === "on", prefix: e.SPOOL_S3_PREFIX }
      : { kind: "local", root: path.join(dataDir, "files") },
    publicUrl: e.SPOOL_PUBLIC_URL?.replace(/\/+$/, ""),
    filesSecret: e.SPOOL_FILES_SECRET,
    webhookSecretsKey: e.SPOOL_WEBHOOK_SECRETS_KEY,
    limits: { videoBytes: e.SPOOL_MAX_VIDEO_BYTES, documentBytes: e.SPOOL_MAX_DOCUMENT_BYTES, multipartBytes: e.SPOOL_MAX_MULTIPART_BYTES, videoSeconds: e.SPOOL_MAX_VIDEO_SECONDS,
      documentPages: e.SPOOL_MAX_DOCUMENT_PAGES, ocrPages: e.SPOOL_MAX_OCR_PAGES },
    uploadExpiryMs: e.SPOOL_UPLOAD_EXPIRY_HOURS * 3_600_000,
    maxOpenUploads: e.SPOOL_MAX_OPEN_UPLOADS,
    outbound: { allowCidrs, allowedPorts: e.SPOOL_URL_ALLOWED_PORTS.split(",").map(Number), timeoutMs: e.SPOOL_URL_TIMEOUT_MS },
    ocrWorkers: e.SPOOL_OCR_WORKERS ?? os.availableParallelism(),
  };
}
