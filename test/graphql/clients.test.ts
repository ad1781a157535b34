// The README's client code, run as written: the ```js blocks after "graphql-ws", "Apollo
// Client" and "urql" in README.md are each written to a module inside the repo (so their
// imports resolve from node_modules) and run by this Node against a real server on a loopback
// port. The test only supplies what the README leaves to the reader — `key`, `jobId`, the
// server's address for 127.0.0.1:4000 — and, for a snippet that only builds a client, a few
// lines that use it. A snippet that drifts from what works on Node fails here.
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../src/engine/engine.ts";
import { PgListener } from "../../src/pubsub/pg-listener.ts";
import { submitJob } from "../../src/services/jobs.ts";
import { createTestDatabase, log, waitFor, type TestDb } from "../helpers.ts";
import { createTestApi, type Api } from "./api-helpers.ts";

const README = fileURLToPath(new URL("../../README.md", import.meta.url));
// Inside the repo for module resolution, outside git's view (node_modules is ignored).
const SCRATCH_PARENT = fileURLToPath(new URL("../../node_modules/.cache/", import.meta.url));
const README_ORIGIN = "127.0.0.1:4000";

let db: TestDb;
let api: Api;
let origin: string;
let tenant: { key: string; org: { id: string } };
let listener: PgListener;
let readme: string;
let scratch: string;

beforeAll(async () => {
  readme = await readFile(README, "utf8");
  await mkdir(SCRATCH_PARENT, { recursive: true });
  scratch = await mkdtemp(path.join(SCRATCH_PARENT, "spool-readme-clients-"));
  db = await createTestDatabase();
  listener = new PgListener(db.url, log);
  await listener.start();
  api = await createTestApi(db, { listener });
  origin = new URL((await api.listen()).http).host;
  tenant = await api.tenant();
});
afterAll(async () => {
  await api?.close();
  await listener?.stop();
  await db?.drop();
  await rm(scratch, { recursive: true, force: true });
});

/** The ```js block right after the README paragraph that starts with `label`. */
function readmeBlock(label: string): string {
  const block = new RegExp(`^${label}\\b[^\\n]*:\\n\\n\`\`\`js\\n([\\s\\S]*?)\`\`\`\\n`, "m").exec(readme)?.[1];
  if (!block) throw new Error(`README.md has no \`\`\`js block after a paragraph starting "${label}"`);
  expect(block).toContain(README_ORIGIN); // or it would not talk to the server under test
  return block;
}

/** Runs README code in a child node with `key` and `jobId` defined, then `epilogue`. */
async function runSnippet(name: string, code: string, jobId: string, epilogue = "") {
  const file = path.join(scratch, `${name}.mjs`);
  const prelude = "const key = process.env.SPOOL_KEY;\nconst jobId = process.env.SPOOL_JOB_ID;\n";
  await writeFile(file, `${prelude}${code.replaceAll(README_ORIGIN, origin)}\n${epilogue}`);
  const child = spawn(process.execPath, [file], {
    env: { ...process.env, SPOOL_KEY: tenant.key, SPOOL_JOB_ID: jobId },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let exit: number | null | undefined;
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  child.on("exit", (code) => (exit = code));
  const seen = (pattern: RegExp) => waitFor(async () => {
    if (exit !== undefined && !pattern.test(out)) throw new Error(`${name} snippet exited (${exit}) before printing ${pattern}:\n${out}`);
    return pattern.test(out);
  }, `${name} snippet to print ${pattern}`).catch((err: Error) => {
    throw new Error(`${err.message}; its output:\n${out}`);
  });
  return { seen, output: () => out, stop: () => child.kill() };
}

async function queueJob(): Promise<string> {
  const { job } = await submitJob(db.pool, api.registry, tenant.org.id, { type: "system.cleanup", input: { maxAgeSeconds: 60 } });
  return job.id;
}

/** Runs every queued job to its end, as a worker would. */
const drain = () => new Engine({ pool: db.enginePool, registry: api.registry, log, concurrency: 4 }).drain();

describe("the README's client snippets, run with node", () => {
  it("graphql-ws: watches a job from QUEUED to SUCCEEDED, then completes", async () => {
    const jobId = await queueJob();
    const run = await runSnippet("graphql-ws", readmeBlock("graphql-ws"), jobId);
    try {
      // The subscription's first value is the job as it is: now it is attached.
      await run.seen(/status: 'QUEUED'/);
      await drain();
      await run.seen(/^done$/m);
      expect(run.output()).toMatch(/status: 'SUCCEEDED'/);
    } finally {
      run.stop();
    }
  });

  it("Apollo Client: a query over HTTP and a subscription over graphql-ws", async () => {
    const jobId = await queueJob();
    const uses = `
import { gql } from "@apollo/client";
const { data } = await client.query({ query: gql\`{ jobs(first: 5) { totalCount } }\` });
console.log("query", JSON.stringify(data));
client.subscribe({ query: gql\`subscription($id: ID!) { job(id: $id) { status } }\`, variables: { id: jobId } }).subscribe({
  next: ({ data }) => console.log("status", data.job.status),
  error: (err) => { console.error("error", err); process.exit(1); },
  complete: () => { console.log("complete"); process.exit(0); },
});`;
    const run = await runSnippet("apollo", readmeBlock("Apollo Client"), jobId, uses);
    try {
      await run.seen(/^query \{"jobs":\{.*"totalCount":[1-9]/m);
      await run.seen(/^status QUEUED$/m);
      await drain();
      await run.seen(/^complete$/m);
      expect(run.output()).toMatch(/^status SUCCEEDED$/m);
    } finally {
      run.stop();
    }
  });

  it("urql: a query over HTTP and the organization's event feed over graphql-ws", async () => {
    const uses = `
const result = await client.query("{ jobs(first: 5) { totalCount } }", {}).toPromise();
console.log("query", JSON.stringify(result.data ?? result.error?.message));`;
    const run = await runSnippet("urql", readmeBlock("urql"), "", uses);
    try {
      await run.seen(/^query \{"jobs":\{.*"totalCount":\d+/m);
      // The feed is live only, and nothing says when it is attached: run jobs until one shows.
      await waitFor(async () => {
        await queueJob();
        await drain();
        return /status: 'SUCCEEDED'/.test(run.output());
      }, `a job's SUCCEEDED event in the urql snippet's output (so far:\n${run.output()})`, 20_000, 250);
      expect(run.output()).toMatch(/kind: 'STATUS'/);
    } finally {
      run.stop();
    }
  });
});
