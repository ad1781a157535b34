// What every resolver sees: the database, the engine's registry, the caller (from an API
// key on HTTP or in the WebSocket connection_init payload) and a request id.
import type pg from "pg";
import type { PrismaClient } from "../generated/prisma/client.ts";
import type { Logger } from "../log.ts";
import type { ProcessorRegistry } from "../engine/registry.ts";
import type { LiveUpdates } from "../pubsub/live-updates.ts";
import { SpoolError } from "../errors.ts";
import { authenticate, type Principal, type Scope } from "../services/api-keys.ts";
import type { AssetServices } from "../services/assets.ts";
import type { WebhookDeps } from "../services/webhooks.ts";

export type Deps = {
  pool: pg.Pool;
  prisma: PrismaClient;
  registry: ProcessorRegistry;
  log: Logger;
  /** Live job state and events for subscriptions; absent where nothing LISTENs (subscriptions answer UNAVAILABLE). */
  liveUpdates?: LiveUpdates;
  /** Storage and ingest; absent in engine-only setups (asset operations answer UNAVAILABLE). */
  assets?: AssetServices;
  /** SPOOL_PUBLIC_URL: where clients reach Spool, for the URLs it hands out. */
  publicUrl?: string;
  /** Webhook endpoint management (the secrets key); absent → webhook operations answer UNAVAILABLE. */
  webhooks?: WebhookDeps;
};

export type Context = Deps & {
  requestId: string;
  principal: Principal | null;
  /** Base of URLs handed to this caller: SPOOL_PUBLIC_URL, else the origin the request came to. */
  baseUrl: string;
};

export function assetsOf(ctx: Context): AssetServices {
  if (!ctx.assets) throw new SpoolError("UNAVAILABLE", "File storage is not configured on this server.");
  return ctx.assets;
}

export function webhooksOf(ctx: Context): WebhookDeps {
  if (!ctx.webhooks) throw new SpoolError("UNAVAILABLE", "Webhooks are not configured on this server.");
  return ctx.webhooks;
}

export function liveUpdatesOf(ctx: Context): LiveUpdates {
  if (!ctx.liveUpdates) throw new SpoolError("UNAVAILABLE", "Live updates are not enabled on this server.");
  return ctx.liveUpdates;
}

/** `Authorization: Bearer <key>` or `X-API-Key: <key>`; on WebSocket, the same in connection_init. */
export function keyFrom(headers: { get(name: string): string | null }, params?: Record<string, unknown> | null): string | null {
  const fromParams = params && (typeof params.apiKey === "string" ? params.apiKey : typeof params.authorization === "string" ? params.authorization : null);
  const raw = fromParams ?? headers.get("authorization") ?? headers.get("x-api-key");
  if (!raw) return null;
  return raw.replace(/^Bearer\s+/i, "").trim() || null;
}

export async function principalFor(deps: Deps, key: string | null): Promise<Principal | null> {
  if (!key) return null;
  let principal: Principal | null;
  try {
    principal = await authenticate(deps.prisma, key);
  } catch (err) {
    // The key could not be checked (the database is unreachable), which says nothing about
    // the key: a client told UNAUTHENTICATED would replace a good key instead of retrying.
    deps.log.warn({ err: (err as Error).message }, "could not check an API key");
    throw new SpoolError("UNAVAILABLE", "The API key could not be checked: the database is unreachable. Try again in a few seconds.");
  }
  if (!principal) throw new SpoolError("UNAUTHENTICATED", "The API key is unknown, malformed or revoked. Create a key with `spool keys create` and send it as `Authorization: Bearer <key>`.");
  return principal;
}

/** The caller, who must hold `scope` (or `admin`). */
export function requireScope(ctx: Context, scope: Scope): Principal {
  if (!ctx.principal) {
    throw new SpoolError("UNAUTHENTICATED", "Send an API key as `Authorization: Bearer <key>` (HTTP) or `{ \"authorization\": \"Bearer <key>\" }` in connection_init (WebSocket).");
  }
  if (!ctx.principal.scopes.includes(scope) && !ctx.principal.scopes.includes("admin")) {
    throw new SpoolError("FORBIDDEN", `This API key lacks the ${scope} scope.`);
  }
  return ctx.principal;
}
