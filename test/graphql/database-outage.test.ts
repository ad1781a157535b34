// The database goes away under a running server: a valid API key can then not be checked,
// which is not the same as a bad key. HTTP answers UNAVAILABLE, a WebSocket connection_init
// is closed with 4503 and a reason that says to try again (not 4403, which tells a client
// to replace its key); a malformed key is still refused for what it is. Once the database
// is back, the same key works. A real Postgres of the test's own, SIGKILLed and restarted.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { openDatabase } from "../../src/db/database.ts";
import { startOwnPostgres, type OwnPostgres } from "../own-postgres.ts";
import type { TestDb } from "../helpers.ts";
import { createTestApi, type Api } from "./api-helpers.ts";

let postgres: OwnPostgres;
let api: Api;
let ws: string;
let key: string;

const SUBMIT = `mutation { submitJob(input: { type: "system.cleanup", input: { maxAgeSeconds: 86400, dryRun: true } }) { job { id status } } }`;

/** Sends connection_init; resolves with the ack, or with the close code and reason. */
function connectionInit(payload: Record<string, unknown>): Promise<{ acked: true } | { acked: false; code: number; reason: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(ws, "graphql-transport-ws");
    socket.on("error", reject);
    socket.on("open", () => socket.send(JSON.stringify({ type: "connection_init", payload })));
    socket.on("message", (m) => {
      if (JSON.parse(String(m)).type !== "connection_ack") return;
      resolve({ acked: true });
      socket.close();
    });
    socket.on("close", (code, reason) => resolve({ acked: false, code, reason: String(reason) }));
  });
}

beforeAll(async () => {
  postgres = await startOwnPostgres();
  const db = openDatabase(postgres.url, { onError: () => undefined });
  const testDb: TestDb = { ...db, name: "spool", drop: () => db.close() };
  api = await createTestApi(testDb);
  ws = (await api.listen()).ws;
  key = (await api.tenant()).key;
});
afterAll(async () => {
  await api?.close();
  await postgres?.remove();
});

describe("a database outage under a running server", () => {
  it("answers UNAVAILABLE (HTTP) and 4503 'try again' (WebSocket) for a valid key, then works again", async () => {
    expect(await connectionInit({ authorization: `Bearer ${key}` })).toEqual({ acked: true });
    expect((await api.gql(SUBMIT, {}, key)).errors).toBeUndefined();

    await postgres.crash();
    const submitted = await api.gql(SUBMIT, {}, key);
    expect(submitted.errors?.map((e) => e.extensions?.code)).toEqual(["UNAVAILABLE"]);
    expect(submitted.errors![0]!.message).toMatch(/try again/i);

    const refused = await connectionInit({ authorization: `Bearer ${key}` });
    expect(refused).toMatchObject({ acked: false, code: 4503 });
    expect(refused.acked === false && refused.reason).toMatch(/try again/i);

    // A key that cannot be right needs no database to say so.
    expect(await connectionInit({ authorization: "Bearer not-a-spool-key" })).toMatchObject({ acked: false, code: 4403 });

    await postgres.restart();
    expect(await connectionInit({ authorization: `Bearer ${key}` })).toEqual({ acked: true });
    const again = await api.gql(SUBMIT, {}, key);
    expect(again.errors).toBeUndefined();
    expect(again.data.submitJob.job.status).toBe("QUEUED");
  });
});
