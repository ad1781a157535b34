// The documents issue's "done when", end to end against the real server process (`npm start`
// runs src/bin.js): a newcomer uploads a scanned PDF over the GraphQL multipart request spec,
// runs document.process, watches its pages complete live over graphql-ws, and downloads the
// Markdown and the page previews through their signed URLs. Plain fetch, FormData and the
// graphql-ws client: nothing from the server's own modules.
import { spawn } from "node:child_process";
import { chmod, mkdtemp, readFile, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createClient, type Client } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createTestDatabase, waitFor, type TestDb } from "../helpers.ts";
import { scannedPdf, type ScanLine } from "./scan-fixtures.ts";

const BIN = fileURLToPath(new URL("../../src/bin.js", import.meta.url));

const PAGES: ScanLine[][] = [
  [{ text: "Quarterly report", size: 56 }, { text: "Revenue grew in every region." }, { text: "Customers renewed their contracts." }],
  [{ text: "Shipping schedule" }, { text: "Orders leave the warehouse on Monday." }],
  [{ text: "Hiring plan" }, { text: "Two engineers join the team in spring." }],
];
const KNOWN_WORDS = ["Revenue", "region", "Customers", "contracts", "Shipping", "warehouse", "Monday", "engineers", "spring"];

type GqlResult<T> = { data?: T | null; errors?: Array<{ message: string; extensions?: { code?: string } }> };
type Event = { id: string; kind: "STATUS" | "STAGE" | "PROGRESS" | "LOG"; status: string | null; stage: string | null; progress: number | null; pagesDone: number | null; pageCount: number | null; message: string | null };

