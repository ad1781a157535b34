// Is this error the database being away (down, restarting, refusing connections), rather
// than a bad query? Such a failure is UNAVAILABLE to a client — try again — not a masked
// INTERNAL_SERVER_ERROR, which says the server is broken.

/** Node's socket errors on the way to Postgres. */
const SOCKET_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "ENOTFOUND", "EAI_AGAIN"]);
/** Postgres: admin_shutdown, crash_shutdown, cannot_connect_now. */
const SERVER_CODES = new Set(["57P01", "57P02", "57P03"]);
/** Prisma: can't reach the server, timed out, closed the connection, pool timeout. */
const PRISMA_CODES = new Set(["P1001", "P1002", "P1008", "P1017", "P2024"]);

export function isDatabaseUnreachable(error: unknown): boolean {
  for (let e = error as { code?: unknown; message?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    const code = typeof e.code === "string" ? e.code : "";
    // SQLSTATE class 08: connection exceptions.
    if (SOCKET_CODES.has(code) || SERVER_CODES.has(code) || PRISMA_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code)) return true;
    // pg's own words when the backend went away mid-query.
    if (typeof e.message === "string" && /^Connection terminated/.test(e.message)) return true;
  }
  return false;
}
