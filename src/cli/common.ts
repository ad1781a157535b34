// Shared plumbing for the `spool keys` and `spool orgs` commands: argument parsing with
// stable error wording, the database connection `serve` would use, and plain output.
// Exit codes: 0 done, 1 a failure (unknown organization or key, database unreachable),
// 2 a usage error (unknown option, missing or malformed argument) found before any I/O.
import { parseArgs, type ParseArgsConfig } from "node:util";
import { loadConfig } from "../config.ts";
import type { Database } from "../db/database.ts";
import { SpoolError } from "../errors.ts";
import { createLogger } from "../log.ts";

/** Bad command-line input: exit 2 with the message and a pointer to the usage text. */
export class UsageError extends Error {
  override name = "UsageError";
}

type Options = NonNullable<ParseArgsConfig["options"]>;

/** node:util parseArgs (strict), with its errors turned into UsageErrors worded our way. */
export function parse<O extends Options>(args: string[], options: O, maxPositionals = 0) {
  let parsed;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: true });
  } catch (err) {
    const { code, message } = err as { code?: string; message: string };
    const option = /'(-[^' ]+)/.exec(message)?.[1];
    if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") throw new UsageError(`unknown option ${option}`);
    if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && options[option?.replace(/^--/, "") ?? ""]?.type === "boolean") {
      throw new UsageError(`option ${option} takes no value`);
    }
    if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") throw new UsageError(`option ${option} needs a value`);
    throw new UsageError(message);
  }
  if (parsed.positionals.length > maxPositionals) throw new UsageError(`unexpected argument "${parsed.positionals[maxPositionals]}"`);
  return parsed;
}

/** The value of a required string option, or a UsageError naming it. */
export function required(value: string | boolean | undefined, flag: string): string {
  if (typeof value !== "string" || value.trim() === "") throw new UsageError(`missing ${flag} <value>`);
  return value.trim();
}

/**
 * Runs `fn` against the database `spool serve` uses: DATABASE_URL, else the embedded
 * Postgres under SPOOL_DATA_DIR (started if needed, and stopped afterwards unless another
 * Spool process owns it). Migrations are applied first, so the CLI works before the first serve.
 */
export async function withDatabase<T>(fn: (db: Database) => Promise<T>): Promise<T> {
  // Info logs (embedded Postgres ready, migrations) would drown a command's own output:
  // warnings only, unless SPOOL_LOG_LEVEL says otherwise.
  const config = loadConfig(undefined, { logLevel: "warn" });
  // Loaded here, not at the top: a usage error or `spool keys generate` needs no database.
  const [{ migrateOrExplain, resolveDatabaseUrl }, { openDatabase }] = await Promise.all([import("../db/connect.ts"), import("../db/database.ts")]);
  const log = createLogger(config.logLevel);
  const { url, embedded } = await resolveDatabaseUrl(config, log);
  try {
    await migrateOrExplain(url);
    const db = openDatabase(url, { max: 2, engineMax: 1 });
    try {
      return await fn(db);
    } finally {
      await db.close();
    }
  } finally {
    await embedded?.stop();
  }
}

/**
 * Runs a subcommand and maps its outcome to an exit code. Usage errors → 2; expected
 * failures (SpoolError) → 1, message only; anything else propagates to main's handler.
 */
async function runCommand(name: string, fn: () => Promise<void>): Promise<number> {
  try {
    await fn();
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`spool ${name}: ${err.message}\nRun \`spool ${name} --help\` for usage.\n`);
      return 2;
    }
    if (err instanceof SpoolError) {
      process.stderr.write(`spool ${name}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

/** "a", "a or b", "a, b or c": the commands a usage error lists. */
const orList = (names: string[]) => (names.length < 2 ? names.join("") : `${names.slice(0, -1).join(", ")} or ${names[names.length - 1]}`);

/**
 * `spool <name> <command> …`: prints `usage` for help, else runs the command named first
 * with the remaining arguments (runCommand's exit codes).
 */
export function runSubcommand(name: string, usage: string, argv: string[], commands: Record<string, (args: string[]) => Promise<void>>): Promise<number> {
  return runCommand(name, async () => {
    const [sub, ...args] = argv;
    if (sub === "help" || argv.includes("--help") || argv.includes("-h")) {
      process.stdout.write(usage);
      return;
    }
    const names = Object.keys(commands);
    if (sub === undefined) throw new UsageError(`missing a command: ${orList(names)}`);
    // Own properties only: "constructor" is no command.
    if (!Object.hasOwn(commands, sub)) throw new UsageError(`unknown command "${sub}"; expected ${orList(names)}`);
    return commands[sub]!(args);
  });
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Left-aligned columns, for the humans; scripts use --json. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ").trimEnd();
  process.stdout.write([header, ...rows].map(line).join("\n") + "\n");
}

export const iso = (d: Date | null | undefined) => (d ? d.toISOString() : "-");
