// What a UUID looks like as text, in one place. Every Spool id is a UUID (gen_random_uuid());
// a string that is not one is answered (NOT_FOUND, or ignored) before it reaches a query,
// where Postgres would refuse it with "invalid input syntax for type uuid", an internal error.
// Either case: clients may send upper case; Postgres prints lower case.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: unknown): value is string {
  return typeof value === "string" && UUID.test(value);
}
