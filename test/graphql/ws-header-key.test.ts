// A Node client may send its key in the WebSocket upgrade's headers instead of connection_init
// (browsers cannot set them). The connection is accepted on that key, so its operations must
// run as that key's caller too — they answered UNAUTHENTICATED.
import { createClient } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createTestDatabase, type TestDb } from "../helpers.ts";
import { createTestApi, type Api } from "./api-helpers.ts";

let db: TestDb;
let api: Api;
let ws: string;
beforeAll(async () => {
  db = await createTestDatabase();
  api = await createTestApi(db);
  ws = (await api.listen()).ws;
});
afterAll(async () => {
  await api?.close();
  await db?.drop();
});

/** One query over a socket whose upgrade request carries `headers`. */
function queryWith(headers: Record<string, string>): Promise<{ data?: unknown; errors?: { extensions?: { code?: string } }[] }> {
  class HeaderSocket extends WebSocket {
    constructor(url: string, protocols?: string | string[]) { super(url, protocols, { headers }); }
  }
  const client = createClient({ url: ws, webSocketImpl: HeaderSocket, retryAttempts: 0 });
  return new Promise((resolve, reject) => {
    let result: never;
    client.subscribe({ query: "{ viewer { organization { slug } } }" }, {
      next: (r) => { result = r as never; },
      error: reject,
      complete: () => { void client.dispose(); resolve(result); },
    });
  });
}

describe("an API key in the WebSocket upgrade headers", () => {
  it("is the caller of the socket's operations (Authorization and X-API-Key)", async () => {
    const t = await api.tenant();
    const variants: Record<string, string>[] = [{ authorization: `Bearer ${t.key}` }, { "x-api-key": t.key }];
    for (const headers of variants) {
      const r = await queryWith(headers);
      expect(r.errors).toBeUndefined();
      expect(r.data).toMatchObject({ viewer: { organization: { slug: expect.any(String) } } });
    }
  });
});
