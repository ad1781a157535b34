// A job run by a real `spool worker` process streams to a subscriber of another process's
// API: the only path between them is Postgres NOTIFY.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createClient } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { PgListener } from "../../src/pubsub/pg-listener.ts";
import { submitJob } from "../../src/services/jobs.ts";
import { createTestDatabase, log, type TestDb } from "../helpers.ts";
import { createTestApi, type Api } from "./api-helpers.ts";

const BIN = fileURLToPath(new URL("../../src/bin.js", import.meta.url));
let db: TestDb;
let api: Api;
let listener: PgListener;

beforeAll(async () => {
  db = await createTestDatabase();
  listener = new PgListener(db.url, log);
  await listener.start();
  api = await createTestApi(db, { listener });
});
afterAll(async () => {
  await api.close();
  await listener.stop();
  await db.drop();
});

describe("across processes", () => {
  it("a subscriber here sees every state of a job a separate spool worker runs", async () => {
    const urls = await api.listen();
    const { org, key } = await api.tenant();
    // Enough old rows that the cleanup reports progress for a while.
    await db.pool.query(
      `insert into jobs (organization_id, type, status, input, finished_at) select $1, 'test.old', 'SUCCEEDED', '{}', now() - interval '30 days' from generate_series(1, 1500)`,
      [org.id],
    );
    const { job } = await submitJob(db.pool, api.registry, org.id, { type: "system.cleanup", input: { maxAgeSeconds: 86_400, batchSize: 5 } });

    const client = createClient({ url: urls.ws, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${key}` } });
    const states: Array<{ status: string; progress: number }> = [];
    const completed = new Promise<void>((resolve, reject) => {
      client.subscribe<{ job: { status: string; progress: number } }>(
        { query: `subscription($id: ID!) { job(id: $id) { status progress } }`, variables: { id: job.id } },
        { next: (r) => r.data && states.push(r.data.job), error: reject, complete: resolve },
      );
    });
    await new Promise((r) => setTimeout(r, 200)); // subscribed before the worker starts

    const worker = spawn(process.execPath, [BIN, "worker"], { env: { ...process.env, DATABASE_URL: db.url, SPOOL_LOG_LEVEL: "warn" }, stdio: "ignore" });
    try {
      await completed;
    } finally {
      worker.kill("SIGTERM");
      await new Promise((r) => worker.once("exit", r));
      await client.dispose();
    }
    expect(states[0]).toEqual({ status: "QUEUED", progress: 0 });
    expect(states.at(-1)).toEqual({ status: "SUCCEEDED", progress: 1 });
    expect(states.some((s) => s.status === "RUNNING" && s.progress > 0 && s.progress < 1)).toBe(true);
  });
});
