// The jobs API through yoga.fetch: submit, read, list, cancel, retry, metrics, job types,
// stable error codes, tenancy on every root field, request ids and document limits.
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../src/engine/engine.ts";
import { createTestDatabase, log, type TestDb } from "../helpers.ts";
import { createTestApi, type Api } from "./api-helpers.ts";

let db: TestDb;
let api: Api;
let a: { key: string; org: { id: string } };
let b: { key: string; org: { id: string } };

const SUBMIT = `mutation($input: SubmitJobInput!) { submitJob(input: $input) { created job { id type status priority progress attempts maxAttempts input metadata createdAt } } }`;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await createTestApi(db);
  a = await api.tenant();
  b = await api.tenant();
});
afterAll(async () => {
  await api.close();
  await db.drop();
});

const code = (r: { errors?: Array<{ extensions?: { code?: string } }> }) => r.errors?.[0]?.extensions?.code;

describe("submitting and reading jobs", () => {
  it("submits a job, reads it by global id and raw id, and lists it with totalCount", async () => {
    const sub = await api.gql(SUBMIT, { input: { type: "system.cleanup", input: { maxAgeSeconds: 3600, dryRun: true }, priority: "HIGH", metadata: { order: "o-1" } } }, a.key);
    expect(sub.errors).toBeUndefined();
    const job = sub.data.submitJob.job;
    expect(sub.data.submitJob.created).toBe(true);
    expect(job).toMatchObject({ type: "system.cleanup", status: "QUEUED", priority: "HIGH", progress: 0, attempts: 0, maxAttempts: 3, metadata: { order: "o-1" } });
    expect(job.input).toEqual({ maxAgeSeconds: 3600, dryRun: true, batchSize: 500, orphanGraceSeconds: 3600 });
    expect(Buffer.from(job.id, "base64").toString()).toMatch(/^Job:[0-9a-f-]{36}$/);

    const byGlobal = await api.gql(`query($id: ID!) { job(id: $id) { id status } node(id: $id) { id ... on Job { type } } }`, { id: job.id }, a.key);
    expect(byGlobal.data).toEqual({ job: { id: job.id, status: "QUEUED" }, node: { id: job.id, type: "system.cleanup" } });
    const raw = Buffer.from(job.id, "base64").toString().slice(4);
    expect((await api.gql(`query($id: ID!) { job(id: $id) { id } }`, { id: raw }, a.key)).data.job.id).toBe(job.id);

    const list = await api.gql(`{ jobs(first: 10, filter: { status: [QUEUED], metadata: { order: "o-1" } }) { totalCount edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }`, {}, a.key);
    expect(list.data.jobs.totalCount).toBe(1);
    expect(list.data.jobs.edges[0].node.id).toBe(job.id);
  });

  it("runs the job and shows its result, events and metrics", async () => {
    const { data } = await api.gql(SUBMIT, { input: { type: "system.cleanup", input: { maxAgeSeconds: 1 } } }, a.key);
    await new Engine({ pool: db.pool, registry: api.registry, log, concurrency: 4 }).drain();
    const r = await api.gql(`query($id: ID!) { job(id: $id) { status progress result startedAt finishedAt events(first: 20) { totalCount edges { node { kind status stage } } } } metrics { total { succeeded total successRate avgProcessingMs } byType { type succeeded } } }`, { id: data.submitJob.job.id }, a.key);
    expect(r.errors).toBeUndefined();
    expect(r.data.job).toMatchObject({ status: "SUCCEEDED", progress: 1, result: { dryRun: false } });
    expect(r.data.job.events.edges.map((e: any) => e.node.kind)).toContain("STAGE");
    expect(r.data.job.events.edges.filter((e: any) => e.node.kind === "STATUS").map((e: any) => e.node.status)).toEqual(["QUEUED", "RUNNING", "SUCCEEDED"]);
    expect(r.data.metrics.total.succeeded).toBeGreaterThanOrEqual(1);
    expect(r.data.metrics.total.successRate).toBe(1);
    expect(r.data.metrics.byType).toContainEqual(expect.objectContaining({ type: "system.cleanup" }));
  });

  it("lists job types with their input JSON Schema", async () => {
    const r = await api.gql(`{ jobTypes { type description inputSchema maxAttempts } }`, {}, a.key);
    const cleanup = r.data.jobTypes.find((t: any) => t.type === "system.cleanup");
    expect(cleanup.inputSchema).toMatchObject({ type: "object", required: ["maxAgeSeconds"], properties: { maxAgeSeconds: { type: "integer" } } });
  });

  it("cancels and retries through mutations", async () => {
    const { data } = await api.gql(SUBMIT, { input: { type: "system.cleanup", input: { maxAgeSeconds: 1 }, runAt: new Date(Date.now() + 3600_000).toISOString() } }, a.key);
    const id = data.submitJob.job.id;
    const c = await api.gql(`mutation($id: ID!) { cancelJob(input: { id: $id }) { job { status finishedAt } } }`, { id }, a.key);
    expect(c.data.cancelJob.job.status).toBe("CANCELLED");
    // Cancelling twice is idempotent: the same CANCELLED job, no error.
    const twice = await api.gql(`mutation($id: ID!) { cancelJob(input: { id: $id }) { job { status } } }`, { id }, a.key);
    expect(twice.errors).toBeUndefined();
    expect(twice.data.cancelJob.job.status).toBe("CANCELLED");
    const r = await api.gql(`mutation($id: ID!) { retryJob(input: { id: $id }) { job { status maxAttempts } } }`, { id }, a.key);
    expect(r.data.retryJob.job.status).toBe("QUEUED");
  });
});

