// `spool keys …`: create, list and revoke an organization's API keys from the shell, and
// generate a key value for SPOOL_ADMIN_KEY. The same services as the GraphQL mutations;
// the CLI stands for the operator, so it may grant any scope, `admin` included.
import type { PrismaClient } from "../generated/prisma/client.ts";
import { SpoolError } from "../errors.ts";
import {
  createApiKey, DEFAULT_ORGANIZATION_SLUG, generateKeyValue, listApiKeys, parseKey, revokeApiKey, SCOPES,
} from "../services/api-keys.ts";
import { createOrganization, ensureOrganization, SLUG_FORMAT } from "../services/organizations.ts";
import { iso, parse, printJson, printTable, required, runSubcommand, UsageError, withDatabase } from "./common.ts";

const KEYS_USAGE = `usage: spool keys <command>

  create --org <slug> --scopes <scope,…> [--name <name>] [--create-org] [--json]
      Create a key. Prints the key alone on stdout, once (details go to stderr);
      --json prints the key and its details as JSON instead. The organization must
      exist (see \`spool orgs\`) unless --create-org is given; "default" always exists.
  list --org <slug> [--json]
      The organization's keys: id, name, scopes, created, last used, revoked.
      Never the secret.
  revoke <id> [--org <slug>] [--json]
      Revoke a key: it fails on its next request. Revoking a revoked key is fine.
      With --org, only a key of that organization is revoked.
  generate
      Print a fresh key value to use as SPOOL_ADMIN_KEY (no database needed).

scopes: ${SCOPES.join(", ")}

The database is the one \`spool serve\` uses: DATABASE_URL, else the embedded Postgres
under SPOOL_DATA_DIR. Exit status: 0 done, 1 failed, 2 bad usage.
`;

const KEY_ID = /^[a-z0-9]{16}$/;

/** --org's slug, checked before any I/O so a typo is a usage error. */
function orgSlug(value: string | boolean | undefined): string {
  const slug = required(value, "--org");
  if (!SLUG_FORMAT.test(slug)) throw new UsageError(`--org "${slug}" is not an organization slug: lowercase letters, digits and dashes (see \`spool orgs list\`)`);
  return slug;
}

export function runKeys(argv: string[]): Promise<number> {
  return runSubcommand("keys", KEYS_USAGE, argv, { create, list, revoke, generate });
}

/** Scopes from "a,b, c": every one known, at least one. */
function scopesFrom(value: string): string[] {
  const scopes = value.split(",").map((s) => s.trim()).filter(Boolean);
  const unknown = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
  if (unknown.length > 0) throw new UsageError(`unknown scope${unknown.length > 1 ? "s" : ""} ${unknown.map((s) => `"${s}"`).join(", ")}; scopes are ${SCOPES.join(", ")}`);
  if (scopes.length === 0) throw new UsageError(`--scopes needs at least one of ${SCOPES.join(", ")}`);
  return scopes;
}

/** The organization with `slug`; "default" is created on demand, as serve's bootstrap does. */
async function organizationBySlug(prisma: PrismaClient, slug: string, opts: { create?: boolean } = {}) {
  if (slug === DEFAULT_ORGANIZATION_SLUG) return ensureOrganization(prisma, slug, "Default organization");
  const org = await prisma.organization.findUnique({ where: { slug } });
  if (org) return org;
  if (!opts.create) {
    throw new SpoolError("NOT_FOUND", `No organization "${slug}". List them with \`spool orgs list\`; create it with \`spool orgs create --slug ${slug}\` or pass --create-org.`);
  }
  return createOrganization(prisma, { slug, name: slug }).catch(async (err) => {
    // Created meanwhile by someone else: use theirs.
    if (err instanceof SpoolError && err.code === "CONFLICT") return prisma.organization.findUniqueOrThrow({ where: { slug } });
    throw err;
  });
}