let dir: string;
let db: TestDb;
let server: ReturnType<typeof spool> | null = null;
let ws: Client | null = null;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** `spool serve` as `npm start` runs it, on the test database. */
function spool(env: Record<string, string>) {
  const { DATABASE_URL: _ignored, ...rest } = process.env;
  const child = spawn(process.execPath, [BIN, "serve"], { env: { ...rest, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve((exitCode = code))));
  return { child, exited, output: () => out, hasExited: () => exitCode !== undefined };
}

/** PNG width and height from its IHDR chunk. */
function pngSize(bytes: Buffer): { width: number; height: number } {
  expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  expect(bytes.toString("latin1", 12, 16)).toBe("IHDR");
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "spool-newcomer-"));
  await chmod(dir, 0o755);
  db = await createTestDatabase();
});
afterAll(async () => {
  await ws?.dispose();
  if (server && !server.hasExited()) {
    server.child.kill("SIGKILL");
    await server.exited;
  }
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("a newcomer's first scanned PDF, on the real server", () => {
  it("uploads it, runs document.process, watches the pages complete live and downloads the Markdown and previews", { timeout: 180_000 }, async () => {
    // PORT=0 would do, but the "listening" line (with the port) is an info log and the
    // server runs at warn here: a free port is chosen up front instead.
    const port = await freePort();
    const dataDir = path.join(dir, "data");
    server = spool({
      PORT: String(port), SPOOL_PG_PORT: String(await freePort()), SPOOL_DATA_DIR: dataDir, DATABASE_URL: db.url,
      SPOOL_OCR_WORKERS: "2", SPOOL_LOG_LEVEL: "warn",
    });
    const s = server;
    const base = `http://127.0.0.1:${port}`;
    await waitFor(async () => {
      if (s.hasExited()) throw new Error(`spool exited early: ${s.output()}`);
      return fetch(`${base}/health`).then((r) => r.status === 200, () => false);
    }, `spool to answer /health (output: ${s.output()})`, 60_000, 100);
    // The server binds before it makes the admin key (a taken port fails before any key exists),
    // so /health can answer a moment before the key file is written.
    const adminKey = await waitFor(() => readFile(path.join(dataDir, "admin-key"), "utf8").then((k) => k.trim(), () => null), "the admin key file", 30_000, 50);
    // Printed once, on the first start, just after the file is written.
    await waitFor(async () => s.output().includes(adminKey), "the admin key printed", 30_000, 50);
    const auth = { authorization: `Bearer ${adminKey}` };

    async function gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
      const res = await fetch(`${base}/graphql`, { method: "POST", headers: { "content-type": "application/json", ...auth }, body: JSON.stringify({ query, variables }) });
      expect(res.status).toBe(200);
      const body = (await res.json()) as GqlResult<T>;
      expect(body.errors).toBeUndefined();
      return body.data!;
    }

    // 1. A three-page scan: pictures of text, no text layer.
    const file = await scannedPdf(path.join(dir, "quarterly-report.pdf"), PAGES);

    // 2. Upload it as the GraphQL multipart request spec says (operations, map, the file part).
    const form = new FormData();
    form.set("operations", JSON.stringify({
      query: "mutation($file: File!) { createDocument(input: { file: $file }) { document { id status } } }",
      variables: { file: null },
    }));
    form.set("map", JSON.stringify({ 0: ["variables.file"] }));
    form.set("0", new Blob([new Uint8Array(await readFile(file))], { type: "application/pdf" }), "quarterly-report.pdf");
    const uploaded = await fetch(`${base}/graphql`, { method: "POST", headers: { ...auth, "apollo-require-preflight": "true" }, body: form });
    const uploadText = await uploaded.text();
    expect(uploaded.status, uploadText).toBe(200);
    const upload = JSON.parse(uploadText) as GqlResult<{ createDocument: { document: { id: string; status: string } } }>;
    expect(upload.errors).toBeUndefined();
    const documentId = upload.data!.createDocument.document.id;

    // 3. document.process with small previews.
    const processed = await gql<{ processDocument: { job: { id: string; status: string } } }>(
      "mutation($input: ProcessDocumentInput!) { processDocument(input: $input) { job { id status } } }",
      { input: { documentId, previewWidth: 400 } },
    );
    const jobId = processed.processDocument.job.id;

    // 4. Watch the job live over graphql-ws: its events from the first one (after: "0" replays
    // what happened before the subscription started, then the feed continues with no gap).
    ws = createClient({ url: `ws://127.0.0.1:${port}/graphql`, webSocketImpl: WebSocket, connectionParams: auth, retryAttempts: 0, lazy: true });
    const events: Array<Event & { at: number }> = [];
    const finished = await new Promise<Event>((resolve, reject) => {
      const stop = ws!.subscribe<{ jobEvents: Event }>({
        query: `subscription($jobId: ID!) { jobEvents(filter: { jobId: $jobId }, after: "0") { id kind status stage progress pagesDone pageCount message } }`,
        variables: { jobId },
      }, {
        next: (m) => {
          if (m.errors?.length) return reject(new Error(`subscription error: ${JSON.stringify(m.errors)}`));
          const e = m.data!.jobEvents;
          events.push({ ...e, at: Date.now() });
          if (e.kind === "STATUS" && (e.status === "SUCCEEDED" || e.status === "FAILED" || e.status === "CANCELLED")) {
            stop();
            resolve(e);
          }
        },
        error: (err) => reject(err instanceof Error ? err : new Error(`subscription failed: ${JSON.stringify(err)}`)),
        complete: () => reject(new Error("the subscription completed before the job finished")),
      });
    });
    if (finished.status !== "SUCCEEDED") {
      const job = await gql<{ job: { error: { code: string; message: string } | null } }>("query($id: ID!) { job(id: $id) { error { code message } } }", { id: jobId });
      throw new Error(`document.process ${finished.status}: ${JSON.stringify(job.job.error)}\nevents: ${JSON.stringify(events)}\nserver: ${s.output()}`);
    }

    // 5. What a watcher saw: the stages in order, OCR progress page by page, a line per page.
    expect(events.map((e) => Number(e.id))).toEqual([...events.map((e) => Number(e.id))].sort((x, y) => x - y));
    const stages = events.filter((e) => e.kind === "STAGE").map((e) => e.stage);
    expect(stages).toEqual(["inspect", "text", "ocr", "assemble", "preview", "store"]);
    const ocrStart = events.findIndex((e) => e.kind === "STAGE" && e.stage === "ocr");
    const ocrEnd = events.findIndex((e) => e.kind === "STAGE" && e.stage === "assemble");
    const ocrProgress = events.slice(ocrStart, ocrEnd).filter((e) => e.kind === "PROGRESS" && e.pagesDone != null);
    expect(ocrProgress.length).toBeGreaterThan(0);
    const done = ocrProgress.map((e) => e.pagesDone!);
    for (let i = 1; i < done.length; i++) expect(done[i]).toBeGreaterThan(done[i - 1]!);
    expect(done.at(-1)).toBe(3);
    expect(ocrProgress.every((e) => e.pageCount === 3)).toBe(true);
    const progress = events.filter((e) => e.kind === "PROGRESS" && e.progress != null).map((e) => e.progress!);
    for (let i = 1; i < progress.length; i++) expect(progress[i]).toBeGreaterThanOrEqual(progress[i - 1]!);
    const logs = events.filter((e) => e.kind === "LOG").map((e) => e.message ?? "");
    for (const n of [1, 2, 3]) expect(logs).toContainEqual(expect.stringMatching(new RegExp(`^page ${n}: OCR \\d+ words, confidence \\d+$`)));
    // Live, not a replay of a finished job: the OCR of three 300 dpi pages takes a while, and
    // the events of it arrived over that time, before the job's last one.
    const ocrStageAt = events[ocrStart]!.at;
    expect(events.at(-1)!.at - ocrStageAt).toBeGreaterThan(200);
    expect(ocrProgress[0]!.at).toBeLessThan(events.at(-1)!.at);

    // 6. The document: three OCR pages, the Markdown and three previews, all downloadable.
    const { document } = await gql<{ document: {
      pageCount: number; pages: Array<{ number: number; source: string; confidence: number | null }>;
      outputs: Array<{ url: string }>; previews: Array<{ label: string; url: string }>;
    } }>(
      "query($id: ID!) { document(id: $id) { pageCount pages { number source confidence } outputs(roles: [MARKDOWN]) { url } previews { label url } } }",
      { id: documentId },
    );
    expect(document.pageCount).toBe(3);
    expect(document.pages.map((p) => [p.number, p.source])).toEqual([[1, "OCR"], [2, "OCR"], [3, "OCR"]]);
    for (const p of document.pages) expect(p.confidence).toBeGreaterThan(70);

    expect(document.outputs).toHaveLength(1);
    const md = await fetch(document.outputs[0]!.url);
    expect(md.status).toBe(200);
    expect(md.headers.get("content-type")).toMatch(/^text\/markdown/);
    const markdown = await md.text();
    expect(markdown).toMatch(/^# Quarterly report\n/);
    for (const w of KNOWN_WORDS) expect(markdown).toContain(w);
    // The URL is signed (/files/<asset>/<exp>-<disposition>-<signature>/<name>): another
    // signature is refused.
    const forged = new URL(document.outputs[0]!.url);
    const parts = forged.pathname.split("/");
    parts[3] = parts[3]!.replace(/.$/, (c) => (c === "A" ? "B" : "A"));
    forged.pathname = parts.join("/");
    expect((await fetch(forged)).status).toBe(403);

    expect(document.previews.map((p) => p.label)).toEqual(["page-1", "page-2", "page-3"]);
    for (const p of document.previews) {
      const res = await fetch(p.url);
      expect(res.status).toBe(200);
      const size = pngSize(Buffer.from(await res.arrayBuffer()));
      expect(size.width).toBe(400);
      expect(size.height).toBe(Math.round((400 * 792) / 612)); // US letter, 400 px wide
    }

    // 7. A clean stop.
    await ws.dispose();
    ws = null;
    s.child.kill("SIGTERM");
    expect(await s.exited).toBe(0);
    expect(s.output()).not.toMatch(/"level":(50|60)/); // no error or fatal logs
  });
});
