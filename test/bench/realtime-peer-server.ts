// The named peer of `npm run bench:realtime`: the same transport stack as `spool serve`
// (graphql-yoga 5 + graphql-armor, graphql-ws 6 on the same /graphql path, each operation run
// through yoga's envelop as src/server.ts does), but the subscriptions are fed by yoga's
// in-memory `createPubSub` and there is no Postgres at all: no NOTIFY, no sequencing, no row
// reads, no API-key lookup (the token names the organization). Run as a child process of the
// bench (`fork`), so its RSS is measured alone; the bench sends it the jobs and events over
// the IPC channel, as a worker's events reach `spool serve` over NOTIFY.
//
// Schema: the subset of Spool's that the bench asks for (Job, JobEvent, job(id), jobEvents).
// job(id) yields the current state, then the state after every event of the job (log lines
// included, as Spool's does), and completes after a finished state. jobEvents yields the
// organization's events, filtered by jobId/kinds; `after` is accepted and ignored (no history).
import { setMaxListeners } from "node:events";
import http from "node:http";
import { EnvelopArmorPlugin } from "@escape.tech/graphql-armor";
import { GraphQLError, type ExecutionArgs } from "graphql";
import { useServer } from "graphql-ws/use/ws";
import { createPubSub, createSchema, createYoga } from "graphql-yoga";
import { WebSocketServer } from "ws";

type Job = { id: string; gid: string; org: string; status: string; stage: string | null; progress: number; updatedAt: string };
type Ev = { id: string; org: string; job: string; jobId: string; kind: string; progress: number | null; message: string | null; createdAt: string };

/** From the bench, over IPC. */
export type PeerMessage =
  | { t: "jobs"; jobs: Array<{ id: string; org: string; status: string }> }
  | { t: "event"; id: number; org: string; job: string; kind: string; status?: string; progress?: number; message?: string }
  | { t: "stats"; seq: number };

const TERMINAL = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);
const gid = (id: string) => Buffer.from(`Job:${id}`).toString("base64");

const target = new EventTarget();
setMaxListeners(1_000_000, target); // thousands of listeners per topic are the point, not a leak
const pubSub = createPubSub<{ job: [id: string, job: Job]; events: [org: string, e: Ev] }>({ eventTarget: target as never });
const jobs = new Map<string, Job>();
/** Subscriptions whose pubsub listener is attached (the bench waits for all of them). */
let live = 0;

/** Attaches the listener now (a Repeater starts on its first next()), counts it while it lives. */
async function* topic<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  let pending = it.next();
  live++;
  try {
    for (;;) {
      const r = await pending;
      if (r.done) return;
      yield r.value;
      pending = it.next();
    }
  } finally {
    live--;
    await it.return?.();
  }
}

async function* jobStream(id: string): AsyncGenerator<Job> {
  const updates = topic(pubSub.subscribe("job", id));
  const started = updates.next(); // listener attached before the current state is read
  try {
    const now = jobs.get(id)!;
    yield now;
    if (TERMINAL.has(now.status)) return;
    for (let r = await started; !r.done; r = await updates.next()) {
      yield r.value;
      if (TERMINAL.has(r.value.status)) return;
    }
  } finally {
    await updates.return(undefined);
  }
}

async function* feed(org: string, filter: { jobId?: string | null; kinds?: string[] | null } | null): AsyncGenerator<Ev> {
  const job = filter?.jobId ? Buffer.from(filter.jobId, "base64").toString().replace(/^Job:/, "") : null;
  const kinds = filter?.kinds?.length ? filter.kinds : null;
  for await (const e of topic(pubSub.subscribe("events", org))) {
    if ((!job || e.job === job) && (!kinds || kinds.includes(e.kind))) yield e;
  }
}

function orgOf(ctx: { connectionParams?: Record<string, unknown> }): string {
  const raw = ctx.connectionParams?.authorization;
  const org = typeof raw === "string" ? raw.replace(/^Bearer\s+peer:/, "") : "";
  if (!org) throw new GraphQLError("Unauthenticated", { extensions: { code: "UNAUTHENTICATED" } });
  return org;
}

