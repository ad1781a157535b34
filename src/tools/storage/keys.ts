// Storage keys, list prefixes and byte ranges, checked by both backends. Keys are always made
// by Spool, but they are checked anyway: a key reaches a filesystem path or a bucket, and a bug
// upstream must not turn into a path traversal.
import { SpoolError } from "../../errors.ts";

const MAX_KEY_LENGTH = 512;

/** The local backend stages writes in `<root>/.tmp`, so no key may live there. */
export const RESERVED_SEGMENT = ".tmp";

const SEGMENT = /^[A-Za-z0-9._-]+$/;

function keyProblem(key: string): string | null {
  if (typeof key !== "string" || key.length === 0) return "it is empty";
  if (key.length > MAX_KEY_LENGTH) return `it is longer than ${MAX_KEY_LENGTH} characters`;
  const segments = key.split("/");
  for (const s of segments) {
    if (s === "") return "it has an empty segment (a leading, trailing or doubled /)";
    if (s === "." || s === "..") return "it has a . or .. segment";
    if (!SEGMENT.test(s)) return "segments may hold only letters, digits, '.', '_' and '-'";
  }
  if (segments[0] === RESERVED_SEGMENT) return `${RESERVED_SEGMENT}/ is reserved`;
  return null;
}

export function isValidKey(key: string): boolean {
  return keyProblem(key) === null;
}

/** Throws SpoolError("INVALID_INPUT") unless `key` is a well-formed storage key. */
export function assertValidKey(key: string): void {
  const problem = keyProblem(key);
  // The key itself is echoed only when it is short: it may be garbage of any size.
  if (problem) throw new SpoolError("INVALID_INPUT", `Invalid storage key${typeof key === "string" && key.length <= 100 ? ` ${JSON.stringify(key)}` : ""}: ${problem}.`);
}

/**
 * A list prefix is "" or a key with an optional trailing "/" (its last segment may be
 * partial: "orgs/ab" matches "orgs/abc/..."). Throws INVALID_INPUT otherwise.
 */
export function assertValidPrefix(prefix: string): void {
  if (prefix === "") return;
  assertValidKey(prefix.endsWith("/") ? prefix.slice(0, -1) : prefix);
}

/** Inclusive range checks shared by both backends; `size` is the object's size. */
export function checkRange(key: string, range: { start: number; end?: number }, size?: number): void {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || start < 0 || (end !== undefined && (!Number.isSafeInteger(end) || end < start))) {
    throw new SpoolError("INVALID_INPUT", `Invalid byte range ${start}-${end ?? ""}: start and end are integers with 0 <= start <= end.`);
  }
  if (size !== undefined && start >= size) {
    throw new SpoolError("INVALID_INPUT", `Byte range starts at ${start} but ${key} holds ${size} bytes.`, { size });
  }
}
