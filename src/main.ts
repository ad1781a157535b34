// The `spool` command: serve (API + engine), worker (engine only), migrate, and the
// keys/orgs administration commands (src/cli/).
import { runKeys } from "./cli/keys.ts";
import { checkListen } from "./http/listen.ts";
import { runOrgs } from "./cli/orgs.ts";
import { ConfigError, loadConfig } from "./config.ts";
import { createLogger } from "./log.ts";
import { parseAdminKey } from "./services/api-keys.ts";

const USAGE = `usage: spool <command>

  serve     run the API and the job engine (SPOOL_ROLE=api for the API alone)
  worker    run the job engine only
  migrate   apply pending database migrations and exit
  keys      API keys: create, list, revoke, generate (spool keys --help)
  orgs      organizations: create, list (spool orgs --help)

Configuration is read from the environment: DATABASE_URL, SPOOL_DATA_DIR, PORT, HOST,
SPOOL_ADMIN_KEY, SPOOL_CONCURRENCY, SPOOL_ROLE, … (see the README).
With no command, prints this text. Exit status: 0 done, 1 failed, 2 bad usage.
`;

async function main(argv: string[]): Promise<number> {
  const command = argv[0];
  // No command is a request for help (`npm run spool`), not for a server: `spool serve` starts one.
  if (command === undefined || command === "help" || command === "--help" || command === "-h") {
    process.stdout.write(USAGE);
    return 0;
  }
  // Before loadConfig: `spool keys generate` and --help need no valid configuration.
  if (command === "keys") return runKeys(argv.slice(1));
  if (command === "orgs") return runOrgs(argv.slice(1));
  if (command !== "serve" && command !== "worker" && command !== "migrate") {
    process.stderr.write(`spool: unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }
  const config = loadConfig();
  const log = createLogger(config.logLevel);
  if (command === "migrate") {
    const { migrateOrExplain, resolveDatabaseUrl } = await import("./db/connect.ts");
    const { url, embedded } = await resolveDatabaseUrl(config, log);
    try {
      const applied = await migrateOrExplain(url);
      process.stdout.write(applied.length ? `applied: ${applied.join(", ")}\n` : "database is up to date\n");
    } finally {
      await embedded?.stop();
    }
    return 0;
  }
  if (command === "worker") config.role = "worker";
  if (config.role !== "worker") {
    // Refused before anything starts: a malformed SPOOL_ADMIN_KEY (the API bootstrap needs
    // it) and a PORT/HOST the HTTP listener cannot bind.
    if (config.adminKey) parseAdminKey(config.adminKey);
    await checkListen(config.port, config.host);
  }
  // Loaded only by the commands that run it: app.ts brings the GraphQL server (~0.7 s).
  const { createApp } = await import("./app.ts");

  const app = await createApp(config, log);
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) {
      log.warn({ signal }, "second signal: exiting now");
      process.exit(130);
    }
    stopping = true;
    log.info({ signal, graceMs: config.shutdownGraceMs }, "shutting down: finishing running jobs (signal again to exit at once)");
    app.stop().then(() => process.exit(0), (err) => {
      log.error({ err }, "shutdown failed");
      process.exit(1);
    });
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
  await app.start().catch(async (err) => {
    // Release what createApp started (the embedded Postgres above all) before reporting.
    await app.stop({ graceMs: 0 }).catch(() => undefined);
    throw err;
  });
  return -1; // keep running until a signal
}

main(process.argv.slice(2)).then(
  (code) => { if (code >= 0) process.exit(code); },
  (err) => {
    // Expected start-up failures carry a message that says what to do; print just that.
    const known = err instanceof ConfigError || (err && typeof err.code === "string") || err?.name === "MigrationError";
    process.stderr.write(`spool: ${known ? err.message : (err?.stack ?? String(err))}\n`);
    process.exit(1);
  },
);
