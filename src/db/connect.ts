// Which database Spool uses, and getting it migrated: DATABASE_URL, or the embedded
// cluster under $SPOOL_DATA_DIR/pg. Kept apart from app.ts so CLI commands that only need
// the database (spool keys, spool migrate) do not load the GraphQL server.
import path from "node:path";
import type { Config } from "../config.ts";
import { SpoolError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { ensureDatabase } from "./database.ts";
import { startEmbeddedPostgres, type EmbeddedPostgres } from "./embedded-postgres/embedded-postgres.ts";
import { migrate } from "./migrate.ts";

/** Resolves the database: DATABASE_URL, or the embedded cluster under $SPOOL_DATA_DIR/pg. */
export async function resolveDatabaseUrl(config: Config, log: Logger): Promise<{ url: string; embedded: EmbeddedPostgres | null }> {
  if (config.databaseUrl) return { url: config.databaseUrl, embedded: null };
  const embedded = await startEmbeddedPostgres({ dataDir: config.dataDir, port: config.pgPort, log });
  log.info({ dataDir: path.join(config.dataDir, "pg"), port: config.pgPort, adopted: embedded.adopted }, "embedded Postgres ready");
  await ensureDatabase(embedded.url, "spool");
  return { url: embedded.urlFor("spool"), embedded };
}

/** Applies migrations, turning "cannot connect" into a message that says what to check. */
export async function migrateOrExplain(url: string): Promise<string[]> {
  try {
    return await migrate(url);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code && CONNECT_ERRORS.has(code)) {
      const u = new URL(url);
      throw new SpoolError("DATABASE_UNREACHABLE", `Cannot use the database ${u.pathname.slice(1)} at ${u.hostname}:${u.port || 5432} (${(err as Error).message}). Check DATABASE_URL, or unset it to run the embedded Postgres.`);
    }
    throw err;
  }
}

// Connection refused, unknown host, timeout, bad password, no such database, no such role.
const CONNECT_ERRORS = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EHOSTUNREACH", "28P01", "28000", "3D000"]);