describe("errors carry stable codes", () => {
  it("UNAUTHENTICATED without a key or with a bad one; FORBIDDEN without the scope", async () => {
    expect(code(await api.gql(`{ jobs(first: 1) { totalCount } }`))).toBe("UNAUTHENTICATED");
    expect(code(await api.gql(`{ jobs(first: 1) { totalCount } }`, {}, "spool_0000000000000000_" + "x".repeat(43)))).toBe("UNAUTHENTICATED");
    const readOnly = await api.keyFor(a.org.id, ["jobs:read"]);
    expect(code(await api.gql(SUBMIT, { input: { type: "system.cleanup", input: { maxAgeSeconds: 1 } } }, readOnly))).toBe("FORBIDDEN");
  });

  it("INVALID_INPUT for input failing the type's schema or an unknown type, and nothing is stored", async () => {
    const before = (await db.pool.query(`select count(*)::int as n from jobs`)).rows[0].n;
    const bad = await api.gql(SUBMIT, { input: { type: "system.cleanup", input: { maxAgeSeconds: "soon" } } }, a.key);
    expect(code(bad)).toBe("INVALID_INPUT");
    expect(bad.errors![0]!.message).toMatch(/maxAgeSeconds/);
    expect(code(await api.gql(SUBMIT, { input: { type: "video.nope", input: {} } }, a.key))).toBe("INVALID_INPUT");
    expect((await db.pool.query(`select count(*)::int as n from jobs`)).rows[0].n).toBe(before);
  });

  it("CONFLICT for a reused idempotency key with another input", async () => {
    const input = { type: "system.cleanup", input: { maxAgeSeconds: 10 }, idempotencyKey: "k-1" };
    const first = await api.gql(SUBMIT, { input }, a.key);
    const again = await api.gql(SUBMIT, { input }, a.key);
    expect(again.data.submitJob).toMatchObject({ created: false, job: { id: first.data.submitJob.job.id } });
    expect(code(await api.gql(SUBMIT, { input: { ...input, input: { maxAgeSeconds: 11 } } }, a.key))).toBe("CONFLICT");
  });

  it("masks unexpected errors and gives every response a request id", async () => {
    const r = await api.gql(`{ jobs(first: 1) { totalCount } }`, {}, a.key, { "x-request-id": "req-123" });
    expect(r.res.headers.get("x-request-id")).toBe("req-123");
    const r2 = await api.gql(`{ jobs(first: 1) { totalCount } }`, {}, a.key);
    expect(r2.res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);

    // A row the schema cannot represent (a corrupt error object): masked, with the request id.
    const { data } = await api.gql(SUBMIT, { input: { type: "system.cleanup", input: { maxAgeSeconds: 7 } } }, a.key);
    const raw = Buffer.from(data.submitJob.job.id, "base64").toString().slice(4);
    await db.pool.query(`update jobs set error = '{"code": null, "message": "secret internals"}' where id = $1`, [raw]);
    const broken = await api.gql(`query($id: ID!) { job(id: $id) { error { code message } } }`, { id: raw }, a.key, { "x-request-id": "req-broken" });
    expect(broken.errors?.[0]).toMatchObject({ message: "Unexpected error.", extensions: { code: "INTERNAL_SERVER_ERROR", requestId: "req-broken" } });
    expect(JSON.stringify(broken.errors)).not.toContain("secret internals");
    await db.pool.query(`update jobs set error = null where id = $1`, [raw]);
  });

  it("refuses documents past the depth and alias limits", async () => {
    const deep = `{ jobs(first: 1) { edges { node { parent { parent { parent { parent { parent { parent { parent { parent { parent { parent { id } } } } } } } } } } } } } }`;
    expect((await api.gql(deep, {}, a.key)).errors?.[0]?.message).toMatch(/depth/i);
    const aliases = `{ ${Array.from({ length: 30 }, (_, i) => `a${i}: jobTypes { type }`).join(" ")} }`;
    expect((await api.gql(aliases, {}, a.key)).errors?.[0]?.message).toMatch(/alias/i);
  });
});

