// Spool's HTTP and WebSocket front: graphql-yoga on /graphql (GraphiQL in a browser, SSE
// for subscriptions), graphql-ws on the same path whose operations go through the same
// envelop plugins (limits, error masking, context), and /health.
import { randomUUID } from "node:crypto";
import http from "node:http";
import { EnvelopArmorPlugin } from "@escape.tech/graphql-armor";
import { GraphQLError, type ExecutionArgs } from "graphql";
import { useServer } from "graphql-ws/use/ws";
import { createFetch } from "@whatwg-node/fetch";
import { createYoga, type Plugin } from "graphql-yoga";
import { WebSocketServer } from "ws";
import { keyFrom, principalFor, type Context, type Deps } from "./graphql/context.ts";
import { expectedCode, maskError } from "./graphql/mask-error.ts";
import { DEFAULT_PAGE } from "./graphql/builder.ts";
import { useCostLimit } from "./graphql/cost.ts";
import { useHideSchema } from "./graphql/hide-schema.ts";
import { buildSchema } from "./graphql/schema.ts";
import { createFilesHandler } from "./http/files.ts";
import { UPLOADS_PATH } from "./http/uploads.ts";

export type ServerOptions = Deps & {
  introspection: boolean;
  graphiql: boolean;
  /** Extra parts of /health (listener, engine, processing dependencies). */
  health: () => Promise<Record<string, unknown> & { database: "up" | "down" }>;
  /** The tus endpoint (http/uploads.ts), mounted at /uploads. */
  uploads?: { handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> | void };
};

/** The origin the caller reached us at, for URLs handed back when SPOOL_PUBLIC_URL is unset. */
function originOf(request: { url: string; headers: Headers } | undefined): string {
  if (!request) return "http://localhost";
  try {
    return new URL(request.url).origin;
  } catch {
    return `http://${request.headers.get("host") ?? "localhost"}`;
  }
}

/** Limits on what one document may ask (graphql-armor), the same on HTTP and WebSocket. */
export const DOCUMENT_LIMITS = {
  maxDepth: 12,
  maxAliases: 20,
  maxTokens: 3_000,
  maxDirectives: 20,
  maxCost: 10_000,
};

/**
 * Gives an armor limit's refusal its stable code (armor sets none) and drops the "Syntax
 * Error: " armor puts before every refusal, a depth or alias count included.
 */
function refusedWith(code: string) {
  return {
    onReject: [(_ctx: unknown, error: GraphQLError) => {
      (error.extensions as Record<string, unknown>).code = code;
      error.message = error.message.replace(/^Syntax Error: /, "");
    }],
  };
}

/**
 * yoga's codes for a document that does not parse or validate, which its HTTP plugins set
 * (`||=`, so a limit's own code stays); graphql-ws operations get the same.
 */
function withCode<E extends GraphQLError>(errors: readonly E[], code: string): E[] {
  for (const e of errors) (e.extensions as Record<string, unknown>).code ||= code;
  return [...errors];
}

/** Operations at once on one WebSocket (mostly subscriptions): one client's share of the server. */
export const MAX_OPERATIONS_PER_SOCKET = 100;

const REQUEST_ID = /^[A-Za-z0-9._-]{1,100}$/;

/** Every response carries x-request-id (the caller's, if sane, else a new one). */
function useRequestId(ids: WeakMap<Request, string>): Plugin {
  return {
    onRequest({ request }) {
      const given = request.headers.get("x-request-id");
      ids.set(request, given && REQUEST_ID.test(given) ? given : randomUUID());
    },
    onResponse({ request, response }) {
      const id = ids.get(request);
      if (id) response.headers.set("x-request-id", id);
    },
  };
}

/**
 * Tags unexpected errors with the request id before yoga masks them; maskError keeps the
 * tag in the masked error and its log line, so a user can quote the id an operator greps.
 */
function useRequestIdOnUnexpectedErrors(): Plugin<Context> {
  return {
    onExecute: () => ({
      onExecuteDone: ({ args, result }) => {
        if (!result || typeof result !== "object" || !("errors" in result) || !result.errors) return;
        const { requestId } = args.contextValue as Context;
        for (const error of result.errors) {
          if (!expectedCode(error) && error.extensions) (error.extensions as Record<string, unknown>).requestId = requestId;
        }
      },
    }),
  };
}

