// The README's standard-library Python verifier (test/webhooks/verify_webhook.py), run with
// python3 against a real delivery: it accepts the request as sent and refuses a changed body
// or another secret. Skipped where python3 is not installed.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { Engine } from "../../src/engine/engine.ts";
import { submitJob } from "../../src/services/jobs.ts";
import { createEndpoint } from "../../src/services/webhooks.ts";
import { createTestApi, type Api } from "../graphql/api-helpers.ts";
import { createOrg, createTestDatabase, log, type TestDb } from "../helpers.ts";
import { Receiver } from "./receiver.ts";

const SCRIPT = fileURLToPath(new URL("./verify_webhook.py", import.meta.url));
const python = spawnSync("python3", ["--version"]).status === 0;

let db: TestDb;
let api: Api;
let rx: Receiver;
beforeAll(async () => {
  db = await createTestDatabase();
  rx = await Receiver.start();
  api = await createTestApi(db, { outbound: { allowCidrs: ["127.0.0.1/32"], allowedPorts: [rx.port] } });
});
afterAll(async () => {
  await api?.close();
  await rx?.close();
  await db?.drop();
});

function runPython(secret: string, headers: Record<string, string>, body: Buffer) {
  return spawnSync("python3", [SCRIPT], { input: body, env: { ...process.env, SECRET: secret, HEADERS: JSON.stringify(headers) }, encoding: "utf8" });
}

it.skipIf(!python)("python3 verifies a real delivery with the README's standard-library code, and refuses tampering", async () => {
  const org = await createOrg(db);
  const { secret } = await createEndpoint(api.webhooks, org.id, { url: `http://127.0.0.1:${rx.port}/hook`, eventTypes: ["job.created"] });
  await submitJob(db.pool, api.registry, org.id, { type: "system.cleanup", input: { maxAgeSeconds: 3600 } });
  await new Engine({ pool: db.pool, registry: api.registry, log, concurrency: 1 }).drain();
  const got = rx.received.find((r) => r.path === "/hook");
  expect(got).toBeDefined();
  const ok = runPython(secret, got!.headers, got!.raw);
  expect(ok.stderr).toBe("");
  expect(ok.stdout.trim()).toBe("job.created");
  const changed = Buffer.from(got!.raw);
  changed[changed.length - 2]! ^= 1;
  expect(runPython(secret, got!.headers, changed).stderr).toMatch(/ValueError: no matching signature/);
  const other = (await createEndpoint(api.webhooks, org.id, { url: `http://127.0.0.1:${rx.port}/other` })).secret;
  expect(runPython(other, got!.headers, got!.raw).stderr).toMatch(/ValueError: no matching signature/);
});
