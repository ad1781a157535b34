// Webhooks through the GraphQL API, end to end: endpoint management (secret shown once, SSRF
// and event-type checks, scopes, tenancy), real deliveries to a loopback receiver verified
// with the standardwebhooks library and checked against the published payload schemas,
// testWebhook / redeliverWebhook, secret rotation with and without overlap, jobs' own
// webhookUrl (submitJob and the typed mutations), and the webhookDeliveries subscription
// over graphql-ws.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { encodeGlobalID } from "@pothos/plugin-relay";
import { createClient, type Client } from "graphql-ws";
import { Webhook } from "standardwebhooks";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { z } from "zod";
import { Engine } from "../../src/engine/engine.ts";
import { PgListener } from "../../src/pubsub/pg-listener.ts";
import { payloadJsonSchema, payloadSchema, WEBHOOK_EVENT_TYPES, type WebhookEventType } from "../../src/services/webhook-events.ts";
import { createTestApi, type Api } from "../graphql/api-helpers.ts";
import { createTestDatabase, log, waitFor, type TestDb } from "../helpers.ts";

type Received = { path: string; headers: Record<string, string>; body: string };

let db: TestDb;
let listener: PgListener;
let api: Api;
let engine: Engine;
let receiver: http.Server;
let base: string;
const received: Received[] = [];
const clients: Client[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({ path: req.url!, headers: req.headers as Record<string, string>, body: Buffer.concat(chunks).toString("utf8") });
      res.writeHead(200, { "content-type": "text/plain" }).end("thanks");
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  const { port } = receiver.address() as AddressInfo;
  base = `http://127.0.0.1:${port}`;
  listener = new PgListener(db.url, log);
  await listener.start();
  api = await createTestApi(db, { listener, outbound: { allowCidrs: ["127.0.0.1/32"], allowedPorts: [port] } });
  engine = new Engine({ pool: db.pool, registry: api.registry, log, concurrency: 1 });
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.dispose()));
  await waitFor(async () => api.liveUpdates!.stats.feeds === 0, "subscriptions to be released", 5_000);
});
afterAll(async () => {
  await api?.close();
  await listener?.stop();
  await new Promise((r) => receiver?.close(r));
  await db?.drop();
});

/** Runs every claimable job; delivery jobs are enqueued by the events of the jobs before them. */
async function runJobs() {
  for (let i = 0; i < 3; i++) await engine.drain();
}
const at = (path: string) => received.filter((r) => r.path === path);
const codeOf = (r: { errors?: Array<{ extensions?: { code?: string } }> }) => r.errors?.[0]?.extensions?.code;
const bodyOf = (r: Received) => JSON.parse(r.body) as { type: WebhookEventType; timestamp: string; data: Record<string, unknown> };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Standard Webhooks verification of a received request with `secret` (throws when no signature matches). */
function verify(secret: string, r: Received) {
  return new Webhook(secret).verify(r.body, {
    "webhook-id": r.headers["webhook-id"]!,
    "webhook-timestamp": r.headers["webhook-timestamp"]!,
    "webhook-signature": r.headers["webhook-signature"]!,
  });
}

/** Verified, and the body matches the published schema of its type. */
function checkRequest(secret: string, r: Received) {
  expect(() => verify(secret, r)).not.toThrow();
  const body = bodyOf(r);
  expect(WEBHOOK_EVENT_TYPES).toContain(body.type);
  expect(payloadSchema(body.type).safeParse(body).success, `${body.type} body ${r.body}`).toBe(true);
  expect(r.headers["content-type"]).toBe("application/json");
  expect(r.headers["webhook-id"]).toMatch(/^msg_[0-9a-f]{32}$/);
  return body;
}

const CREATE = `mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { secret webhook { id url eventTypes description active kind } } }`;
const UPDATE = `mutation($input: UpdateWebhookInput!) { updateWebhook(input: $input) { webhook { id url eventTypes description active disabledReason } } }`;
const DELETE = `mutation($input: DeleteWebhookInput!) { deleteWebhook(input: $input) { deletedId } }`;
const ROTATE = `mutation($input: RotateWebhookSecretInput!) { rotateWebhookSecret(input: $input) { secret webhook { id previousSecretExpiresAt } } }`;
const ROTATE_JOB = `mutation($input: RotateJobWebhookSecretInput) { rotateJobWebhookSecret(input: $input) { secret } }`;
const TEST = `mutation($input: TestWebhookInput!) { testWebhook(input: $input) { delivery { id status eventType attemptCount payload endpoint { id } } } }`;
const REDELIVER = `mutation($input: RedeliverWebhookInput!) { redeliverWebhook(input: $input) { delivery { id status webhookId redeliveryOf { id webhookId } } } }`;
const WEBHOOK = `query($id: ID!) { webhook(id: $id) { id url kind active previousSecretExpiresAt
  deliveries(first: 20) { totalCount edges { node { id eventType status attemptCount webhookId payload lastStatusCode createdAt
    attempts { attempt url statusCode succeeded latencyMs error responseExcerpt } } } } } }`;
