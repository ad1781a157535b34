// `spool keys …` and `spool orgs …` as an operator runs them: the real CLI in a child
// process against a test database (DATABASE_URL). The created key authenticates, the
// secret never shows again, a revoked key fails, and bad input gets a clear message and
// a non-zero exit (2 for usage, 1 for failures) without a stack trace.
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authenticate, createApiKey, parseAdminKey, parseKey } from "../../src/services/api-keys.ts";
import { createOrg, createTestDatabase, type TestDb } from "../helpers.ts";

const BIN = fileURLToPath(new URL("../../src/bin.js", import.meta.url));
const KEY = /^spool_[a-z0-9]{16}_[A-Za-z0-9_-]{43}$/;
const STACK = /\n\s+at /;

let db: TestDb;
let dataDir: string;

type Run = { code: number | null; stdout: string; stderr: string };

function spool(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const { SPOOL_ADMIN_KEY: _a, SPOOL_LOG_LEVEL: _l, ...rest } = process.env;
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...rest, DATABASE_URL: db.url, SPOOL_DATA_DIR: dataDir, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  db = await createTestDatabase();
  dataDir = await mkdtemp(path.join(os.tmpdir(), "spool-cli-"));
});
afterAll(async () => {
  await db?.drop();
  await rm(dataDir, { recursive: true, force: true });
});

