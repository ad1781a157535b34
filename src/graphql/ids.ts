// Ids as clients send them: a Relay global id of the expected type, or the raw UUID. Anything
// else — another type's id, garbage — is NOT_FOUND, as a foreign id is.
import { decodeGlobalID } from "@pothos/plugin-relay";
import { SpoolError } from "../errors.ts";
import { isUuid } from "../uuid.ts";

export function idOf(typename: string, id: string | number): string {
  const s = String(id);
  if (isUuid(s)) return s.toLowerCase();
  try {
    const { typename: t, id: raw } = decodeGlobalID(s);
    if (t === typename && isUuid(raw)) return raw.toLowerCase();
  } catch {
    // not a global id either
  }
  throw new SpoolError("NOT_FOUND", `No ${typename} ${s} in your organization.`);
}