const SUBMIT = `mutation($input: SubmitJobInput!) { submitJob(input: $input) { job { id } } }`;

async function createWebhook(key: string, input: Record<string, unknown>) {
  const r = await api.gql(CREATE, { input }, key);
  expect(r.errors).toBeUndefined();
  return r.data!.createWebhook as { secret: string; webhook: { id: string; url: string; eventTypes: string[]; description: string | null; active: boolean; kind: string } };
}

describe("managing endpoints", () => {
  it("creates, reads, updates and deletes; the secret is shown once and never readable", async () => {
    const t = await api.tenant();
    const { secret, webhook } = await createWebhook(t.key, { url: `${base}/crud`, eventTypes: ["job.succeeded", "job.failed", "job.failed"], description: "billing" });
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(secret.slice("whsec_".length), "base64").length).toBeGreaterThanOrEqual(24);
    expect(webhook).toMatchObject({ url: `${base}/crud`, eventTypes: ["job.succeeded", "job.failed"], description: "billing", active: true, kind: "ENDPOINT" });
    expect(webhook.id).toBe(encodeGlobalID("WebhookEndpoint", (await db.prisma.webhookEndpoint.findFirstOrThrow({ where: { organizationId: t.org.id } })).id));

    // No field of the API exposes a secret; reads never carry it.
    const type = await api.gql(`{ __type(name: "WebhookEndpoint") { fields { name } } }`, {}, t.key);
    const names = type.data.__type.fields.map((f: { name: string }) => f.name);
    expect(names.filter((n: string) => /secret/i.test(n))).toEqual(["previousSecretExpiresAt"]);
    const read = await api.gql(WEBHOOK, { id: webhook.id }, t.key);
    expect(read.errors).toBeUndefined();
    expect(read.data.webhook).toMatchObject({ id: webhook.id, url: `${base}/crud`, kind: "ENDPOINT", active: true, previousSecretExpiresAt: null, deliveries: { totalCount: 0, edges: [] } });
    const stored = (await db.pool.query(`select secret from webhook_endpoints`)).rows.map((r) => r.secret as string);
    for (const s of stored) expect(s).not.toContain(secret.slice(6)); // encrypted at rest
    const byNode = await api.gql(`query($id: ID!) { node(id: $id) { id ... on WebhookEndpoint { url } } }`, { id: webhook.id }, t.key);
    expect(byNode.data.node).toEqual({ id: webhook.id, url: `${base}/crud` });
    expect(JSON.stringify([read.data, byNode.data])).not.toContain(secret);

    // A uuid works as well as the global id.
    const raw = (await db.prisma.webhookEndpoint.findFirstOrThrow({ where: { organizationId: t.org.id } })).id;
    expect((await api.gql(`query($id: ID!) { webhook(id: $id) { id } }`, { id: raw }, t.key)).data.webhook.id).toBe(webhook.id);

    const second = await createWebhook(t.key, { url: `${base}/crud-2`, active: false });
    expect(second.webhook).toMatchObject({ eventTypes: [], active: false });
    const list = async (filter?: Record<string, unknown>) =>
      (await api.gql(`query($filter: WebhookFilter) { webhooks(first: 10, filter: $filter) { totalCount edges { node { id } } } }`, { filter }, t.key)).data.webhooks;
    expect((await list()).edges.map((e: { node: { id: string } }) => e.node.id)).toEqual([second.webhook.id, webhook.id]); // newest first
    expect((await list({ active: false })).edges.map((e: { node: { id: string } }) => e.node.id)).toEqual([second.webhook.id]);
    expect((await list({ active: true, kind: "ENDPOINT" })).totalCount).toBe(1);
    expect((await list({ kind: "JOB" })).totalCount).toBe(0);
    expect(codeOf(await api.gql(`{ webhooks(first: 101) { totalCount } }`, {}, t.key))).toBe("INVALID_INPUT");

    const updated = await api.gql(UPDATE, { input: { id: webhook.id, url: `${base}/crud-moved`, eventTypes: [], description: null, active: false } }, t.key);
    expect(updated.errors).toBeUndefined();
    expect(updated.data.updateWebhook.webhook).toMatchObject({ id: webhook.id, url: `${base}/crud-moved`, eventTypes: [], description: null, active: false });
    // Fields not given are kept.
    const kept = await api.gql(UPDATE, { input: { id: webhook.id, active: true } }, t.key);
    expect(kept.data.updateWebhook.webhook).toMatchObject({ url: `${base}/crud-moved`, eventTypes: [], description: null, active: true, disabledReason: null });

    const deleted = await api.gql(DELETE, { input: { id: webhook.id } }, t.key);
    expect(deleted.data.deleteWebhook.deletedId).toBe(webhook.id);
    expect(codeOf(await api.gql(WEBHOOK, { id: webhook.id }, t.key))).toBe("NOT_FOUND");
    expect(codeOf(await api.gql(DELETE, { input: { id: webhook.id } }, t.key))).toBe("NOT_FOUND");
  });

  it("refuses private URLs (URL_NOT_ALLOWED) and unknown event types (INVALID_INPUT) at create and update", async () => {
    const t = await api.tenant();
    for (const url of ["http://10.0.0.1/x", "http://169.254.169.254/", "http://[::1]/x", `${base.replace("http", "ftp")}/x`]) {
      const r = await api.gql(CREATE, { input: { url } }, t.key);
      expect(codeOf(r), url).toBe("URL_NOT_ALLOWED");
    }
    const unknown = await api.gql(CREATE, { input: { url: `${base}/x`, eventTypes: ["job.created", "job.exploded", "video.gone"] } }, t.key);
    expect(codeOf(unknown)).toBe("INVALID_INPUT");
    expect(unknown.errors![0]!.message).toContain("job.exploded, video.gone");
    expect(await db.prisma.webhookEndpoint.count({ where: { organizationId: t.org.id } })).toBe(0);

    const { webhook } = await createWebhook(t.key, { url: `${base}/valid` });
    for (const url of ["http://10.0.0.1/x", "http://169.254.169.254/"]) {
      expect(codeOf(await api.gql(UPDATE, { input: { id: webhook.id, url } }, t.key)), url).toBe("URL_NOT_ALLOWED");
    }
    expect(codeOf(await api.gql(UPDATE, { input: { id: webhook.id, eventTypes: ["nope"] } }, t.key))).toBe("INVALID_INPUT");
    expect((await db.prisma.webhookEndpoint.findFirstOrThrow({ where: { organizationId: t.org.id } })).url).toBe(`${base}/valid`);
    expect(codeOf(await api.gql(ROTATE, { input: { id: webhook.id, overlapHours: 1000 } }, t.key))).toBe("INVALID_INPUT");
  });

  it("refuses localhost at create unless loopback is allowed, saying how to allow a local receiver", async () => {
    const port = Number(new URL(base).port);
    const strict = await createTestApi(db, { outbound: { allowCidrs: [], allowedPorts: [port] } });
    try {
      const t = await strict.tenant();
      for (const url of [`http://localhost:${port}/x`, `http://app.localhost:${port}/x`]) {
        const r = await strict.gql(CREATE, { input: { url } }, t.key);
        expect(codeOf(r), url).toBe("URL_NOT_ALLOWED");
        expect(r.errors![0]!.message).toContain("SPOOL_URL_ALLOW_CIDRS");
      }
      const port3000 = await strict.gql(CREATE, { input: { url: "https://example.com:3000/x" } }, t.key);
      expect(port3000.errors![0]!.message).toContain("SPOOL_URL_ALLOWED_PORTS");
      expect(await db.prisma.webhookEndpoint.count({ where: { organizationId: t.org.id } })).toBe(0);
    } finally {
      await strict.close();
    }
    // Where loopback is allowed (SPOOL_URL_ALLOW_CIDRS=127.0.0.1/32), localhost is a receiver like any other.
    const t = await api.tenant();
    expect((await api.gql(CREATE, { input: { url: `http://localhost:${port}/x` } }, t.key)).errors).toBeUndefined();
  });

  it("webhookEventTypes lists every type with its payload schema, for any authenticated key", async () => {
    const t = await api.tenant();
    const reader = await api.keyFor(t.org.id, ["jobs:read"]);
    const r = await api.gql(`{ webhookEventTypes { type description payloadSchema } }`, {}, reader);
    expect(r.errors).toBeUndefined();
    const types = r.data.webhookEventTypes as Array<{ type: WebhookEventType; description: string; payloadSchema: unknown }>;
    expect(types.map((x) => x.type)).toEqual(WEBHOOK_EVENT_TYPES);
    for (const x of types) {
      expect(x.description.length).toBeGreaterThan(0);
      expect(x.payloadSchema).toEqual(payloadJsonSchema(x.type));
    }
    expect(codeOf(await api.gql(`{ webhookEventTypes { type } }`, {}, null))).toBe("UNAUTHENTICATED");
  });

  it("webhook.deliver is Spool's own: jobTypes omits it and submitJob / submitBatch refuse it", async () => {
    const t = await api.tenant();
    const types = (await api.gql(`{ jobTypes { type } }`, {}, t.key)).data.jobTypes.map((x: { type: string }) => x.type);
    expect(types).not.toContain("webhook.deliver");
    expect(types).toContain("system.cleanup");
    const input = { deliveryId: "00000000-0000-4000-8000-000000000000" };
    const one = await api.gql(`mutation($input: SubmitJobInput!) { submitJob(input: $input) { job { id } } }`, { input: { type: "webhook.deliver", input } }, t.key);
    expect(codeOf(one)).toBe("INVALID_INPUT");
    expect(one.errors?.[0]?.message).toMatch(/enqueued by Spool itself/);
    const batch = await api.gql(`mutation($input: SubmitBatchInput!) { submitBatch(input: $input) { job { id } } }`,
      { input: { jobs: [{ type: "system.cleanup", input: { maxAgeSeconds: 60 } }, { type: "webhook.deliver", input }] } }, t.key);
    expect(codeOf(batch)).toBe("INVALID_INPUT");
    expect((await db.pool.query(`select 1 from jobs where organization_id = $1`, [t.org.id])).rowCount).toBe(0);
  });

  it("needs the webhooks:manage scope for everything else (FORBIDDEN)", async () => {
    const t = await api.tenant();
    const { webhook } = await createWebhook(t.key, { url: `${base}/scoped` });
    const jobsOnly = await api.keyFor(t.org.id, ["jobs:read", "jobs:write", "assets:read", "assets:write"]);
    const attempts: Array<[string, Record<string, unknown>]> = [
      [`{ webhooks { totalCount } }`, {}],
      [`query($id: ID!) { webhook(id: $id) { id } }`, { id: webhook.id }],
      [CREATE, { input: { url: `${base}/x` } }],
      [UPDATE, { input: { id: webhook.id, active: false } }],
      [DELETE, { input: { id: webhook.id } }],
      [ROTATE, { input: { id: webhook.id } }],
      [ROTATE_JOB, {}],
      [TEST, { input: { id: webhook.id } }],
      [REDELIVER, { input: { deliveryId: "00000000-0000-4000-8000-000000000000" } }],
    ];
    for (const [query, variables] of attempts) expect(codeOf(await api.gql(query, variables, jobsOnly)), query).toBe("FORBIDDEN");
    const node = await api.gql(`query($id: ID!) { node(id: $id) { id } }`, { id: webhook.id }, jobsOnly);
    expect(codeOf(node)).toBe("FORBIDDEN");
    // Nothing changed.
    expect(await db.prisma.webhookEndpoint.findFirstOrThrow({ where: { organizationId: t.org.id } })).toMatchObject({ active: true });
    const manager = await api.keyFor(t.org.id, ["webhooks:manage"]);
    expect((await api.gql(`{ webhooks { totalCount } }`, {}, manager)).data.webhooks.totalCount).toBe(1);
  });

  it("another organization's endpoint and delivery are NOT_FOUND on every query and mutation", async () => {
    const a = await api.tenant();
    const b = await api.tenant();
    const { webhook } = await createWebhook(a.key, { url: `${base}/tenant-a` });
    const delivery = (await api.gql(TEST, { input: { id: webhook.id } }, a.key)).data.testWebhook.delivery;
    const attempts: Array<[string, Record<string, unknown>]> = [
      [`query($id: ID!) { webhook(id: $id) { id } }`, { id: webhook.id }],
      [UPDATE, { input: { id: webhook.id, url: `${base}/stolen` } }],
      [DELETE, { input: { id: webhook.id } }],
      [ROTATE, { input: { id: webhook.id } }],
      [TEST, { input: { id: webhook.id } }],
      [REDELIVER, { input: { deliveryId: delivery.id } }],
      // Malformed ids and ids of another type are NOT_FOUND as well.
      [`query($id: ID!) { webhook(id: $id) { id } }`, { id: "garbage" }],
      [REDELIVER, { input: { deliveryId: webhook.id } }],
      [TEST, { input: { id: delivery.id } }],
    ];
    for (const [query, variables] of attempts) expect(codeOf(await api.gql(query, variables, b.key)), `${query} ${JSON.stringify(variables)}`).toBe("NOT_FOUND");
    for (const id of [webhook.id, delivery.id]) {
      const r = await api.gql(`query($id: ID!) { node(id: $id) { id } }`, { id }, b.key);
      expect(codeOf(r)).toBe("NOT_FOUND");
      expect(r.data?.node ?? null).toBeNull();
    }
    expect((await api.gql(`{ webhooks { totalCount } }`, {}, b.key)).data.webhooks.totalCount).toBe(0);
    // A's endpoint is untouched and its delivery still there.
    const still = await api.gql(WEBHOOK, { id: webhook.id }, a.key);
    expect(still.data.webhook).toMatchObject({ url: `${base}/tenant-a`, deliveries: { totalCount: 1 } });
    const node = await api.gql(`query($id: ID!) { node(id: $id) { ... on WebhookDelivery { id eventType } } }`, { id: delivery.id }, a.key);
    expect(node.data.node).toEqual({ id: delivery.id, eventType: "webhook.test" });
    await runJobs();
  });
});