const schema = createSchema<{ connectionParams?: Record<string, unknown> }>({
  typeDefs: /* GraphQL */ `
    scalar JSON
    type Job { id: ID! status: String! stage: String progress: Float! updatedAt: String! }
    type JobEvent { id: String! jobId: ID! kind: String! status: String progress: Float message: String createdAt: String! }
    input JobEventFilter { jobId: ID, types: [String!], kinds: [String!] }
    type Query { ok: Boolean! }
    type Subscription {
      job(id: ID!): Job
      jobEvents(after: String, filter: JobEventFilter): JobEvent
    }
  `,
  resolvers: {
    Query: { ok: () => true },
    Job: { id: (j: Job) => j.gid },
    Subscription: {
      job: {
        subscribe: (_r: unknown, args: { id: string }, ctx: { connectionParams?: Record<string, unknown> }) => {
          const org = orgOf(ctx);
          const j = jobs.get(args.id);
          if (!j || j.org !== org) throw new GraphQLError(`No job ${args.id}`, { extensions: { code: "NOT_FOUND" } });
          return jobStream(args.id);
        },
        resolve: (j: Job) => j,
      },
      jobEvents: {
        subscribe: (_r: unknown, args: { filter?: { jobId?: string; kinds?: string[] } | null }, ctx: { connectionParams?: Record<string, unknown> }) =>
          feed(orgOf(ctx), args.filter ?? null),
        resolve: (e: Ev) => e,
      },
    },
  },
});

// The same limits as src/server.ts (DOCUMENT_LIMITS), copied so this process loads none of Spool.
const yoga = createYoga<{ connectionParams?: Record<string, unknown> }>({
  schema,
  graphqlEndpoint: "/graphql",
  graphiql: false,
  landingPage: false,
  logging: false,
  plugins: [EnvelopArmorPlugin({ maxDepth: { n: 12 }, maxAliases: { n: 20 }, maxTokens: { n: 3_000 }, maxDirectives: { n: 20 }, costLimit: { maxCost: 10_000 } })],
  context: ({ connectionParams }) => ({ connectionParams }),
});

const server = http.createServer((req, res) => {
  if (req.url?.startsWith("/graphql")) return yoga(req, res);
  res.writeHead(404).end();
});
const wss = new WebSocketServer({ server, path: "/graphql" });
const wsServer = useServer(
  {
    onConnect: (ctx) => typeof ctx.connectionParams?.authorization === "string",
    execute: (args: ExecutionArgs) => (args.rootValue as { execute: (a: ExecutionArgs) => unknown }).execute(args) as never,
    subscribe: (args: ExecutionArgs) => (args.rootValue as { subscribe: (a: ExecutionArgs) => unknown }).subscribe(args) as never,
    onSubscribe: async (ctx, _id, params) => {
      const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
        ...ctx, req: ctx.extra.request, socket: ctx.extra.socket, params, connectionParams: ctx.connectionParams,
      });
      const document = parse(params.query);
      const errors = validate(schema, document);
      if (errors.length) return errors;
      return { schema, operationName: params.operationName, document, variableValues: params.variables, contextValue: await contextFactory(), rootValue: { execute, subscribe } };
    },
  },
  wss,
);

process.on("message", (m: PeerMessage) => {
  if (m.t === "jobs") {
    const at = new Date().toISOString();
    for (const j of m.jobs) jobs.set(j.id, { id: j.id, gid: gid(j.id), org: j.org, status: j.status, stage: null, progress: 0, updatedAt: at });
  } else if (m.t === "event") {
    const at = new Date().toISOString();
    const j = jobs.get(m.job);
    if (!j) return;
    const next: Job = { ...j, status: m.status ?? j.status, progress: m.progress ?? j.progress, updatedAt: at };
    jobs.set(m.job, next);
    const e: Ev = { id: String(m.id), org: m.org, job: m.job, jobId: j.gid, kind: m.kind, progress: m.progress ?? null, message: m.message ?? null, createdAt: at };
    pubSub.publish("events", m.org, e);
    pubSub.publish("job", m.job, next);
  } else if (m.t === "stats") {
    process.send?.({ t: "stats", seq: m.seq, live });
  }
});

let closing = false;
process.on("SIGTERM", () => {
  if (closing) return;
  closing = true;
  void (async () => {
    await wsServer.dispose();
    await new Promise<void>((r) => wss.close(() => r()));
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    process.exit(0);
  })();
});
process.on("disconnect", () => process.kill(process.pid, "SIGTERM"));

server.listen(0, "127.0.0.1", () => {
  const { port } = server.address() as { port: number };
  process.stderr.write(`${JSON.stringify({ level: 30, msg: "listening", url: `http://127.0.0.1:${port}` })}\n`);
});
