// Organizations: every row in Spool belongs to one.
import type { PrismaClient } from "../generated/prisma/client.ts";
import { SpoolError } from "../errors.ts";

/** Lowercase letters, digits and dashes, 1 to 64, no dash at either end. */
export const SLUG_FORMAT = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;

export async function createOrganization(prisma: PrismaClient, input: { name: string; slug: string }) {
  const name = input.name.trim();
  if (name.length === 0 || name.length > 200) throw new SpoolError("INVALID_INPUT", "name must be 1 to 200 characters.");
  if (!SLUG_FORMAT.test(input.slug)) throw new SpoolError("INVALID_INPUT", "slug must be lowercase letters, digits and dashes (1 to 64).");
  const existing = await prisma.organization.findUnique({ where: { slug: input.slug } });
  if (existing) throw new SpoolError("CONFLICT", `An organization with slug "${input.slug}" exists already.`);
  return prisma.organization.create({ data: { name, slug: input.slug } });
}

/** The organization with `slug`, created if missing (bootstrap, tests, CLI). */
export function ensureOrganization(prisma: PrismaClient, slug: string, name = slug) {
  return prisma.organization.upsert({ where: { slug }, update: {}, create: { slug, name } });
}
