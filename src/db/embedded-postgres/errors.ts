// The errors the embedded PostgreSQL fails with, each a code plus a message that says what to do
// (the fix, and the way out: a PostgreSQL server of one's own).

export type EmbeddedPostgresErrorCode = "DATA_DIR_UNUSABLE" | "PORT_BUSY" | "START_FAILED" | "UNSUPPORTED_PLATFORM";

export class EmbeddedPostgresError extends Error {
  override name = "EmbeddedPostgresError";
  code: EmbeddedPostgresErrorCode;
  constructor(code: EmbeddedPostgresErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** Ends every message that has a fix: the user can always use a database of their own instead. */
export const FIX_ELSEWHERE = "or set DATABASE_URL to use a PostgreSQL server of your own";

export const unusable = (msg: string, cause?: unknown) =>
  new EmbeddedPostgresError("DATA_DIR_UNUSABLE", msg, cause === undefined ? undefined : { cause });

/** The end of initdb's output or postgres' log: where the reason for a failure is. */
export function lastLines(text: string, n = 20): string {
  return text.trim().split("\n").slice(-n).join("\n");
}