/**
 * Closes a WebSocket whose connection_init is refused with 4403 (or `code`) and a reason that
 * says what to do; graphql-ws's own close that follows (4403 "Forbidden") is then a no-op.
 * A close reason holds at most 123 bytes.
 */
function refuseConnection(socket: { close(code: number, reason: string): void }, reason: string, code = 4403): false {
  socket.close(code, reason);
  return false;
}

export function createGraphQLServer(opts: ServerOptions) {
  const ids = new WeakMap<Request, string>();
  const deps: Deps = { pool: opts.pool, prisma: opts.prisma, registry: opts.registry, log: opts.log, liveUpdates: opts.liveUpdates, assets: opts.assets, publicUrl: opts.publicUrl, webhooks: opts.webhooks };
  const serveFile = opts.assets ? createFilesHandler({ assets: opts.assets, pool: opts.pool, log: opts.log }) : null;
  const yoga = createYoga<{ connectionParams?: Record<string, unknown>; req?: http.IncomingMessage }, Context>({
    schema: buildSchema(),
    graphqlEndpoint: "/graphql",
    graphiql: opts.graphiql ? { title: "Spool", subscriptionsProtocol: "WS" } : false,
    landingPage: false,
    // yoga's multipart parser holds each file in memory, so multipart is for small files
    // (SPOOL_MAX_MULTIPART_BYTES); large ones go through tus at /uploads, streamed to disk.
    multipart: true,
    fetchAPI: createFetch({
      formDataLimits: { fileSize: opts.assets?.limits.multipartBytes ?? 0, files: 1, fields: 10, fieldSize: 1024 * 1024, parts: 12 },
    }),
    logging: {
      debug: () => undefined,
      info: () => undefined,
      warn: (...a: unknown[]) => opts.log.warn(a.map(String).join(" ")),
      // Expected failures (a stable code other than INTERNAL_SERVER_ERROR) are the client's
      // business, not an operator's: debug. maskError logs the unexpected ones.
      error: (...a: unknown[]) => {
        const code = expectedCode(a[0]);
        if (code) opts.log.debug({ code }, String(a[0]));
        else opts.log.error(a.map(String).join(" "));
      },
    },
    maskedErrors: { maskError: maskError(opts.log) },
    plugins: [
      useRequestId(ids),
      useRequestIdOnUnexpectedErrors(),
      EnvelopArmorPlugin({
        maxDepth: { n: DOCUMENT_LIMITS.maxDepth, ...refusedWith("DEPTH_LIMIT_EXCEEDED") },
        maxAliases: { n: DOCUMENT_LIMITS.maxAliases, ...refusedWith("ALIAS_LIMIT_EXCEEDED") },
        maxTokens: { n: DOCUMENT_LIMITS.maxTokens, ...refusedWith("TOKEN_LIMIT_EXCEEDED") },
        maxDirectives: { n: DOCUMENT_LIMITS.maxDirectives, ...refusedWith("DIRECTIVE_LIMIT_EXCEEDED") },
        // useCostLimit instead; useHideSchema blocks suggestions, in execution errors too.
        costLimit: { enabled: false },
        blockFieldSuggestion: { enabled: false },
      }),
      useCostLimit({ maxCost: DOCUMENT_LIMITS.maxCost, defaultPageSize: DEFAULT_PAGE }),
      ...(opts.introspection ? [] : [useHideSchema()]),
    ],
    context: async ({ request, req, connectionParams }) => {
      const requestId = (request && ids.get(request)) ?? randomUUID();
      // On WebSocket there is no fetch Request, only the upgrade's IncomingMessage: a key sent
      // in its headers (which onConnect accepted) is this operation's key too.
      const headers = request?.headers ?? new Headers(req?.headers as Record<string, string> | undefined);
      const principal = await principalFor(deps, keyFrom(headers, connectionParams));
      const baseUrl = opts.publicUrl ?? originOf(request as never);
      return { ...deps, requestId, principal, baseUrl, log: opts.log.child({ requestId }) };
    },
  });

  const server = http.createServer(async (req, res) => {
    if (req.url === "/health" && req.method === "GET") {
      const parts = await opts.health();
      const status = parts.database === "down" ? "unhealthy" : Object.values(parts).some((v) => v === "down") ? "degraded" : "healthy";
      res.writeHead(status === "unhealthy" ? 503 : 200, { "content-type": "application/json" });
      res.end(JSON.stringify({ status, ...parts }));
      return;
    }
    if (req.url?.startsWith("/graphql")) return yoga(req, res);
    if (serveFile && req.url?.startsWith("/files/")) {
      return serveFile(req, res).catch((err) => {
        opts.log.error({ err: err.message }, "file download failed");
        if (!res.headersSent) res.writeHead(500).end();
        else res.destroy();
      });
    }
    if (opts.uploads && (req.url === UPLOADS_PATH || req.url?.startsWith(`${UPLOADS_PATH}/`))) return opts.uploads.handle(req, res);
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: { code: "NOT_FOUND", message: `No route ${req.method} ${req.url}. The API is at /graphql.` } }));
  });

  // graphql-ws on the same path. Each operation is run through yoga's envelop, so the same
  // plugins (armor limits, masking, context with the caller) apply as on HTTP.
  const wss = new WebSocketServer({ server, path: yoga.graphqlEndpoint });
  const wsServer = useServer(
    {
      onConnect: async (ctx) => {
        const key = keyFrom(new Headers(ctx.extra.request.headers as Record<string, string>), ctx.connectionParams);
        if (!key) return refuseConnection(ctx.extra.socket, `Send an API key in connection_init: { "authorization": "Bearer <key>" }.`);
        try {
          return (await principalFor(deps, key)) !== null;
        } catch (err) {
          // 4503, like HTTP's 503: graphql-ws clients retry it; 4403 would say the key is bad.
          if (expectedCode(err) === "UNAVAILABLE") return refuseConnection(ctx.extra.socket, "Could not check the API key (database unreachable); try again in a few seconds.", 4503);
          return refuseConnection(ctx.extra.socket, `Unknown, malformed or revoked API key; send a valid one in connection_init: { "authorization": "Bearer <key>" }.`);
        }
      },
      execute: (args: ExecutionArgs) => (args.rootValue as { execute: (a: ExecutionArgs) => unknown }).execute(args) as never,
      subscribe: (args: ExecutionArgs) => (args.rootValue as { subscribe: (a: ExecutionArgs) => unknown }).subscribe(args) as never,
      onSubscribe: async (ctx, _id, params) => {
        // ctx.subscriptions already holds this operation.
        if (Object.keys(ctx.subscriptions).length > MAX_OPERATIONS_PER_SOCKET) {
          return [new GraphQLError(`At most ${MAX_OPERATIONS_PER_SOCKET} operations at once on one connection; complete some first.`, { extensions: { code: "RATE_LIMITED" } })];
        }
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params,
          connectionParams: ctx.connectionParams,
        });
        // Parse and validation errors — armor's limits among them, which it throws — are this
        // operation's error, not the socket's: thrown here, graphql-ws would drop the socket.
        let document: ReturnType<typeof parse>;
        try {
          document = parse(params.query);
        } catch (err) {
          if ((err as { name?: string }).name === "GraphQLError") return withCode([err as GraphQLError], "GRAPHQL_PARSE_FAILED");
          throw err;
        }
        try {
          const errors = validate(schema, document);
          if (errors.length) return withCode(errors, "GRAPHQL_VALIDATION_FAILED");
        } catch (err) {
          if ((err as { name?: string }).name === "GraphQLError") return withCode([err as GraphQLError], "GRAPHQL_VALIDATION_FAILED");
          throw err;
        }
        // The key is checked again for every operation: one revoked since connection_init
        // answers this operation UNAUTHENTICATED (thrown, graphql-ws would close with 4500).
        let contextValue: Context;
        try {
          contextValue = (await contextFactory()) as Context;
        } catch (err) {
          // Masking has already made it a GraphQLError; expected ones keep their code.
          const code = expectedCode(err);
          if (code) return [new GraphQLError((err as Error).message, { extensions: { code } })];
          throw err;
        }
        return {
          schema,
          operationName: params.operationName,
          document,
          variableValues: params.variables,
          contextValue,
          rootValue: { execute, subscribe },
        };
      },
    },
    wss,
  );

  return {
    yoga,
    server,
    async close() {
      await wsServer.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections?.();
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

