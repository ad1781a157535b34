// `spool orgs …`: create and list organizations (tenants) from the shell.
import { createOrganization, SLUG_FORMAT } from "../services/organizations.ts";
import { iso, parse, printJson, printTable, required, runSubcommand, UsageError, withDatabase } from "./common.ts";

const ORGS_USAGE = `usage: spool orgs <command>

  create --slug <slug> [--name <name>] [--json]
      Create an organization. Prints its id alone on stdout (details go to stderr).
      The slug is lowercase letters, digits and dashes; the name defaults to the slug.
  list [--json]
      All organizations: id, slug, name, created, active keys.

Then give it a key: spool keys create --org <slug> --scopes jobs:read,jobs:write
Exit status: 0 done, 1 failed, 2 bad usage.
`;

export function runOrgs(argv: string[]): Promise<number> {
  return runSubcommand("orgs", ORGS_USAGE, argv, { create, list });
}

async function create(args: string[]) {
  const { values } = parse(args, { slug: { type: "string" }, name: { type: "string" }, json: { type: "boolean" } });
  const slug = required(values.slug, "--slug");
  if (!SLUG_FORMAT.test(slug)) throw new UsageError(`--slug "${slug}" must be lowercase letters, digits and dashes (1 to 64), not starting or ending with a dash`);
  const name = values.name === undefined ? slug : required(values.name, "--name");
  if (name.length > 200) throw new UsageError("--name must be 1 to 200 characters");
  await withDatabase(async ({ prisma }) => {
    const org = await createOrganization(prisma, { slug, name });
    if (values.json) {
      printJson({ id: org.id, slug: org.slug, name: org.name, createdAt: org.createdAt });
      return;
    }
    process.stdout.write(`${org.id}\n`);
    process.stderr.write(`Created organization ${org.slug} ("${org.name}"). Give it a key: spool keys create --org ${org.slug} --scopes jobs:read,jobs:write\n`);
  });
}

async function list(args: string[]) {
  const { values } = parse(args, { json: { type: "boolean" } });
  await withDatabase(async ({ prisma }) => {
    const orgs = await prisma.organization.findMany({
      orderBy: { createdAt: "asc" },
      include: { _count: { select: { apiKeys: { where: { revokedAt: null } } } } },
    });
    const rows = orgs.map((o) => ({ id: o.id, slug: o.slug, name: o.name, createdAt: o.createdAt, activeKeys: o._count.apiKeys }));
    if (values.json) {
      printJson(rows);
      return;
    }
    printTable(["ID", "SLUG", "NAME", "CREATED", "ACTIVE KEYS"], rows.map((o) => [o.id, o.slug, o.name, iso(o.createdAt), String(o.activeKeys)]));
  });
}