const keyJson = (k: { id: string; name: string; scopes: string[]; createdAt: Date; lastUsedAt: Date | null; revokedAt: Date | null }, organization: string) => ({
  id: k.id, organization, name: k.name, scopes: k.scopes, createdAt: k.createdAt, lastUsedAt: k.lastUsedAt, revokedAt: k.revokedAt,
});

async function create(args: string[]) {
  const { values } = parse(args, {
    org: { type: "string" }, scopes: { type: "string" }, name: { type: "string" },
    "create-org": { type: "boolean" }, json: { type: "boolean" },
  });
  const slug = orgSlug(values.org);
  const scopes = scopesFrom(required(values.scopes, "--scopes"));
  const name = values.name?.trim() ?? `cli ${new Date().toISOString().slice(0, 10)}`;
  if (name.length === 0 || name.length > 100) throw new UsageError("--name must be 1 to 100 characters");

  await withDatabase(async ({ prisma }) => {
    const org = await organizationBySlug(prisma, slug, { create: values["create-org"] });
    const { apiKey, key } = await createApiKey(prisma, { organizationId: org.id, name, scopes });
    if (values.json) {
      printJson({ key, ...keyJson(apiKey, org.slug) });
      return;
    }
    process.stdout.write(`${key}\n`);
    process.stderr.write(`Created key ${apiKey.id} "${apiKey.name}" for organization ${org.slug} with scopes ${apiKey.scopes.join(", ")}.\nThe key above is shown once: store it now.\n`);
  });
}

async function list(args: string[]) {
  const { values } = parse(args, { org: { type: "string" }, json: { type: "boolean" } });
  const slug = orgSlug(values.org);
  await withDatabase(async ({ prisma }) => {
    const org = await organizationBySlug(prisma, slug);
    const keys = await listApiKeys(prisma, org.id);
    if (values.json) {
      printJson(keys.map((k) => keyJson(k, org.slug)));
      return;
    }
    printTable(
      ["ID", "NAME", "SCOPES", "CREATED", "LAST USED", "REVOKED"],
      keys.map((k) => [k.id, k.name, k.scopes.join(","), iso(k.createdAt), iso(k.lastUsedAt), iso(k.revokedAt)]),
    );
  });
}

async function revoke(args: string[]) {
  const { values, positionals } = parse(args, { org: { type: "string" }, json: { type: "boolean" } }, 1);
  const given = positionals[0];
  if (!given) throw new UsageError("missing the id of the key to revoke (see `spool keys list`)");
  // A full key is accepted too: revoking a leaked key by its value is the urgent case.
  const id = parseKey(given)?.id ?? given;
  if (!KEY_ID.test(id)) throw new UsageError(`"${given}" is not a key id: expected 16 lowercase letters or digits (see \`spool keys list\`)`);
  const slug = values.org === undefined ? undefined : orgSlug(values.org);

  await withDatabase(async ({ prisma }) => {
    const org = slug === undefined ? null : await organizationBySlug(prisma, slug);
    const found = await prisma.apiKey.findFirst({ where: { id, ...(org ? { organizationId: org.id } : {}) }, include: { organization: true } });
    if (!found) throw new SpoolError("NOT_FOUND", `No API key ${id}${org ? ` in organization ${org.slug}` : ""}. List keys with \`spool keys list --org <slug>\`.`);
    const revoked = await revokeApiKey(prisma, found.organizationId, id);
    if (values.json) {
      printJson(keyJson(revoked, found.organization.slug));
      return;
    }
    const what = `key ${id} "${found.name}" of organization ${found.organization.slug}`;
    process.stderr.write(found.revokedAt ? `The ${what} was revoked already, at ${iso(found.revokedAt)}.\n` : `Revoked ${what}; it fails on its next request.\n`);
  });
}

async function generate(args: string[]) {
  parse(args, {});
  process.stdout.write(`${generateKeyValue()}\n`);
}
