// Names and small helpers every part of the embedded PostgreSQL uses: the cluster's user and
// files, its time limits, and how its programs are run.
import { execFile } from "node:child_process";
import { promisify } from "node:util";

/** The system user postgres runs as when Spool runs as root (postgres refuses to run as root). */
export type RunAs = { uid: number; gid: number };
export type Log = { info(o: object | string, msg?: string): void; warn(o: object | string, msg?: string): void };

export const DB_USER = "spool";
export const START_TIMEOUT_MS = 30_000;
export const STOP_TIMEOUT_MS = 30_000;
/** In the cluster folder: the pid of the Spool process that stops the cluster. */
export const OWNER_FILE = "spool-owner.pid";
/** In the cluster folder: postgres' stderr for the current run. */
export const LOG_FILE = "spool-postgres.log";

export const execFileAsync = promisify(execFile);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const errCode = (e: unknown) => (e as NodeJS.ErrnoException | undefined)?.code;
// LC_ALL=C keeps initdb's and postgres' own messages in English, so the log tails we report are readable.
export const childEnv = () => ({ ...process.env, LC_ALL: "C" });