describe("deliveries to a real receiver", () => {
  it("a job's events arrive signed, match their schemas, and are recorded with their attempts", async () => {
    const t = await api.tenant();
    const all = await createWebhook(t.key, { url: `${base}/all` });
    const onlySucceeded = await createWebhook(t.key, { url: `${base}/succeeded`, eventTypes: ["job.succeeded"] });
    await createWebhook(t.key, { url: `${base}/off`, active: false });

    const submitted = await api.gql(SUBMIT, { input: { type: "system.cleanup", input: { maxAgeSeconds: 3600 }, metadata: { order: 42 } } }, t.key);
    expect(submitted.errors).toBeUndefined();
    const jobId = submitted.data.submitJob.job.id as string;
    await runJobs();

    const requests = at("/all");
    expect(requests.map((r) => bodyOf(r).type).sort()).toEqual(["job.created", "job.started", "job.succeeded"]);
    for (const r of requests) {
      const body = checkRequest(all.secret, r);
      expect(body.data).toMatchObject({ jobId, jobType: "system.cleanup", attempt: expect.any(Number), metadata: { order: 42 } });
      expect(r.headers["user-agent"]).toBe("Spool-Webhooks/1.0");
    }
    expect(bodyOf(requests.find((r) => bodyOf(r).type === "job.succeeded")!).data).toMatchObject({ status: "SUCCEEDED", outputAssetIds: [], outputDocumentIds: [] });
    // Each message has its own webhook-id; one endpoint's secret does not verify another's requests.
    expect(new Set(requests.map((r) => r.headers["webhook-id"])).size).toBe(3);
    expect(at("/succeeded").map((r) => bodyOf(r).type)).toEqual(["job.succeeded"]);
    checkRequest(onlySucceeded.secret, at("/succeeded")[0]!);
    expect(() => verify(all.secret, at("/succeeded")[0]!)).toThrow();
    expect(at("/off")).toEqual([]);

    const r = await api.gql(WEBHOOK, { id: all.webhook.id }, t.key);
    expect(r.errors).toBeUndefined();
    const nodes = r.data.webhook.deliveries.edges.map((e: { node: any }) => e.node);
    expect(r.data.webhook.deliveries.totalCount).toBe(3);
    expect(nodes.map((n: { eventType: string }) => n.eventType).sort()).toEqual(["job.created", "job.started", "job.succeeded"]);
    const times = nodes.map((n: { createdAt: string }) => Date.parse(n.createdAt));
    expect(times).toEqual([...times].sort((x, y) => y - x)); // newest first
    for (const n of nodes) {
      const request = requests.find((q) => bodyOf(q).type === n.eventType)!;
      expect(n).toMatchObject({ status: "SUCCEEDED", attemptCount: 1, lastStatusCode: 200, webhookId: request.headers["webhook-id"], payload: bodyOf(request) });
      expect(n.attempts).toEqual([{ attempt: 1, url: `${base}/all`, statusCode: 200, succeeded: true, latencyMs: expect.any(Number), error: null, responseExcerpt: "thanks" }]);
      expect(n.attempts[0].latencyMs).toBeGreaterThanOrEqual(0);
    }
    const filtered = await api.gql(`query($id: ID!) { webhook(id: $id) { pending: deliveries(status: PENDING) { totalCount } done: deliveries(first: 1, status: SUCCEEDED) { totalCount edges { node { id } } pageInfo { hasNextPage } } } }`, { id: all.webhook.id }, t.key);
    expect(filtered.data.webhook).toMatchObject({ pending: { totalCount: 0 }, done: { totalCount: 3, pageInfo: { hasNextPage: true } } });
    expect(filtered.data.webhook.done.edges[0].node.id).toBe(nodes[0].id);
  });

  it("testWebhook sends a webhook.test; redeliverWebhook sends it again with the same webhook-id and a new signature", async () => {
    const t = await api.tenant();
    const { secret, webhook } = await createWebhook(t.key, { url: `${base}/ping`, eventTypes: ["video.ready"] });
    const tested = await api.gql(TEST, { input: { id: webhook.id, message: "ping!" } }, t.key);
    expect(tested.errors).toBeUndefined();
    const delivery = tested.data.testWebhook.delivery;
    expect(delivery).toMatchObject({ status: "PENDING", eventType: "webhook.test", attemptCount: 0, endpoint: { id: webhook.id }, payload: { type: "webhook.test", data: { endpointId: webhook.id, message: "ping!" } } });
    await runJobs();
    expect(at("/ping")).toHaveLength(1);
    const first = at("/ping")[0]!;
    expect(checkRequest(secret, first)).toMatchObject({ type: "webhook.test", data: { endpointId: webhook.id, message: "ping!" } });

    await sleep(1_100); // webhook-timestamp has second resolution
    const again = await api.gql(REDELIVER, { input: { deliveryId: delivery.id } }, t.key);
    expect(again.errors).toBeUndefined();
    const copy = again.data.redeliverWebhook.delivery;
    expect(copy.id).not.toBe(delivery.id);
    expect(copy).toMatchObject({ status: "PENDING", webhookId: first.headers["webhook-id"], redeliveryOf: { id: delivery.id, webhookId: first.headers["webhook-id"] } });
    await runJobs();
    expect(at("/ping")).toHaveLength(2);
    const second = at("/ping")[1]!;
    checkRequest(secret, second);
    expect(second.headers["webhook-id"]).toBe(first.headers["webhook-id"]);
    expect(second.body).toBe(first.body);
    expect(Number(second.headers["webhook-timestamp"])).toBeGreaterThan(Number(first.headers["webhook-timestamp"]));
    expect(second.headers["webhook-signature"]).not.toBe(first.headers["webhook-signature"]);

    // A switched-off endpoint is neither pinged nor redelivered to.
    await api.gql(UPDATE, { input: { id: webhook.id, active: false } }, t.key);
    expect(codeOf(await api.gql(TEST, { input: { id: webhook.id } }, t.key))).toBe("CONFLICT");
    expect(codeOf(await api.gql(REDELIVER, { input: { deliveryId: delivery.id } }, t.key))).toBe("CONFLICT");
  });

  it("after rotateWebhookSecret with an overlap both secrets verify; with overlapHours 0 only the new one", async () => {
    const t = await api.tenant();
    const { secret: first, webhook } = await createWebhook(t.key, { url: `${base}/rotate` });
    const rotated = await api.gql(ROTATE, { input: { id: webhook.id, overlapHours: 2 } }, t.key);
    expect(rotated.errors).toBeUndefined();
    const second = rotated.data.rotateWebhookSecret.secret as string;
    expect(second).toMatch(/^whsec_/);
    expect(second).not.toBe(first);
    const expires = Date.parse(rotated.data.rotateWebhookSecret.webhook.previousSecretExpiresAt);
    expect(Math.abs(expires - (Date.now() + 2 * 3_600_000))).toBeLessThan(60_000);

    await api.gql(TEST, { input: { id: webhook.id } }, t.key);
    await runJobs();
    const during = at("/rotate")[0]!;
    expect(during.headers["webhook-signature"]!.split(" ").filter((s) => s.startsWith("v1,"))).toHaveLength(2);
    checkRequest(second, during);
    checkRequest(first, during);

    const again = await api.gql(ROTATE, { input: { id: webhook.id, overlapHours: 0 } }, t.key);
    const third = again.data.rotateWebhookSecret.secret as string;
    expect(again.data.rotateWebhookSecret.webhook.previousSecretExpiresAt).toBeNull();
    await api.gql(TEST, { input: { id: webhook.id } }, t.key);
    await runJobs();
    const after = at("/rotate")[1]!;
    expect(after.headers["webhook-signature"]!.split(" ")).toHaveLength(1);
    checkRequest(third, after);
    expect(() => verify(second, after)).toThrow();
    expect(() => verify(first, after)).toThrow();
  });
});

