// API keys: `spool_<id>_<secret>`. The id is public (it names the key in lists and logs);
// the secret is 32 random bytes shown once and stored only as sha256 — a random 256-bit
// secret needs no slow hash, and a fast one keeps authentication off the hot path.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { PrismaClient } from "../generated/prisma/client.ts";
import { SpoolError } from "../errors.ts";
import { ensureOrganization } from "./organizations.ts";

export const SCOPES = ["jobs:read", "jobs:write", "jobs:cancel", "assets:read", "assets:write", "webhooks:manage", "keys:manage", "admin"] as const;
export type Scope = (typeof SCOPES)[number];

const KEY_FORMAT = /^spool_([a-z0-9]{16})_([A-Za-z0-9_-]{43})$/;
const LAST_USED_RESOLUTION_MS = 60_000;

export type Principal = { keyId: string; organizationId: string; scopes: Scope[] };

function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

function newKeyParts() {
  return { id: randomBytes(10).toString("hex").slice(0, 16), secret: randomBytes(32).toString("base64url") };
}

export function parseKey(key: string): { id: string; secret: string } | null {
  const m = KEY_FORMAT.exec(key);
  return m ? { id: m[1]!, secret: m[2]! } : null;
}

export function validateScopes(scopes: readonly string[]): Scope[] {
  const unknown = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
  if (unknown.length > 0 || scopes.length === 0) {
    throw new SpoolError("INVALID_INPUT", `Scopes must be one or more of ${SCOPES.join(", ")}${unknown.length ? `; unknown: ${unknown.join(", ")}` : ""}.`);
  }
  return [...new Set(scopes)] as Scope[];
}

/** Creates a key; the full key is in the result and nowhere else, ever. */
export async function createApiKey(prisma: PrismaClient, input: { organizationId: string; name: string; scopes: readonly string[] }) {
  const scopes = validateScopes(input.scopes);
  const name = input.name.trim();
  if (name.length === 0 || name.length > 100) throw new SpoolError("INVALID_INPUT", "A key's name must be 1 to 100 characters.");
  const { id, secret } = newKeyParts();
  const apiKey = await prisma.apiKey.create({ data: { id, organizationId: input.organizationId, name, scopes, secretHash: hashSecret(secret) } });
  return { apiKey, key: `spool_${id}_${secret}` };
}

/** The principal a key stands for, or null for a malformed, unknown or revoked key. */
export async function authenticate(prisma: PrismaClient, key: string): Promise<Principal | null> {
  const parts = parseKey(key);
  if (!parts) return null;
  const row = await prisma.apiKey.findUnique({ where: { id: parts.id } });
  if (!row || row.revokedAt) return null;
  const given = Buffer.from(hashSecret(parts.secret), "hex");
  if (!timingSafeEqual(given, Buffer.from(row.secretHash, "hex"))) return null;
  if (!row.lastUsedAt || Date.now() - row.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
    // Best effort and coarse: a write per key per minute, not per request.
    void prisma.apiKey.update({ where: { id: row.id }, data: { lastUsedAt: new Date() } }).catch(() => undefined);
  }
  return { keyId: row.id, organizationId: row.organizationId, scopes: row.scopes as Scope[] };
}

export async function listApiKeys(prisma: PrismaClient, organizationId: string) {
  return prisma.apiKey.findMany({ where: { organizationId }, orderBy: { createdAt: "asc" } });
}

/** Revokes a key of the organization; the key fails on its next request. */
export async function revokeApiKey(prisma: PrismaClient, organizationId: string, id: string) {
  const row = await prisma.apiKey.findFirst({ where: { id, organizationId } });
  if (!row) throw new SpoolError("NOT_FOUND", `No API key ${id} in your organization.`);
  if (row.revokedAt) return row;
  return prisma.apiKey.update({ where: { id }, data: { revokedAt: new Date() } });
}

export const DEFAULT_ORGANIZATION_SLUG = "default";

/** SPOOL_ADMIN_KEY's parts; INVALID_INPUT, saying how to make a good one, if malformed. */
export function parseAdminKey(value: string): { id: string; secret: string } {
  const parts = parseKey(value);
  if (!parts) throw new SpoolError("INVALID_INPUT", "SPOOL_ADMIN_KEY must look like spool_<16 lowercase letters or digits>_<43 base64url characters>; generate one with `spool keys generate`.");
  return parts;
}

/**
 * Makes sure an admin key exists at start. With SPOOL_ADMIN_KEY, a key with exactly that
 * value exists afterwards (created, or its hash updated). Without it, the first start
 * generates one, writes it to $SPOOL_DATA_DIR/admin-key (0600) and returns it so it can
 * be printed once; later starts find the file and return nothing.
 */
export async function bootstrapAdminKey(prisma: PrismaClient, opts: { adminKey?: string; dataDir: string }): Promise<{ key: string; file: string } | null> {
  const org = await ensureOrganization(prisma, DEFAULT_ORGANIZATION_SLUG, "Default organization");
  const allScopes = [...SCOPES];
  if (opts.adminKey) {
    const parts = parseAdminKey(opts.adminKey);
    await prisma.apiKey.upsert({
      where: { id: parts.id },
      update: { secretHash: hashSecret(parts.secret), revokedAt: null, scopes: allScopes, organizationId: org.id },
      create: { id: parts.id, organizationId: org.id, name: "admin (SPOOL_ADMIN_KEY)", scopes: allScopes, secretHash: hashSecret(parts.secret) },
    });
    return null;
  }
  const file = path.join(opts.dataDir, "admin-key");
  const existing = await readFile(file, "utf8").then((s) => s.trim(), () => null);
  if (existing && (await authenticate(prisma, existing))) return null;
  const { key } = await createApiKey(prisma, { organizationId: org.id, name: "admin (generated)", scopes: allScopes });
  await mkdir(opts.dataDir, { recursive: true });
  await writeFile(file, `${key}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return { key, file };
}

/** A fresh key value in the accepted format, for SPOOL_ADMIN_KEY. */
export function generateKeyValue(): string {
  const { id, secret } = newKeyParts();
  return `spool_${id}_${secret}`;
}
