// Webhook delivery end to end: real Postgres (the outbox triggers), the real webhook.deliver
// processor run by the Engine, a real HTTP receiver on loopback and the standardwebhooks
// verifier a customer would use. Time-dependent rules (retry schedule, jitter, five days
// failing, rotation overlap) run under a fake clock handed to webhook.deliver; the engine
// claims by the database clock, so a scheduled attempt is made due with `run_at = now()`.
// Also: a crash between the event's commit and the send, with the real server process.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { WebhookVerificationError } from "standardwebhooks";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { Engine } from "../../src/engine/engine.ts";
import { enqueueInternal } from "../../src/engine/enqueue.ts";
import { RETRY_SCHEDULE_MS, webhookId } from "../../src/processors/webhook-deliver.ts";
import { submitJob } from "../../src/services/jobs.ts";
import { payloadSchema, type WebhookEventType } from "../../src/services/webhook-events.ts";
import {
  createEndpoint, redeliver, rotateSecret, testEndpoint, updateEndpoint, type WebhookDeps,
} from "../../src/services/webhooks.ts";
import { defaultOutboundPolicy, request } from "../../src/tools/http.ts";
import { createTestApi, type Api } from "../graphql/api-helpers.ts";
import { createOrg, createTestDatabase, log, waitFor, withDatabase, type TestDb } from "../helpers.ts";
import { globalId, Receiver, verifyAt, type Received } from "./receiver.ts";

const BIN = fileURLToPath(new URL("../../src/bin.js", import.meta.url));
const YEAR_S = 365 * 24 * 3600;

let db: TestDb;
let api: Api;
/** Same database, but loopback NOT allowed (only the receiver's port is). */
let strict: Api;
let engine: Engine;
let rx: Receiver;
/** On 127.0.0.2 at the receiver's port: reachable, but not in the allow list. */
let trap: Receiver;

// The clock and randomness webhook.deliver sees; reset after every test.
let clock: Date | null = null;
let rnd: () => number = () => 0.5;

beforeAll(async () => {
  db = await createTestDatabase();
  rx = await Receiver.start("127.0.0.1");
  trap = await Receiver.start("127.0.0.2", rx.port);
  api = await createTestApi(db, {
    outbound: { allowCidrs: ["127.0.0.1/32"], allowedPorts: [rx.port] },
    webhooks: { now: () => clock ?? new Date(), random: () => rnd() },
  });
  strict = await createTestApi(db, { outbound: { allowCidrs: [], allowedPorts: [rx.port] } });
  engine = new Engine({ pool: db.pool, registry: api.registry, log, concurrency: 1 });
});
afterEach(async () => {
  clock = null;
  rnd = () => 0.5;
  // Retries a test left scheduled must not run in the next test's drain.
  await db.pool.query(`update jobs set run_at = now() + interval '100 years' where status = 'QUEUED'`);
});
afterAll(async () => {
  await strict?.close();
  await api?.close();
  await rx?.close();
  await trap?.close();
  await db?.drop();
});

type DeliveryRow = { id: string; organization_id: string; endpoint_id: string; message_id: string; status: string; attempt_count: number; next_attempt_at: Date | null; last_status_code: number | null; last_error: string | null };

async function delivery(id: string): Promise<DeliveryRow> {
  const { rows } = await db.pool.query<DeliveryRow>(`select * from webhook_deliveries where id = $1`, [id]);
  return rows[0]!;
}

async function attempts(deliveryId: string) {
  const { rows } = await db.pool.query<{ attempt: number; url: string; status_code: number | null; succeeded: boolean; error: string | null }>(
    `select attempt, url, status_code, succeeded, error from webhook_attempts where delivery_id = $1 order by attempt`, [deliveryId]);
  return rows;
}

/** The queued webhook.deliver jobs of a delivery (at most one exists at a time). */
async function queuedJobs(deliveryId: string) {
  const { rows } = await db.pool.query<{ id: string; run_at: Date }>(
    `select id, run_at from jobs where type = 'webhook.deliver' and status = 'QUEUED' and input->>'deliveryId' = $1`, [deliveryId]);
  return rows;
}

/** Makes a delivery's scheduled attempt due by the database clock (the fake clock is the processor's). */
async function makeDue(deliveryId: string): Promise<void> {
  const jobs = await queuedJobs(deliveryId);
  expect(jobs).toHaveLength(1);
  await db.pool.query(`update jobs set run_at = now() where id = $1`, [jobs[0]!.id]);
}

async function endpointRow(id: string) {
  const { rows } = await db.pool.query(`select * from webhook_endpoints where id = $1`, [id]);
  return rows[0]!;
}

