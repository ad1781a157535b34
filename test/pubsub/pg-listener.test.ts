// The process's one LISTEN connection: notifications reach subscribers; a dropped
// connection is announced (so live subscriptions can end) and restored; while it is down,
// the engine still finds work by polling.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { Engine } from "../../src/engine/engine.ts";
import { ProcessorRegistry } from "../../src/engine/registry.ts";
import { PgListener } from "../../src/pubsub/pg-listener.ts";
import { getJob, submitJob } from "../../src/services/jobs.ts";
import { createOrg, createTestDatabase, log, waitFor, type TestDb } from "../helpers.ts";

let db: TestDb;
let org: string;
const registry = new ProcessorRegistry().register({ type: "test.ok", description: "", input: z.object({}), run: async () => ({ ok: true }) });

beforeAll(async () => {
  db = await createTestDatabase();
  org = (await createOrg(db)).id;
});
afterAll(async () => {
  await db.drop();
});

describe("PgListener", () => {
  it("delivers notifications, announces a drop, reconnects and delivers again", async () => {
    const listener = new PgListener(db.url, log);
    const got: string[] = [];
    let downs = 0;
    let ups = 0;
    listener.on("test_channel", (p) => got.push(p));
    listener.onDown(() => downs++);
    listener.onUp(() => ups++);
    await listener.start();
    try {
      await db.pool.query(`select pg_notify('test_channel', 'one')`);
      await waitFor(async () => got.includes("one"), "first notification");

      // Kill the listener's backend from the server side, as a failover or restart would.
      await db.pool.query(`select pg_terminate_backend(pid) from pg_stat_activity where query like 'listen%' and datname = current_database()`);
      await waitFor(async () => downs === 1, "the drop to be announced");
      await waitFor(async () => ups === 1 && listener.connected, "the listener to reconnect");
      await db.pool.query(`select pg_notify('test_channel', 'two')`);
      await waitFor(async () => got.includes("two"), "a notification after reconnecting");
      expect(got).toEqual(["one", "two"]);
    } finally {
      await listener.stop();
    }
  });

  it("an engine whose listener is down still runs new jobs, by polling", async () => {
    const listener = new PgListener(db.url, log);
    await listener.start();
    await listener.stop(); // gone for good: no NOTIFY will ever arrive
    const engine = new Engine({ pool: db.pool, registry, log, listener, concurrency: 1, pollMs: 200 });
    engine.start();
    try {
      const { job } = await submitJob(db.pool, registry, org, { type: "test.ok", input: {} });
      await waitFor(async () => (await getJob(db.pool, org, job.id)).status === "SUCCEEDED", "the job to be found by polling");
    } finally {
      await engine.stop(1_000);
    }
  });

  it("wakes an idle engine at commit, not at the next poll", async () => {
    const listener = new PgListener(db.url, log);
    await listener.start();
    // A poll interval far longer than the wait below: only the NOTIFY can explain a quick start.
    const engine = new Engine({ pool: db.pool, registry, log, listener, concurrency: 1, pollMs: 600_000 });
    engine.start();
    try {
      await new Promise((r) => setTimeout(r, 200)); // let the first (empty) claim pass
      const { job } = await submitJob(db.pool, registry, org, { type: "test.ok", input: {} });
      await waitFor(async () => (await getJob(db.pool, org, job.id)).status === "SUCCEEDED", "the NOTIFY to wake the engine", 20_000);
    } finally {
      await engine.stop(1_000);
      await listener.stop();
    }
  });
});
