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
};

export class ConfigError extends Error {
  override name = "ConfigError";
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // An empty variable means "unset", as in a docker-compose file with `FOO=`.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join("\n")}`);
  }
  const e = parsed.data;
  return {
    databaseUrl: e.DATABASE_URL,
    dataDir: path.resolve(e.SPOOL_DATA_DIR),
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
  };
}
