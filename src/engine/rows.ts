// Maps `jobs` rows (snake_case, from pg or Prisma raw) to the engine's Job shape.
import type { Job } from "./types.ts";

export function toJob(r: Record<string, any>): Job {
  return {
    id: r.id,
    organizationId: r.organization_id,
    type: r.type,
    status: r.status,
    priority: r.priority,
    input: r.input,
    result: r.result ?? null,
    error: r.error ?? null,
    metadata: r.metadata ?? {},
    progress: Number(r.progress),
    stage: r.stage ?? null,
    attempts: r.attempts,
    maxAttempts: r.max_attempts,
    runAt: r.run_at,
    leaseExpiresAt: r.lease_expires_at ?? null,
    lockedBy: r.locked_by ?? null,
    parentId: r.parent_id ?? null,
    idempotencyKey: r.idempotency_key ?? null,
    createdAt: r.created_at,
    startedAt: r.started_at ?? null,
    finishedAt: r.finished_at ?? null,
    updatedAt: r.updated_at,
  };
}

/** JSON with object keys sorted, so two equal values give the same string (jsonb drops key order). */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]]))
      : v,
  );
}
