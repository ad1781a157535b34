// Error masking: expected failures (SpoolError) reach the client with their stable code in
// extensions.code and a message that says what to do; anything else is masked as
// INTERNAL_SERVER_ERROR and logged.
//
// Errors are recognised by shape, not `instanceof GraphQLError`: graphql 16 ships a CJS and
// an ESM build, and yoga/Pothos may hold the other one's class (the dual-package hazard).
import { createGraphQLError } from "graphql-yoga";
import type { Logger } from "../log.ts";
import { isDatabaseUnreachable } from "../db/unreachable.ts";
import { SpoolError } from "../errors.ts";

type Wrapped = { originalError?: unknown; path?: readonly (string | number)[]; name?: string; message?: string; extensions?: Record<string, unknown> };

/** The innermost error behind GraphQL's wrappers. */
function innermost(error: unknown): unknown {
  let e = error as Wrapped | undefined;
  while (e && typeof e === "object" && e.originalError) e = e.originalError as Wrapped;
  return e;
}

/**
 * Prisma's "record not found": node(id:) of another organization's object, whose load is
 * scoped to the caller's organization, fails with it.
 */
function isRecordNotFound(error: unknown): boolean {
  return (error as { code?: unknown } | undefined)?.code === "P2025";
}

/** The stable code of an expected failure behind `error`, or null for an unexpected one. */
export function expectedCode(error: unknown): string | null {
  const original = innermost(error);
  if (original instanceof SpoolError) return original.code;
  if (isRecordNotFound(original)) return "NOT_FOUND";
  if (original !== error && (original as { name?: string } | undefined)?.name === "GraphQLError") return "INVALID_INPUT";
  const code = (error as { extensions?: { code?: unknown } } | undefined)?.extensions?.code;
  return typeof code === "string" && code !== "INTERNAL_SERVER_ERROR" ? code : null;
}

export function maskError(log: Logger) {
  return (error: unknown, message: string): Error => {
    const wrapper = error as Wrapped;
    const original = innermost(error);
    if (original instanceof SpoolError) {
      return createGraphQLError(original.message, {
        path: wrapper.path,
        extensions: { code: original.code, ...(original.details ? { details: original.details } : {}) },
      });
    }
    // The NOT_FOUND every foreign id answers.
    if (isRecordNotFound(original)) {
      return createGraphQLError("Not found in your organization.", { path: wrapper.path, extensions: { code: "NOT_FOUND" } });
    }
    // Parse and validation errors (limits included) are the client's: shown as they are.
    if (wrapper?.name === "GraphQLError" && !wrapper.originalError) return error as Error;
    // So is a variable that does not fit its type (an unknown enum value, a string for an
    // Int): graphql wraps the scalar's or enum's own GraphQLError.
    if ((original as { name?: string } | undefined)?.name === "GraphQLError") {
      return createGraphQLError(wrapper.message ?? message, { path: wrapper.path, extensions: { code: "INVALID_INPUT" } });
    }
    const requestId = wrapper?.extensions?.requestId as string | undefined;
    // The database went away mid-request (after the key was checked): the client should
    // try again, and the log says why once, without a stack for each query.
    if (isDatabaseUnreachable(original)) {
      log.warn({ err: String(original), path: wrapper?.path, requestId }, "database unreachable during a GraphQL operation");
      return createGraphQLError("The database is unreachable. Try again in a few seconds.", { path: wrapper?.path, extensions: { code: "UNAVAILABLE", ...(requestId ? { requestId } : {}) } });
    }
    log.error({ err: original, path: wrapper?.path, requestId }, "unexpected error in a GraphQL operation");
    return createGraphQLError(message, { path: wrapper?.path, extensions: { code: "INTERNAL_SERVER_ERROR", ...(requestId ? { requestId } : {}) } });
  };
}