function body(r: Received): { type: string; timestamp: string; data: Record<string, unknown> } {
  return JSON.parse(r.raw.toString("utf8"));
}

/** The body parses against its event type's published schema. */
function expectValidPayload(r: Received, type: WebhookEventType) {
  const parsed = payloadSchema(type).safeParse(body(r));
  expect(parsed.error).toBeUndefined();
  return parsed.data!;
}

describe("signing", () => {
  it("signs the exact bytes sent; a flipped byte or a stale timestamp fails; webhook-id is msg_<32 hex>, the same on retries and redeliveries", async () => {
    const org = (await createOrg(db)).id;
    const { endpoint, secret } = await createEndpoint(api.webhooks, org, { url: rx.url("/sig") });
    rx.on("/sig", (_r, n) => (n === 1 ? { status: 500 } : { status: 204 }));
    const deliveryId = await testEndpoint(api.webhooks, org, endpoint.id, "signed");
    expect(await engine.drain()).toBe(1);

    const first = rx.at("/sig")[0]!;
    const { rows: [msg] } = await db.pool.query<{ id: string; body: string }>(
      `select m.id, m.body from webhook_messages m join webhook_deliveries d on d.message_id = m.id where d.id = $1`, [deliveryId]);
    // The stored body, byte for byte, is what went on the wire.
    expect(first.raw.equals(Buffer.from(msg!.body, "utf8"))).toBe(true);
    expect(first.method).toBe("POST");
    expect(first.headers["content-type"]).toBe("application/json");
    expect(first.headers["webhook-id"]).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(first.headers["webhook-id"]).toBe(webhookId(msg!.id));
    expect(first.headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(Math.abs(Number(first.headers["webhook-timestamp"]) - Date.now() / 1000)).toBeLessThan(60);

    expect(verifyAt(secret, first.raw, first.headers)).toEqual(JSON.parse(msg!.body));
    expectValidPayload(first, "webhook.test");
    const flipped = Buffer.from(first.raw);
    flipped[Math.floor(flipped.length / 2)]! ^= 0x01;
    expect(() => verifyAt(secret, flipped, first.headers)).toThrow(WebhookVerificationError);
    expect(() => verifyAt(secret, Buffer.concat([first.raw, Buffer.from(" ")]), first.headers)).toThrow(WebhookVerificationError);
    // Another endpoint's secret does not verify it.
    const other = await createEndpoint(api.webhooks, org, { url: rx.url("/sig-other"), eventTypes: ["video.ready"] });
    expect(() => verifyAt(other.secret, first.raw, first.headers)).toThrow(WebhookVerificationError);
    // Replayed more than five minutes later: refused.
    const ts = Number(first.headers["webhook-timestamp"]);
    expect(() => verifyAt(secret, first.raw, first.headers, new Date((ts + 5 * 60 + 1) * 1000))).toThrow(/too old/);

    // The retry: same bytes, same webhook-id, verifiable.
    await makeDue(deliveryId);
    expect(await engine.drain()).toBe(1);
    const second = rx.at("/sig")[1]!;
    expect(second.headers["webhook-id"]).toBe(first.headers["webhook-id"]);
    expect(second.raw.equals(first.raw)).toBe(true);
    expect(verifyAt(secret, second.raw, second.headers)).toEqual(JSON.parse(msg!.body));
    expect(await delivery(deliveryId)).toMatchObject({ status: "SUCCEEDED", attempt_count: 2, next_attempt_at: null, last_status_code: 204 });
    expect((await attempts(deliveryId)).map((a) => [a.attempt, a.status_code, a.succeeded])).toEqual([[1, 500, false], [2, 204, true]]);
    expect(await queuedJobs(deliveryId)).toEqual([]);

    // A redelivery is a new delivery of the same message: same webhook-id and bytes.
    const again = await redeliver(api.webhooks, org, deliveryId);
    expect(again).not.toBe(deliveryId);
    expect(await engine.drain()).toBe(1);
    const third = rx.at("/sig")[2]!;
    expect(third.headers["webhook-id"]).toBe(first.headers["webhook-id"]);
    expect(third.raw.equals(first.raw)).toBe(true);
    verifyAt(secret, third.raw, third.headers);
  });

  it("a message signed with a timestamp more than five minutes old fails verification at the receiver's time", async () => {
    const org = (await createOrg(db)).id;
    const { endpoint, secret } = await createEndpoint(api.webhooks, org, { url: rx.url("/stale") });
    clock = new Date(Date.now() - 6 * 60_000);
    await testEndpoint(api.webhooks, org, endpoint.id);
    await engine.drain();
    const r = rx.at("/stale")[0]!;
    expect(Number(r.headers["webhook-timestamp"])).toBe(Math.floor(clock.getTime() / 1000));
    expect(() => verifyAt(secret, r.raw, r.headers)).toThrow(/too old/);
    // Only the timestamp is at fault: at the sender's time it verifies.
    verifyAt(secret, r.raw, r.headers, clock);
  });
});

describe("retry schedule under a fake clock", () => {
  it("schedules attempt n+1 at attempt n + RETRY_SCHEDULE_MS[n-1] (no jitter at random 0.5), stops FAILED after the 10th", async () => {
    const org = (await createOrg(db)).id;
    const { endpoint } = await createEndpoint(api.webhooks, org, { url: rx.url("/500") });
    rx.on("/500", () => ({ status: 500, body: "boom" }));
    // An hour ahead of the database clock, so no scheduled attempt is due before we make it so.
    const t0 = new Date(Math.floor(Date.now() / 1000) * 1000 + 3_600_000);
    clock = t0;
    const deliveryId = await testEndpoint(api.webhooks, org, endpoint.id);
    expect(await engine.drain()).toBe(1);

    expect(RETRY_SCHEDULE_MS.slice(0, 4)).toEqual([5_000, 300_000, 1_800_000, 7_200_000]);
    for (let n = 1; n <= 10; n++) {
      const d = await delivery(deliveryId);
      expect(d.attempt_count).toBe(n);
      expect(d.last_status_code).toBe(500);
      const at: Date = clock!;
      if (n < 10) {
        const expected: Date = new Date(at.getTime() + RETRY_SCHEDULE_MS[n - 1]!);
        expect(d.status).toBe("PENDING");
        expect(d.next_attempt_at).toEqual(expected);
        const jobs = await queuedJobs(deliveryId);
        expect(jobs.map((j) => j.run_at)).toEqual([expected]);
        clock = expected;
        await makeDue(deliveryId);
        expect(await engine.drain()).toBe(1);
      } else {
        expect(d).toMatchObject({ status: "FAILED", next_attempt_at: null });
        expect(await queuedJobs(deliveryId)).toEqual([]);
      }
    }
    const rows = await attempts(deliveryId);
    expect(rows.map((a) => a.attempt)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(rows.every((a) => a.status_code === 500 && !a.succeeded)).toBe(true);
    const got = rx.at("/500");
    expect(got).toHaveLength(10);
    expect(new Set(got.map((r) => r.headers["webhook-id"])).size).toBe(1);
    // Each attempt is signed at its own (fake) time.
    let t = t0.getTime();
    got.forEach((r, i) => {
      expect(Number(r.headers["webhook-timestamp"])).toBe(Math.floor(t / 1000));
      t += RETRY_SCHEDULE_MS[i] ?? 0;
    });
    // Ten attempts over about three days: the five-day rule did not disable the endpoint.
    expect(await endpointRow(endpoint.id)).toMatchObject({ active: true, disabled_reason: null });
    // Nothing runs after the last attempt.
    expect(await engine.drain()).toBe(0);
  });

  it("jitters the delay by at most ±10% (random 0 → 0.9×, random 1 → 1.1×)", async () => {
    const org = (await createOrg(db)).id;
    const { endpoint } = await createEndpoint(api.webhooks, org, { url: rx.url("/jitter") });
    rx.on("/jitter", () => ({ status: 502 }));
    const t0 = new Date(Math.floor(Date.now() / 1000) * 1000 + 3_600_000);
    const delays: number[] = [];
    for (const r of [0, 1, 0.25, 0.999]) {
      clock = t0;
      rnd = () => r;
      const id = await testEndpoint(api.webhooks, org, endpoint.id);
      expect(await engine.drain()).toBe(1);
      const d = await delivery(id);
      delays.push(d.next_attempt_at!.getTime() - t0.getTime());
      expect((await queuedJobs(id)).map((j) => j.run_at)).toEqual([d.next_attempt_at]);
    }
    expect(delays.slice(0, 2)).toEqual([4_500, 5_500]);
    for (const d of delays) {
      expect(d).toBeGreaterThanOrEqual(0.9 * 5_000);
      expect(d).toBeLessThanOrEqual(1.1 * 5_000);
    }
  });
});

describe("what a response means", () => {
  it("treats a 3xx as a failure and does not follow it", async () => {
    const org = (await createOrg(db)).id;
    const { endpoint } = await createEndpoint(api.webhooks, org, { url: rx.url("/moved") });
    rx.on("/moved", () => ({ status: 302, headers: { location: rx.url("/target") } }));
    rx.on("/target", () => ({ status: 200 }));
    const id = await testEndpoint(api.webhooks, org, endpoint.id);
    await engine.drain();
    expect(rx.at("/moved")).toHaveLength(1);
    expect(rx.at("/target")).toHaveLength(0);
    expect(await delivery(id)).toMatchObject({ status: "PENDING", attempt_count: 1, last_status_code: 302 });
    expect(await attempts(id)).toMatchObject([{ attempt: 1, status_code: 302, succeeded: false }]);
    expect(await queuedJobs(id)).toHaveLength(1);
  });

  it("a 2xx with a large body is a success (only an excerpt is read)", async () => {
    const org = (await createOrg(db)).id;
    const { endpoint } = await createEndpoint(api.webhooks, org, { url: rx.url("/big") });
    rx.on("/big", () => ({ status: 200, headers: { "content-type": "text/html", "content-length": String(100 * 1024) }, body: "x".repeat(100 * 1024) }));
    const id = await testEndpoint(api.webhooks, org, endpoint.id);
    await engine.drain();
    expect(rx.at("/big")).toHaveLength(1);
    const d = await delivery(id);
    expect(d).toMatchObject({ status: "SUCCEEDED", attempt_count: 1, last_status_code: 200, last_error: null });
    const [a] = await attempts(id);
    expect(a).toMatchObject({ status_code: 200, succeeded: true, error: null });
    expect(await queuedJobs(id)).toEqual([]);
  });

  it("410 Gone disables the endpoint at once (no retry) and tells the organization's other endpoints with webhook.disabled", async () => {
    const org = (await createOrg(db)).id;
    const gone = await createEndpoint(api.webhooks, org, { url: rx.url("/gone") });
    const watcher = await createEndpoint(api.webhooks, org, { url: rx.url("/watcher") });
    // An endpoint of another organization hears nothing of it.
    const foreign = await createEndpoint(api.webhooks, (await createOrg(db)).id, { url: rx.url("/foreign-watcher") });
    rx.on("/gone", () => ({ status: 410 }));
    const first = await testEndpoint(api.webhooks, org, gone.endpoint.id);
    const second = await testEndpoint(api.webhooks, org, gone.endpoint.id);
    await engine.drain();

    // Whichever delivery ran first got the 410; the other stopped without sending.
    expect(rx.at("/gone")).toHaveLength(1);
    const ep = await endpointRow(gone.endpoint.id);
    expect(ep).toMatchObject({ active: false, disabled_reason: "the endpoint answered 410 Gone" });
    expect(ep.disabled_at).toBeInstanceOf(Date);
    for (const id of [first, second]) {
      expect(await delivery(id)).toMatchObject({ status: "FAILED", next_attempt_at: null });
      expect(await queuedJobs(id)).toEqual([]);
    }
    const sent = [await delivery(first), await delivery(second)].find((d) => d.last_status_code === 410)!;
    expect(await attempts(sent.id)).toMatchObject([{ attempt: 1, status_code: 410, succeeded: false }]);

    const told = rx.at("/watcher");
    expect(told).toHaveLength(1);
    verifyAt(watcher.secret, told[0]!.raw, told[0]!.headers);
    const payload = expectValidPayload(told[0]!, "webhook.disabled");
    expect(payload.data).toEqual({ endpointId: globalId("WebhookEndpoint", gone.endpoint.id), url: rx.url("/gone"), reason: "the endpoint answered 410 Gone" });
    expect(rx.at("/foreign-watcher")).toHaveLength(0);
    expect((await db.pool.query(`select 1 from webhook_deliveries where endpoint_id = $1`, [foreign.endpoint.id])).rowCount).toBe(0);
  });

  it("Retry-After: 120 on a 503 schedules the next attempt 120 s later instead of the schedule", async () => {
    const org = (await createOrg(db)).id;
    const { endpoint } = await createEndpoint(api.webhooks, org, { url: rx.url("/busy") });
    rx.on("/busy", () => ({ status: 503, headers: { "retry-after": "120" } }));
    const t0 = new Date(Math.floor(Date.now() / 1000) * 1000 + 3_600_000);
    clock = t0;
    const id = await testEndpoint(api.webhooks, org, endpoint.id);
    await engine.drain();
    const expected = new Date(t0.getTime() + 120_000);
    expect(await delivery(id)).toMatchObject({ status: "PENDING", attempt_count: 1, last_status_code: 503, next_attempt_at: expected });
    expect((await queuedJobs(id)).map((j) => j.run_at)).toEqual([expected]);
  });

  it("disables an endpoint failing for five days at its next failed attempt, with webhook.disabled to another endpoint", async () => {
    const org = (await createOrg(db)).id;
    const down = await createEndpoint(api.webhooks, org, { url: rx.url("/down") });
    const watcher = await createEndpoint(api.webhooks, org, { url: rx.url("/down-watcher"), eventTypes: ["webhook.disabled"] });
    rx.on("/down", () => ({ status: 500 }));
    const t0 = new Date(Math.floor(Date.now() / 1000) * 1000 + 3_600_000);
    clock = t0;
    const id = await testEndpoint(api.webhooks, org, down.endpoint.id);
    await engine.drain();
    expect((await endpointRow(down.endpoint.id)).failing_since).toEqual(t0);

    // Four days in: still failing, still retried.
    clock = new Date(t0.getTime() + 4 * 24 * 3_600_000);
    await makeDue(id);
    await engine.drain();
    expect(await endpointRow(down.endpoint.id)).toMatchObject({ active: true, failing_since: t0 });
    expect(await delivery(id)).toMatchObject({ status: "PENDING", attempt_count: 2 });

    // Past five days: this failure disables it.
    clock = new Date(t0.getTime() + 5 * 24 * 3_600_000 + 1_000);
    await makeDue(id);
    await engine.drain();
    expect(rx.at("/down")).toHaveLength(3);
    expect(await endpointRow(down.endpoint.id)).toMatchObject({ active: false, disabled_reason: "every attempt failed for five days" });
    expect(await delivery(id)).toMatchObject({ status: "FAILED", attempt_count: 3, next_attempt_at: null });
    expect(await queuedJobs(id)).toEqual([]);
    const told = rx.at("/down-watcher");
    expect(told).toHaveLength(1);
    verifyAt(watcher.secret, told[0]!.raw, told[0]!.headers, clock);
    expect(expectValidPayload(told[0]!, "webhook.disabled").data).toEqual({
      endpointId: globalId("WebhookEndpoint", down.endpoint.id), url: rx.url("/down"), reason: "every attempt failed for five days",
    });
  });
});

describe("secret rotation", () => {
  it("signs with the old and the new secret during the overlap, with the new one only after it", async () => {
    const org = (await createOrg(db)).id;
    const { endpoint, secret: oldSecret } = await createEndpoint(api.webhooks, org, { url: rx.url("/rotate") });
    const { secret: newSecret } = await rotateSecret(api.webhooks, org, endpoint.id, 24);
    expect(newSecret).not.toBe(oldSecret);

    await testEndpoint(api.webhooks, org, endpoint.id);
    await engine.drain();
    const during = rx.at("/rotate")[0]!;
    expect(during.headers["webhook-signature"]!.split(" ")).toHaveLength(2);
    verifyAt(oldSecret, during.raw, during.headers);
    verifyAt(newSecret, during.raw, during.headers);

    // 23 h later (fake clock): still both.
    clock = new Date(Date.now() + 23 * 3_600_000);
    await testEndpoint(api.webhooks, org, endpoint.id);
    await engine.drain();
    const late = rx.at("/rotate")[1]!;
    verifyAt(oldSecret, late.raw, late.headers, clock);
    verifyAt(newSecret, late.raw, late.headers, clock);

    // 25 h later: the overlap is over.
    clock = new Date(Date.now() + 25 * 3_600_000);
    await testEndpoint(api.webhooks, org, endpoint.id);
    await engine.drain();
    const after = rx.at("/rotate")[2]!;
    expect(after.headers["webhook-signature"]!.split(" ")).toHaveLength(1);
    verifyAt(newSecret, after.raw, after.headers, clock);
    expect(() => verifyAt(oldSecret, after.raw, after.headers, clock!)).toThrow(WebhookVerificationError);
  });

  it("with overlap 0 the old secret stops at once", async () => {
    const org = (await createOrg(db)).id;
    const { endpoint, secret: oldSecret } = await createEndpoint(api.webhooks, org, { url: rx.url("/rotate0") });
    const { secret: newSecret } = await rotateSecret(api.webhooks, org, endpoint.id, 0);
    await testEndpoint(api.webhooks, org, endpoint.id);
    await engine.drain();
    const r = rx.at("/rotate0")[0]!;
    verifyAt(newSecret, r.raw, r.headers);
    expect(() => verifyAt(oldSecret, r.raw, r.headers)).toThrow(WebhookVerificationError);
  });
});

describe("the address is checked again at send time", () => {
  it("refuses an endpoint re-pointed to a private address not in the allow list: URL_NOT_ALLOWED, no connection, retry scheduled", async () => {
    const org = (await createOrg(db)).id;
    const { endpoint } = await createEndpoint(api.webhooks, org, { url: rx.url("/repointed") });
    const target = `http://127.0.0.2:${rx.port}/repointed`;
    // Saving it is refused outright…
    await expect(updateEndpoint(api.webhooks, org, endpoint.id, { url: target })).rejects.toMatchObject({ code: "URL_NOT_ALLOWED" });
    // …so simulate what a later DNS change amounts to: the stored URL now leads there.
    await db.pool.query(`update webhook_endpoints set url = $2 where id = $1`, [endpoint.id, target]);

    // Control: the trap is reachable when its address is allowed, so zero below means refused.
    const probe = await request(target, { policy: { ...defaultOutboundPolicy, allowCidrs: ["127.0.0.2/32"], allowedPorts: [rx.port], timeoutMs: 5_000 } });
    probe.body.destroy();
    expect(trap.connections).toBe(1);
    trap.connections = 0;
    trap.received.length = 0;

    const id = await testEndpoint(api.webhooks, org, endpoint.id);
    await engine.drain();
    expect(trap.connections).toBe(0);
    expect(trap.received).toHaveLength(0);
    const [a] = await attempts(id);
    expect(a).toMatchObject({ attempt: 1, url: target, status_code: null, succeeded: false });
    expect(a!.error).toMatch(/^URL_NOT_ALLOWED: /);
    const d = await delivery(id);
    expect(d).toMatchObject({ status: "PENDING", attempt_count: 1, last_status_code: null });
    expect(d.last_error).toMatch(/^URL_NOT_ALLOWED: /);
    expect(d.next_attempt_at).toBeInstanceOf(Date);
    expect(await queuedJobs(id)).toHaveLength(1);
  });

  it("refuses a loopback hostname at send when loopback is not allowed", async () => {
    const org = (await createOrg(db)).id;
    // Saved where loopback is allowed (localhost is refused at save under the strict policy);
    // the send runs under the strict policy, which checks every URL again.
    const { endpoint } = await createEndpoint(api.webhooks, org, { url: `http://localhost:${rx.port}/named` });
    expect((await endpointRow(endpoint.id)).url).toBe(`http://localhost:${rx.port}/named`);
    const strictEngine = new Engine({ pool: db.pool, registry: strict.registry, log, concurrency: 1 });
    const before = rx.connections;
    const id = await testEndpoint(strict.webhooks, org, endpoint.id);
    expect(await strictEngine.drain()).toBe(1);
    expect(rx.connections).toBe(before);
    expect(rx.at("/named")).toHaveLength(0);
    const [a] = await attempts(id);
    expect(a!.error).toMatch(/^URL_NOT_ALLOWED: host localhost is this machine \(loopback\)/);
    expect(await delivery(id)).toMatchObject({ status: "PENDING", attempt_count: 1 });
    expect(await queuedJobs(id)).toHaveLength(1);
  });

  it("refuses a re-pointed URL through updateEndpoint too (a name now leading to loopback)", async () => {
    const org = (await createOrg(db)).id;
    const { endpoint } = await createEndpoint(api.webhooks, org, { url: rx.url("/renamed") });
    await updateEndpoint(api.webhooks, org, endpoint.id, { url: `http://localhost:${rx.port}/renamed` });
    const strictEngine = new Engine({ pool: db.pool, registry: strict.registry, log, concurrency: 1 });
    const before = rx.connections;
    const id = await testEndpoint(strict.webhooks, org, endpoint.id);
    await strictEngine.drain();
    expect(rx.connections).toBe(before);
    expect((await attempts(id))[0]!.error).toMatch(/^URL_NOT_ALLOWED: /);
    expect(await queuedJobs(id)).toHaveLength(1);
  });
});

describe("organizations and payloads", () => {
  it("never delivers one organization's events to another's endpoints; a deliver job naming another organization's delivery does nothing", async () => {
    const a = (await createOrg(db)).id;
    const b = (await createOrg(db)).id;
    const epA = await createEndpoint(api.webhooks, a, { url: rx.url("/org-a") });
    const epB = await createEndpoint(api.webhooks, b, { url: rx.url("/org-b") });
    const { job } = await submitJob(db.pool, api.registry, a, { type: "system.cleanup", input: { maxAgeSeconds: YEAR_S } });
    await engine.drain();

    const got = rx.at("/org-a");
    expect(got.map((r) => body(r).type).sort()).toEqual(["job.created", "job.started", "job.succeeded"]);
    expect(rx.at("/org-b")).toHaveLength(0);
    const { rows: deliveries } = await db.pool.query<{ organization_id: string; endpoint_id: string; message_org: string }>(
      `select d.organization_id, d.endpoint_id, m.organization_id as message_org from webhook_deliveries d join webhook_messages m on m.id = d.message_id
       where d.organization_id = any($1::uuid[])`, [[a, b]]);
    expect(deliveries).toHaveLength(3);
    expect(deliveries.every((d) => d.organization_id === a && d.message_org === a && d.endpoint_id === epA.endpoint.id)).toBe(true);
    expect((await db.pool.query(`select 1 from webhook_messages where organization_id = $1`, [b])).rowCount).toBe(0);
    for (const r of got) {
      verifyAt(epA.secret, r.raw, r.headers);
      expect(() => verifyAt(epB.secret, r.raw, r.headers)).toThrow(WebhookVerificationError);
      expect(body(r).data).toMatchObject({ jobId: globalId("Job", job.id), jobType: "system.cleanup" });
    }

    // B cannot reach A's endpoint or delivery through the services…
    await expect(testEndpoint(api.webhooks, b, epA.endpoint.id)).rejects.toMatchObject({ code: "NOT_FOUND" });
    const pendingA = await testEndpoint(api.webhooks, a, epA.endpoint.id);
    await db.pool.query(`update jobs set run_at = now() + interval '100 years' where input->>'deliveryId' = $1`, [pendingA]);
    await expect(redeliver(api.webhooks, b, pendingA)).rejects.toMatchObject({ code: "NOT_FOUND" });
    // …and a webhook.deliver job of B naming A's delivery sends nothing and changes nothing.
    const foreignJob = (await enqueueInternal(db.pool, { organizationId: b, type: "webhook.deliver", input: { deliveryId: pendingA } })).id;
    const sentBefore = rx.received.length;
    expect(await engine.drain()).toBe(1);
    expect(rx.received.length).toBe(sentBefore);
    const { rows: [fj] } = await db.pool.query(`select status, result from jobs where id = $1`, [foreignJob]);
    expect(fj).toMatchObject({ status: "SUCCEEDED", result: { deliveryId: pendingA, skipped: expect.any(String) } });
    expect(await delivery(pendingA)).toMatchObject({ status: "PENDING", attempt_count: 0 });
    expect(await attempts(pendingA)).toEqual([]);
  });

  it("job payloads validate against their schemas; job.succeeded lists the job's output assets ([] when none)", async () => {
    const org = (await createOrg(db)).id;
    const ep = await createEndpoint(api.webhooks, org, { url: rx.url("/payloads"), eventTypes: ["job.created", "job.started", "job.succeeded"] });
    const plain = (await submitJob(db.pool, api.registry, org, { type: "system.cleanup", input: { maxAgeSeconds: YEAR_S }, metadata: { ref: "plain" } })).job;
    const withOutput = (await submitJob(db.pool, api.registry, org, { type: "system.cleanup", input: { maxAgeSeconds: YEAR_S }, metadata: { ref: "output" } })).job;
    // An output stored for the job before it completes (as media processors do).
    const { rows: [asset] } = await db.pool.query<{ id: string }>(
      `insert into assets (organization_id, key, size, content_type, kind, sha256, origin, job_id)
       values ($1, 'test/output.png', 3, 'image/png', 'IMAGE', $2, 'JOB_OUTPUT', $3) returning id`,
      [org, createHash("sha256").update("abc").digest("hex"), withOutput.id]);
    await engine.drain();

    const got = rx.at("/payloads");
    expect(got).toHaveLength(6);
    for (const r of got) {
      verifyAt(ep.secret, r.raw, r.headers);
      expectValidPayload(r, body(r).type as WebhookEventType);
    }
    const succeeded = (jobId: string) => got.map(body).find((b) => b.type === "job.succeeded" && b.data.jobId === globalId("Job", jobId))!;
    expect(succeeded(plain.id).data).toMatchObject({ status: "SUCCEEDED", jobType: "system.cleanup", metadata: { ref: "plain" }, outputAssetIds: [], outputDocumentIds: [] });
    expect(succeeded(withOutput.id).data).toMatchObject({ status: "SUCCEEDED", metadata: { ref: "output" }, outputAssetIds: [globalId("Asset", asset!.id)], outputDocumentIds: [] });
    const created = got.map(body).find((b) => b.type === "job.created" && b.data.jobId === globalId("Job", plain.id))!;
    expect(created.data).toMatchObject({ status: "QUEUED", attempt: 0 });
  });
});

describe("a crash between the event's commit and the send", () => {
  const SECRETS_ENV = "delivery-test-webhook-secrets-key-0123456789";
  let db2: TestDb;
  let dir: string;

  beforeAll(async () => {
    // Its own database: the server's engine claims every queued job it finds.
    db2 = await createTestDatabase();
    dir = await mkdtemp(path.join(os.tmpdir(), "spool-webhook-crash-"));
  });
  afterAll(async () => {
    await db2?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  function serve() {
    const { DATABASE_URL: _ignored, ...rest } = process.env;
    const child = spawn(process.execPath, [BIN, "serve"], {
      env: {
        ...rest,
        DATABASE_URL: withDatabase(inject("pgServerUrl"), db2.name),
        PORT: "0", HOST: "127.0.0.1", SPOOL_DATA_DIR: dir, SPOOL_LOG_LEVEL: "info",
        SPOOL_URL_ALLOW_CIDRS: "127.0.0.1/32", SPOOL_URL_ALLOWED_PORTS: String(rx.port),
        SPOOL_WEBHOOK_SECRETS_KEY: SECRETS_ENV,
        SPOOL_CONCURRENCY: "2", SPOOL_LEASE_MS: "2000", SPOOL_SHUTDOWN_GRACE_MS: "1000",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    return { child, exited, output: () => out };
  }

  it("the committed outbox row is sent by the real server started later, verifiably, and re-sent with the same webhook-id after a kill -9 mid-send", async () => {
    const org = (await createOrg(db2)).id;
    // The server derives its key as sha256(SPOOL_WEBHOOK_SECRETS_KEY): encrypt with that key.
    const deps: WebhookDeps = {
      pool: db2.pool,
      secretsKey: createHash("sha256").update(SECRETS_ENV).digest(),
      outbound: { ...defaultOutboundPolicy, allowCidrs: ["127.0.0.1/32"], allowedPorts: [rx.port] },
    };
    const { endpoint, secret } = await createEndpoint(deps, org, { url: rx.url("/crash"), eventTypes: ["job.created"] });
    // The first request is held open (the server dies mid-send); the next is answered.
    rx.on("/crash", (_r, n) => (n === 1 ? "hold" : { status: 200 }));

    // The event commits with no engine running anywhere: the outbox has it, nothing was sent.
    const { job } = await submitJob(db2.pool, api.registry, org, { type: "system.cleanup", input: { maxAgeSeconds: YEAR_S } });
    const { rows: pending } = await db2.pool.query<{ id: string; status: string; attempt_count: number }>(
      `select id, status, attempt_count from webhook_deliveries where endpoint_id = $1`, [endpoint.id]);
    expect(pending).toMatchObject([{ status: "PENDING", attempt_count: 0 }]);
    const deliveryId = pending[0]!.id;
    const { rows: deliverJobs } = await db2.pool.query(`select status from jobs where type = 'webhook.deliver' and input->>'deliveryId' = $1`, [deliveryId]);
    expect(deliverJobs).toEqual([{ status: "QUEUED" }]);
    expect(rx.at("/crash")).toHaveLength(0);

    // First server: picks it up and is killed while the receiver holds the request.
    const first = serve();
    try {
      await waitFor(async () => rx.at("/crash").length >= 1, `the first send (output: ${first.output()})`, 45_000);
    } finally {
      first.child.kill("SIGKILL");
    }
    await first.exited;
    const r1 = rx.at("/crash")[0]!;
    expect(await db2.pool.query(`select status, attempt_count from webhook_deliveries where id = $1`, [deliveryId]).then((r) => r.rows[0]))
      .toEqual({ status: "PENDING", attempt_count: 0 });

    // Second server: reclaims the dead worker's job when its lease expires and sends again.
    const second = serve();
    try {
      await waitFor(async () => {
        const { rows } = await db2.pool.query(`select status from webhook_deliveries where id = $1`, [deliveryId]);
        return rows[0]?.status === "SUCCEEDED";
      }, `the delivery to succeed (output: ${second.output()})`, 45_000, 100);
    } finally {
      second.child.kill("SIGTERM");
    }
    expect(await second.exited).toBe(0);

    const got = rx.at("/crash");
    expect(got).toHaveLength(2);
    const r2 = got[1]!;
    expect(r2.headers["webhook-id"]).toBe(r1.headers["webhook-id"]);
    expect(r2.raw.equals(r1.raw)).toBe(true);
    for (const r of [r1, r2]) {
      const payload = payloadSchema("job.created").parse(verifyAt(secret, r.raw, r.headers));
      expect(payload.data).toMatchObject({ jobId: globalId("Job", job.id), jobType: "system.cleanup", status: "QUEUED", attempt: 0 });
    }
    const { rows: tries } = await db2.pool.query(`select attempt, status_code, succeeded from webhook_attempts where delivery_id = $1`, [deliveryId]);
    expect(tries).toEqual([{ attempt: 1, status_code: 200, succeeded: true }]);
  });
});