describe("spool keys", () => {
  it("creates a key that authenticates, lists it without the secret, and revokes it so it fails", async () => {
    const org = await createOrg(db);
    const created = await spool(["keys", "create", "--org", org.slug, "--scopes", "jobs:read,jobs:write", "--name", "ci deploy"]);
    expect(created).toMatchObject({ code: 0 });
    // The key alone on stdout (script-friendly), the details on stderr.
    const key = created.stdout.trimEnd();
    expect(key).toMatch(KEY);
    expect(created.stdout).toBe(`${key}\n`);
    const id = parseKey(key)!.id;
    expect(created.stderr).toContain(`Created key ${id} "ci deploy" for organization ${org.slug} with scopes jobs:read, jobs:write.`);
    expect(created.stderr).toContain("shown once");
    expect(created.stderr).not.toContain("{"); // no log lines by default

    const principal = await authenticate(db.prisma, key);
    expect(principal).toEqual({ keyId: id, organizationId: org.id, scopes: ["jobs:read", "jobs:write"] });

    const secret = parseKey(key)!.secret;
    const [table, json] = await Promise.all([
      spool(["keys", "list", "--org", org.slug]),
      spool(["keys", "list", "--org", org.slug, "--json"]),
    ]);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^ID\s+NAME\s+SCOPES\s+CREATED\s+LAST USED\s+REVOKED$/);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(new RegExp(`^${id}\\s+ci deploy\\s+jobs:read,jobs:write\\s+\\d{4}-\\d\\d-\\d\\dT\\S+Z\\s+\\S+\\s+-$`));
    expect(json.code).toBe(0);
    const listed = JSON.parse(json.stdout);
    expect(listed).toHaveLength(1);
    expect(Object.keys(listed[0]).sort()).toEqual(["createdAt", "id", "lastUsedAt", "name", "organization", "revokedAt", "scopes"]);
    expect(listed[0]).toMatchObject({ id, organization: org.slug, name: "ci deploy", scopes: ["jobs:read", "jobs:write"], createdAt: expect.any(String), revokedAt: null });
    for (const out of [table.stdout, table.stderr, json.stdout, json.stderr]) {
      expect(out).not.toContain(secret);
      expect(out).not.toMatch(/secret|hash/i);
    }

    const revoked = await spool(["keys", "revoke", id]);
    expect(revoked).toMatchObject({ code: 0, stdout: "" });
    expect(revoked.stderr).toContain(`Revoked key ${id} "ci deploy" of organization ${org.slug}`);
    expect(await authenticate(db.prisma, key)).toBeNull();

    // Idempotent: the second revoke succeeds and keeps the first revocation time.
    const { revokedAt } = await db.prisma.apiKey.findUniqueOrThrow({ where: { id } });
    const again = await spool(["keys", "revoke", id, "--org", org.slug, "--json"]);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ id, revokedAt: revokedAt!.toISOString() });
    expect(await authenticate(db.prisma, key)).toBeNull();
  });

  it("--json prints the key with its details; revoke accepts the full key; --org limits revoke to that organization", async () => {
    const [org, other] = await Promise.all([createOrg(db), createOrg(db)]);
    const created = await spool(["keys", "create", "--org", org.slug, "--scopes", "jobs:read, admin,jobs:read", "--json"]);
    expect(created.code).toBe(0);
    const body = JSON.parse(created.stdout);
    expect(body).toMatchObject({ key: expect.stringMatching(KEY), organization: org.slug, scopes: ["jobs:read", "admin"], revokedAt: null });
    expect(body.id).toBe(parseKey(body.key)!.id);

    const foreign = await spool(["keys", "revoke", body.id, "--org", other.slug]);
    expect(foreign.code).toBe(1);
    expect(foreign.stderr).toBe(`spool keys: No API key ${body.id} in organization ${other.slug}. List keys with \`spool keys list --org <slug>\`.\n`);
    expect(await authenticate(db.prisma, body.key)).not.toBeNull();

    const byValue = await spool(["keys", "revoke", body.key]);
    expect(byValue.code).toBe(0);
    expect(await authenticate(db.prisma, body.key)).toBeNull();
  });

  it("needs an existing organization unless --create-org is given; \"default\" always exists", async () => {
    const slug = `new-${Date.now().toString(36)}`;
    const missing = await spool(["keys", "create", "--org", slug, "--scopes", "jobs:read"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`spool keys: No organization "${slug}". List them with \`spool orgs list\`; create it with \`spool orgs create --slug ${slug}\` or pass --create-org.\n`);
    expect(await db.prisma.organization.findUnique({ where: { slug } })).toBeNull();

    const [made, dflt] = await Promise.all([
      spool(["keys", "create", "--org", slug, "--create-org", "--scopes", "jobs:read"]),
      spool(["keys", "create", "--org", "default", "--scopes", "keys:manage"]),
    ]);
    expect(made.code).toBe(0);
    expect(dflt.code).toBe(0);
    const org = await db.prisma.organization.findUniqueOrThrow({ where: { slug } });
    expect((await authenticate(db.prisma, made.stdout.trim()))?.organizationId).toBe(org.id);
    const dOrg = await db.prisma.organization.findUniqueOrThrow({ where: { slug: "default" } });
    expect((await authenticate(db.prisma, dflt.stdout.trim()))?.organizationId).toBe(dOrg.id);
  });

  it("generate prints a valid key value without touching a database", async () => {
    const [a, b] = await Promise.all([
      spool(["keys", "generate"], { DATABASE_URL: "postgresql://nobody@127.0.0.1:1/none" }),
      spool(["keys", "generate"], { SPOOL_CONCURRENCY: "lots" }), // an invalid configuration does not matter either
    ]);
    for (const r of [a, b]) {
      expect(r).toMatchObject({ code: 0, stderr: "" });
      expect(r.stdout).toMatch(/^spool_[a-z0-9]{16}_[A-Za-z0-9_-]{43}\n$/);
      expect(() => parseAdminKey(r.stdout.trim())).not.toThrow();
    }
    expect(a.stdout).not.toBe(b.stdout);
  });

  it("refuses bad input with a clear message, exit 2 for usage and 1 for failures, no stack trace", async () => {
    const org = await createOrg(db);
    const cases: Array<[string[], number, string]> = [
      [["keys", "create", "--org", org.slug, "--scopes", "jobs:read,jobs:delete"], 2,
        'spool keys: unknown scope "jobs:delete"; scopes are jobs:read, jobs:write, jobs:cancel, assets:read, assets:write, webhooks:manage, keys:manage, admin\n'],
      [["keys", "create", "--org", org.slug, "--scopes", ","], 2, "spool keys: --scopes needs at least one of "],
      [["keys", "create", "--org", org.slug], 2, "spool keys: missing --scopes <value>\n"],
      [["keys", "create", "--scopes", "jobs:read"], 2, "spool keys: missing --org <value>\n"],
      [["keys", "list"], 2, "spool keys: missing --org <value>\n"],
      [["keys", "list", "--org"], 2, "spool keys: option --org needs a value\n"],
      [["keys", "list", "--org", "No Such Org"], 2, 'spool keys: --org "No Such Org" is not an organization slug'],
      [["keys", "list", "--org", "no-such-org"], 1, 'spool keys: No organization "no-such-org".'],
      [["keys", "list", "--org", org.slug, "--all"], 2, "spool keys: unknown option --all\n"],
      [["keys", "list", "--org", org.slug, "extra"], 2, 'spool keys: unexpected argument "extra"\n'],
      [["keys", "revoke"], 2, "spool keys: missing the id of the key to revoke"],
      [["keys", "revoke", "not-a-key-id"], 2, 'spool keys: "not-a-key-id" is not a key id: expected 16 lowercase letters or digits'],
      [["keys", "revoke", "0123456789abcdef"], 1, "spool keys: No API key 0123456789abcdef."],
      [["keys", "rotate"], 2, 'spool keys: unknown command "rotate"; expected create, list, revoke or generate\n'],
      [["keys"], 2, "spool keys: missing a command: create, list, revoke or generate\n"],
      [["orgs", "create", "--slug", "Bad_Slug"], 2, 'spool orgs: --slug "Bad_Slug" must be lowercase letters'],
      [["orgs", "create", "--slug", org.slug], 1, `spool orgs: An organization with slug "${org.slug}" exists already.\n`],
    ];
    const results = await Promise.all(cases.map(([args]) => spool(args)));
    results.forEach((r, i) => {
      const [args, code, message] = cases[i]!;
      expect({ args, code: r.code, stdout: r.stdout }).toEqual({ args, code, stdout: "" });
      expect(r.stderr.startsWith(message), `${args.join(" ")} → ${r.stderr}`).toBe(true);
      if (code === 2) expect(r.stderr).toMatch(/\nRun `spool (keys|orgs) --help` for usage\.\n$/);
      expect(r.stderr).not.toMatch(STACK);
    });
    expect(await db.prisma.apiKey.count({ where: { organizationId: org.id } })).toBe(0);
  });

  it("explains an unreachable database", async () => {
    const r = await spool(["keys", "list", "--org", "default"], { DATABASE_URL: "postgresql://spool:pw@127.0.0.1:1/spool" });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("Cannot use the database spool at 127.0.0.1:1");
    expect(r.stderr).not.toContain("pw@");
    expect(r.stderr).not.toMatch(STACK);
  });

  it("--help prints the usage on stdout", async () => {
    const r = await spool(["keys", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("usage: spool keys <command>");
    expect(r.stdout).toContain("create --org <slug> --scopes <scope,…>");
  });
});

describe("spool orgs", () => {
  it("creates an organization (its id alone on stdout) and lists it with its active keys", async () => {
    const slug = `acme-${Date.now().toString(36)}`;
    const created = await spool(["orgs", "create", "--slug", slug, "--name", "Acme Inc"]);
    expect(created.code).toBe(0);
    const id = created.stdout.trim();
    expect(created.stdout).toMatch(/^[0-9a-f-]{36}\n$/);
    expect(created.stderr).toContain(`spool keys create --org ${slug}`);
    expect((await db.prisma.organization.findUniqueOrThrow({ where: { slug } })).id).toBe(id);

    await createApiKey(db.prisma, { organizationId: id, name: "k", scopes: ["jobs:read"] });
    const [table, json] = await Promise.all([spool(["orgs", "list"]), spool(["orgs", "list", "--json"])]);
    expect(table.stdout).toMatch(new RegExp(`^${id}\\s+${slug}\\s+Acme Inc\\s+\\S+\\s+1$`, "m"));
    expect(JSON.parse(json.stdout)).toContainEqual({ id, slug, name: "Acme Inc", createdAt: expect.any(String), activeKeys: 1 });
  });
});
