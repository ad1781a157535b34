// system.cleanup also removes old webhook messages once every delivery of theirs is finished
// (their deliveries and attempts go with them); pending ones and other organizations' stay.
import { afterAll, beforeAll, expect, it } from "vitest";
import { Engine } from "../../src/engine/engine.ts";
import { submitJob } from "../../src/services/jobs.ts";
import { createEndpoint, testEndpoint } from "../../src/services/webhooks.ts";
import { createTestApi, type Api } from "../graphql/api-helpers.ts";
import { createOrg, createTestDatabase, log, type TestDb } from "../helpers.ts";

let db: TestDb;
let api: Api;
beforeAll(async () => {
  db = await createTestDatabase();
  // Nothing listens on port 9: every send fails, and no delivery matters here beyond its row.
  api = await createTestApi(db, { outbound: { allowCidrs: ["127.0.0.1/32"], allowedPorts: [9] } });
});
afterAll(async () => {
  await api?.close();
  await db?.drop();
});

it("deletes finished webhook messages older than maxAgeSeconds, keeps pending, recent and foreign ones", async () => {
  const [a, b] = [await createOrg(db), await createOrg(db)];
  const endpoints = await Promise.all([a, b].map((o) => createEndpoint(api.webhooks, o.id, { url: "http://127.0.0.1:9/hook" })));
  const delivery = async (org: string, endpoint: string, status: string, ageHours: number) => {
    const id = await testEndpoint(api.webhooks, org, endpoint);
    await db.pool.query(`update webhook_deliveries set status = $2 where id = $1`, [id, status]);
    await db.pool.query(`update webhook_messages set created_at = now() - make_interval(hours => $2) where id = (select message_id from webhook_deliveries where id = $1)`, [id, ageHours]);
    return id;
  };
  const oldDone = await delivery(a.id, endpoints[0]!.endpoint.id, "SUCCEEDED", 48);
  const oldFailed = await delivery(a.id, endpoints[0]!.endpoint.id, "FAILED", 48);
  const oldPending = await delivery(a.id, endpoints[0]!.endpoint.id, "PENDING", 48);
  const recentDone = await delivery(a.id, endpoints[0]!.endpoint.id, "SUCCEEDED", 1);
  const foreignOld = await delivery(b.id, endpoints[1]!.endpoint.id, "SUCCEEDED", 48);
  // The webhook.deliver jobs those pings enqueued must not run here.
  await db.pool.query(`update jobs set run_at = now() + interval '100 years' where type = 'webhook.deliver'`);

  const dry = await submitJob(db.pool, api.registry, a.id, { type: "system.cleanup", input: { maxAgeSeconds: 24 * 3600, dryRun: true } });
  const engine = new Engine({ pool: db.pool, registry: api.registry, log, concurrency: 1 });
  await engine.drain();
  expect((await db.pool.query(`select result from jobs where id = $1`, [dry.job.id])).rows[0].result).toMatchObject({ dryRun: true, webhookMessages: 2 });

  const real = await submitJob(db.pool, api.registry, a.id, { type: "system.cleanup", input: { maxAgeSeconds: 24 * 3600 } });
  await engine.drain();
  expect((await db.pool.query(`select result from jobs where id = $1`, [real.job.id])).rows[0].result).toMatchObject({ dryRun: false, webhookMessages: 2 });
  // (The cleanup jobs' own job.* events added recent messages too; only ours are looked at.)
  const ours = [oldDone, oldFailed, oldPending, recentDone, foreignOld];
  const left = (await db.pool.query(`select id from webhook_deliveries where id = any($1::uuid[])`, [ours])).rows.map((r) => r.id).sort();
  expect(left).toEqual([oldPending, recentDone, foreignOld].sort());
  expect((await db.pool.query(`select 1 from webhook_attempts a join webhook_deliveries d on d.id = a.delivery_id where d.id = any($1::uuid[])`, [[oldDone, oldFailed]])).rowCount).toBe(0);
});