describe("a job's own webhookUrl", () => {
  it("needs the job webhook secret; then the job's events go to the URL signed with it, and to the organization's endpoints too", async () => {
    const t = await api.tenant();
    const submit = (webhookUrl?: string) => api.gql(SUBMIT, { input: { type: "system.cleanup", input: { maxAgeSeconds: 3600 }, webhookUrl } }, t.key);

    const refused = await submit(`${base}/job-hook`);
    expect(codeOf(refused)).toBe("INVALID_INPUT");
    expect(refused.errors![0]!.message).toContain("rotateJobWebhookSecret");
    expect(await db.prisma.job.count({ where: { organizationId: t.org.id } })).toBe(0); // nothing left behind

    const jobSecret = (await api.gql(ROTATE_JOB, {}, t.key)).data.rotateJobWebhookSecret.secret as string;
    expect(jobSecret).toMatch(/^whsec_/);
    expect(codeOf(await submit("http://10.0.0.1/hook"))).toBe("URL_NOT_ALLOWED");
    const orgWide = await createWebhook(t.key, { url: `${base}/org-wide` });

    const ok = await submit(`${base}/job-hook`);
    expect(ok.errors).toBeUndefined();
    const jobId = ok.data.submitJob.job.id as string;
    await runJobs();

    const own = at("/job-hook");
    expect(own.map((r) => bodyOf(r).type).sort()).toEqual(["job.created", "job.started", "job.succeeded"]);
    for (const r of own) expect(checkRequest(jobSecret, r).data.jobId).toBe(jobId);
    const wide = at("/org-wide");
    expect(wide.map((r) => bodyOf(r).type).sort()).toEqual(["job.created", "job.started", "job.succeeded"]);
    for (const r of wide) expect(checkRequest(orgWide.secret, r).data.jobId).toBe(jobId);
    expect(() => verify(orgWide.secret, own[0]!)).toThrow();

    // The JOB endpoint is listed; its secret rotates only with rotateJobWebhookSecret.
    const jobs = await api.gql(`{ webhooks(filter: { kind: JOB }) { edges { node { id url kind } } } }`, {}, t.key);
    const jobEndpoint = jobs.data.webhooks.edges[0].node;
    expect(jobEndpoint).toMatchObject({ url: `${base}/job-hook`, kind: "JOB" });
    expect(codeOf(await api.gql(ROTATE, { input: { id: jobEndpoint.id } }, t.key))).toBe("CONFLICT");

    // A job without webhookUrl goes to the organization's endpoints only.
    await submit();
    await runJobs();
    expect(at("/job-hook")).toHaveLength(3);
    expect(at("/org-wide")).toHaveLength(6);

    // After a rotation with overlap, the next job's requests verify with both job secrets.
    const newer = (await api.gql(ROTATE_JOB, { input: { overlapHours: 1 } }, t.key)).data.rotateJobWebhookSecret.secret as string;
    await submit(`${base}/job-hook`);
    await runJobs();
    const later = at("/job-hook").slice(3);
    expect(later).toHaveLength(3);
    for (const r of later) {
      checkRequest(newer, r);
      checkRequest(jobSecret, r);
    }
  });

  it("the typed job mutations take webhookUrl too", async () => {
    const t = await api.tenant();
    await api.gql(ROTATE_JOB, {}, t.key);
    // Stand-ins for the media and document processors (no ffmpeg here): the point is the job's endpoint.
    for (const type of ["video.transcode", "video.thumbnails", "video.analyze", "video.watermark", "media.streaming", "audio.transcode", "media.optimize",
      "document.process", "document.extractText", "document.preview", "document.transform"]) {
      if (!api.registry.get(type)) api.registry.register({ type, description: "stand-in", input: z.looseObject({}), run: async () => ({}) });
    }
    const item = async (table: "videos" | "documents") => {
      const { rows: [row] } = await db.pool.query(`insert into ${table} (organization_id, title) values ($1, 'x') returning id`, [t.org.id]);
      const owner = table === "videos" ? "video_id" : "document_id";
      await db.pool.query(
        `insert into assets (organization_id, key, size, content_type, kind, sha256, origin, ${owner}, role) values ($1, gen_random_uuid()::text, 1, 'application/octet-stream', $2, 'x', 'UPLOAD', $3, 'SOURCE')`,
        [t.org.id, table === "videos" ? "VIDEO" : "PDF", row.id]);
      return encodeGlobalID(table === "videos" ? "Video" : "Document", row.id);
    };
    const videoId = await item("videos");
    const documentId = await item("documents");
    const mutations: Array<[string, string, Record<string, unknown>]> = [
      ["transcodeVideo", "TranscodeVideoInput", { videoId }],
      ["createThumbnails", "CreateThumbnailsInput", { videoId }],
      ["analyzeVideo", "AnalyzeVideoInput", { videoId }],
      ["watermarkVideo", "WatermarkVideoInput", { videoId }],
      ["createStreamingPackage", "CreateStreamingPackageInput", { videoId }],
      ["transcodeAudio", "TranscodeAudioInput", { videoId }],
      ["optimizeVideo", "OptimizeVideoInput", { videoId, targetSizeMB: 5 }],
      ["processDocument", "ProcessDocumentInput", { documentId }],
      ["extractDocumentText", "ExtractDocumentTextInput", { documentId }],
      ["createDocumentPreviews", "CreateDocumentPreviewsInput", { documentId }],
      ["transformDocument", "TransformDocumentInput", { documentId, operations: [{ rotate: { degrees: 90 } }] }],
    ];
    for (const [name, inputType, input] of mutations) {
      const url = `${base}/typed/${name}`;
      const r = await api.gql(`mutation($input: ${inputType}!) { ${name}(input: $input) { job { id type input } } }`, { input: { ...input, webhookUrl: url } }, t.key);
      expect(r.errors, name).toBeUndefined();
      const job = r.data[name].job;
      expect(job.input.webhookUrl, name).toBeUndefined(); // not part of the job's input
      const { rows: [row] } = await db.pool.query(
        `select e.url, e.kind from jobs j join webhook_endpoints e on e.id = j.webhook_endpoint_id where j.id = $1`,
        [Buffer.from(job.id, "base64").toString().split(":")[1]]);
      expect(row, name).toEqual({ url, kind: "JOB" });
    }
    await runJobs();
    for (const [name] of mutations) {
      expect(at(`/typed/${name}`).map((r) => bodyOf(r).type).sort(), name).toEqual(["job.created", "job.started", "job.succeeded"]);
    }
  });
});

