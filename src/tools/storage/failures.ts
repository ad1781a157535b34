// The errors both backends throw, worded the same way whichever backend failed.
import { SpoolError } from "../../errors.ts";

/** A backend failure, named by backend and operation; `cause` keeps the original for logs. */
export function storageFailed(backend: "local" | "s3", operation: string, key: string | null, err: unknown): SpoolError {
  const e = err as { name?: string; code?: string; message?: string } | null | undefined;
  const what = e?.code ?? e?.name ?? "Error";
  const detail = !e?.message ? what : e.message.startsWith(what) ? e.message : `${what}: ${e.message}`;
  const error = new SpoolError(
    "STORAGE_FAILED",
    `${backend} storage: ${operation}${key ? ` of ${key}` : ""} failed (${detail}).`,
    { backend, operation },
  );
  error.cause = err;
  return error;
}

export function notFound(key: string): SpoolError {
  return new SpoolError("NOT_FOUND", `No stored object ${key}.`);
}