describe("tenancy", () => {
  it("answers NOT_FOUND for another organization's job on every path, and never lists it", async () => {
    const { data } = await api.gql(SUBMIT, { input: { type: "system.cleanup", input: { maxAgeSeconds: 5 } } }, a.key);
    const id = data.submitJob.job.id;
    expect(code(await api.gql(`query($id: ID!) { job(id: $id) { id } }`, { id }, b.key))).toBe("NOT_FOUND");
    const node = await api.gql(`query($id: ID!) { node(id: $id) { id } }`, { id }, b.key);
    expect(node.data?.node ?? null).toBeNull();
    expect(node.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    expect(code(await api.gql(`mutation($id: ID!) { cancelJob(input: { id: $id }) { job { id } } }`, { id }, b.key))).toBe("NOT_FOUND");
    expect(code(await api.gql(`mutation($id: ID!) { retryJob(input: { id: $id }) { job { id } } }`, { id }, b.key))).toBe("NOT_FOUND");
    const list = await api.gql(`{ jobs(first: 100) { totalCount edges { node { id } } } metrics { total { total } } }`, {}, b.key);
    expect(list.data.jobs.edges.map((e: any) => e.node.id)).not.toContain(id);
    expect(list.data.metrics.total.total).toBe(list.data.jobs.totalCount);
    expect((await api.gql(`query($id: ID!) { job(id: $id) { status } }`, { id }, a.key)).data.job.status).toBe("QUEUED");
  });
});

describe("API keys", () => {
  it("creates a key shown once, and a revoked key fails on its next request", async () => {
    const created = await api.gql(`mutation { createApiKey(input: { name: "ci", scopes: [JOBS_READ] }) { key apiKey { id name scopes revokedAt } } }`, {}, a.key);
    const { key, apiKey } = created.data.createApiKey;
    expect(key).toMatch(/^spool_[a-z0-9]{16}_[A-Za-z0-9_-]{43}$/);
    expect(apiKey).toMatchObject({ name: "ci", scopes: ["JOBS_READ"], revokedAt: null });
    const stored = await db.prisma.apiKey.findUniqueOrThrow({ where: { id: apiKey.id } });
    // The secret (base64url, so it may itself contain "_") is stored only as its sha256.
    const secret = key.slice("spool_".length + 16 + 1);
    expect(secret).toHaveLength(43);
    expect(stored.secretHash).toBe(createHash("sha256").update(secret).digest("hex"));
    expect((await api.gql(`{ viewer { organization { id } scopes } }`, {}, key)).data.viewer).toEqual({ organization: { id: a.org.id }, scopes: ["JOBS_READ"] });

    await api.gql(`mutation($id: ID!) { revokeApiKey(input: { id: $id }) { apiKey { revokedAt } } }`, { id: apiKey.id }, a.key);
    expect(code(await api.gql(`{ viewer { scopes } }`, {}, key))).toBe("UNAUTHENTICATED");
  });

  it("never grants more than the creating key holds, and only admins create organizations", async () => {
    const limited = await api.keyFor(a.org.id, ["keys:manage", "jobs:read"]);
    expect(code(await api.gql(`mutation { createApiKey(input: { name: "x", scopes: [JOBS_WRITE] }) { key } }`, {}, limited))).toBe("FORBIDDEN");
    expect(code(await api.gql(`mutation { createOrganization(input: { name: "N", slug: "n" }) { organization { id } } }`, {}, a.key))).toBe("FORBIDDEN");
    expect(code(await api.gql(`mutation($id: ID!) { revokeApiKey(input: { id: $id }) { apiKey { id } } }`, { id: "nope" }, b.key))).toBe("NOT_FOUND");
  });
});

describe("production switches", () => {
  it("with introspection off, refuses introspection and hides field suggestions; GraphiQL can be off", async () => {
    const { createGraphQLServer } = await import("../../src/server.ts");
    const closed = createGraphQLServer({
      pool: db.pool, prisma: db.prisma, registry: api.registry, log: (await import("../helpers.ts")).log,
      introspection: false, graphiql: false, health: async () => ({ database: "up" }),
    });
    try {
      const post = async (query: string) => {
        const res = await closed.yoga.fetch("http://spool.test/graphql", {
          method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${a.key}` }, body: JSON.stringify({ query }),
        });
        return (await res.json()) as { data?: unknown; errors?: Array<{ message: string }> };
      };
      expect((await post(`{ __schema { types { name } } }`)).errors?.[0]?.message).toMatch(/introspection/i);
      const typo = await post(`{ jobz(first: 1) { totalCount } }`);
      expect(typo.errors?.[0]?.message).not.toMatch(/Did you mean/);
      const page = await closed.yoga.fetch("http://spool.test/graphql", { headers: { accept: "text/html" } });
      expect(page.headers.get("content-type") ?? "").not.toContain("text/html");

      // and with the defaults, both are on
      const open = await api.gql(`{ jobz(first: 1) { totalCount } }`, {}, a.key);
      expect(open.errors?.[0]?.message).toMatch(/Did you mean .*"jobs"/);
      const graphiql = await api.yoga.fetch("http://spool.test/graphql", { headers: { accept: "text/html" } });
      expect(await graphiql.text()).toContain("<title>Spool</title>");
    } finally {
      await closed.close();
    }
  });
});

describe("listing", () => {
  it("filters by type and creation time, pages with first/after, and refuses pages over 100", async () => {
    const t = await api.tenant();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await api.gql(SUBMIT, { input: { type: "system.cleanup", input: { maxAgeSeconds: 100 + i } } }, t.key);
      ids.push(r.data.submitJob.job.id);
    }
    const mid = (await db.pool.query(`select created_at from jobs where id = $1`, [Buffer.from(ids[2]!, "base64").toString().slice(4)])).rows[0].created_at as Date;

    const page1 = await api.gql(`{ jobs(first: 2, filter: { type: ["system.cleanup"] }) { totalCount edges { node { id } } pageInfo { hasNextPage endCursor } } }`, {}, t.key);
    expect(page1.data.jobs.totalCount).toBe(5);
    expect(page1.data.jobs.edges.map((e: any) => e.node.id)).toEqual([ids[4], ids[3]]); // newest first
    expect(page1.data.jobs.pageInfo.hasNextPage).toBe(true);
    const page2 = await api.gql(`query($after: String) { jobs(first: 2, after: $after) { edges { node { id } } } }`, { after: page1.data.jobs.pageInfo.endCursor }, t.key);
    expect(page2.data.jobs.edges.map((e: any) => e.node.id)).toEqual([ids[2], ids[1]]);

    const none = await api.gql(`{ jobs(first: 10, filter: { type: ["video.transcode"] }) { totalCount } }`, {}, t.key);
    expect(none.data.jobs.totalCount).toBe(0);
    const before = await api.gql(`query($t: DateTime) { jobs(first: 10, filter: { createdBefore: $t }) { totalCount } }`, { t: mid.toISOString() }, t.key);
    const after = await api.gql(`query($t: DateTime) { jobs(first: 10, filter: { createdAfter: $t }) { totalCount } }`, { t: mid.toISOString() }, t.key);
    expect(before.data.jobs.totalCount + after.data.jobs.totalCount).toBeLessThanOrEqual(4); // the job at `mid` itself matches neither bound

    expect(code(await api.gql(`{ jobs(first: 500) { totalCount } }`, {}, t.key))).toBe("INVALID_INPUT");
    expect(code(await api.gql(`query($id: ID!) { job(id: $id) { events(first: 101) { totalCount } } }`, { id: ids[0] }, t.key))).toBe("INVALID_INPUT");
    expect(code(await api.gql(`{ jobs(first: 10, filter: { metadata: [1, 2] }) { totalCount } }`, {}, t.key))).toBe("INVALID_INPUT");
  });

  it("accepts the key in X-API-Key as well as Authorization", async () => {
    const res = await api.yoga.fetch("http://spool.test/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": a.key },
      body: JSON.stringify({ query: "{ viewer { organization { id } } }" }),
    });
    expect(((await res.json()) as any).data.viewer.organization.id).toBe(a.org.id);
  });
});