describe("webhookDeliveries subscription", () => {
  const SUB = `subscription($endpointId: ID) { webhookDeliveries(endpointId: $endpointId) { id status eventType attemptCount lastStatusCode endpoint { id } attempts { attempt statusCode } } }`;
  type Message = { data?: { webhookDeliveries: { id: string; status: string; eventType: string; attemptCount: number; endpoint: { id: string }; attempts: Array<{ attempt: number; statusCode: number }> } } | null; errors?: Array<{ extensions?: { code?: string } }> };

  function open(key: string, variables: Record<string, unknown>) {
    const client = createClient({ url: urls.ws, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${key}` }, retryAttempts: 0, lazy: true });
    clients.push(client);
    const sub = { messages: [] as Message[], completed: false, error: null as unknown };
    client.subscribe({ query: SUB, variables }, {
      next: (m) => void sub.messages.push(m as Message),
      error: (e) => void (sub.error = e),
      complete: () => void (sub.completed = true),
    });
    return sub;
  }
  let urls: { http: string; ws: string };
  beforeAll(async () => {
    urls = await api.listen();
  });

  it("streams a delivery from PENDING to SUCCEEDED, only the endpoint's, only the organization's", async () => {
    const a = await api.tenant();
    const b = await api.tenant();
    const target = await createWebhook(a.key, { url: `${base}/sub`, eventTypes: ["video.ready"] });
    const other = await createWebhook(a.key, { url: `${base}/sub-other`, eventTypes: ["video.ready"] });

    const feeds = api.liveUpdates!.stats.feeds;
    const forTarget = open(a.key, { endpointId: target.webhook.id });
    const forAll = open(a.key, {});
    const forB = open(b.key, {});
    await waitFor(async () => api.liveUpdates!.stats.feeds === feeds + 3, "three subscriptions");

    const test = (id: string) => api.gql(TEST, { input: { id } }, a.key).then((r) => r.data.testWebhook.delivery.id as string);
    const targetDelivery = await test(target.webhook.id);
    const otherDelivery = await test(other.webhook.id);
    await waitFor(async () => forTarget.messages.length >= 1, "the PENDING delivery");
    await runJobs();
    await waitFor(async () => forTarget.messages.some((m) => m.data?.webhookDeliveries.status === "SUCCEEDED"), "the SUCCEEDED delivery");
    await waitFor(async () => forAll.messages.filter((m) => m.data?.webhookDeliveries.status === "SUCCEEDED").length === 2, "both deliveries in the unfiltered feed");
    await sleep(300); // anything extra would show up now

    expect(forTarget.messages.every((m) => !m.errors)).toBe(true);
    const states = forTarget.messages.map((m) => m.data!.webhookDeliveries);
    expect(states.every((s) => s.id === targetDelivery && s.endpoint.id === target.webhook.id && s.eventType === "webhook.test")).toBe(true);
    expect(states.map((s) => s.status)).toEqual(["PENDING", "SUCCEEDED"]); // each state once
    expect(states[0]).toMatchObject({ attemptCount: 0, attempts: [] });
    expect(states[1]).toMatchObject({ attemptCount: 1, lastStatusCode: 200, attempts: [{ attempt: 1, statusCode: 200 }] });
    expect(new Set(forAll.messages.map((m) => m.data!.webhookDeliveries.id))).toEqual(new Set([targetDelivery, otherDelivery]));
    expect(forB.messages).toEqual([]);
    expect(at("/sub")).toHaveLength(1);
  });

  it("refuses another organization's endpoint (NOT_FOUND) and a key without webhooks:manage (FORBIDDEN)", async () => {
    const a = await api.tenant();
    const b = await api.tenant();
    const { webhook } = await createWebhook(a.key, { url: `${base}/sub-private` });
    const foreign = open(b.key, { endpointId: webhook.id });
    const reader = open(await api.keyFor(a.org.id, ["jobs:read"]), {});
    await waitFor(async () => (foreign.completed || foreign.error) && (reader.completed || reader.error), "both answers");
    expect(foreign.messages[0]?.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    expect(reader.messages[0]?.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
  });
});
