// GraphQL input → job input: a field the client left out or set to null is dropped (at any
// depth), so the job type's zod defaults apply instead of a null it would refuse.
export function withoutNulls(input: Record<string, unknown>): Record<string, unknown> {
  const clean = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(clean) : v && typeof v === "object" && !(v instanceof Date) ? withoutNulls(v as Record<string, unknown>) : v;
  return Object.fromEntries(Object.entries(input).filter(([, v]) => v != null).map(([k, v]) => [k, clean(v)]));
}
