// One LISTEN connection per process. Everything that wants Postgres notifications (the
// engine's wake-ups and cancels, GraphQL subscriptions) subscribes here instead of
// opening its own connection.
//
// NOTIFY is a hint, Postgres is the truth: when the connection drops, `onDown` handlers
// run (live subscriptions end so clients resubscribe and read the current state; the
// engine keeps polling) and the listener reconnects with backoff, then `onUp` handlers run.
import pg from "pg";
import type { Logger } from "../log.ts";

type Handler = (payload: string) => void;

export class PgListener {
  private client: pg.Client | null = null;
  private readonly handlers = new Map<string, Set<Handler>>();
  private readonly downHandlers = new Set<(err: Error) => void>();
  private readonly upHandlers = new Set<() => void>();
  private stopped = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryMs = 100;
  connected = false;

  constructor(
    private readonly connectionString: string,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    await this.connect();
  }

  /** Calls `handler` for every notification on `channel`; returns the unsubscribe. */
  on(channel: string, handler: Handler): () => void {
    let set = this.handlers.get(channel);
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
      if (this.client && this.connected) this.client.query(`listen ${pg.escapeIdentifier(channel)}`).catch((err) => this.lost(err));
    }
    set.add(handler);
    return () => {
      set.delete(handler);
    };
  }

  onDown(handler: (err: Error) => void): () => void {
    this.downHandlers.add(handler);
    return () => this.downHandlers.delete(handler);
  }

  onUp(handler: () => void): () => void {
    this.upHandlers.add(handler);
    return () => this.upHandlers.delete(handler);
  }

  /** Ends the connection abruptly, as a network failure would (used by tests). */
  simulateDrop(): void {
    this.client?.emit("error", new Error("listener connection dropped (simulated)"));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = null;
    this.connected = false;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString, keepAlive: true });
    client.on("error", (err) => this.lost(err, client));
    client.on("end", () => this.lost(new Error("listener connection ended"), client));
    client.on("notification", (msg) => {
      for (const h of this.handlers.get(msg.channel) ?? []) {
        try {
          h(msg.payload ?? "");
        } catch (err) {
          this.log.error({ err, channel: msg.channel }, "notification handler failed");
        }
      }
    });
    this.client = client;
    await client.connect();
    for (const channel of this.handlers.keys()) await client.query(`listen ${pg.escapeIdentifier(channel)}`);
    this.connected = true;
    this.retryMs = 100;
  }

  private lost(err: Error, client: pg.Client | null = this.client): void {
    if (this.stopped || client !== this.client || !this.client) return;
    this.log.warn({ err: err.message }, "LISTEN connection lost; reconnecting");
    this.client = null;
    const wasConnected = this.connected;
    this.connected = false;
    client?.end().catch(() => undefined);
    if (wasConnected) for (const h of this.downHandlers) h(err);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.retryTimer) return;
    this.retryTimer = setTimeout(async () => {
      this.retryTimer = null;
      try {
        await this.connect();
        this.log.info("LISTEN connection restored");
        for (const h of this.upHandlers) h();
      } catch (err) {
        this.client = null;
        this.retryMs = Math.min(this.retryMs * 2, 5_000);
        this.log.warn({ err: (err as Error).message, retryMs: this.retryMs }, "LISTEN reconnect failed");
        this.scheduleReconnect();
      }
    }, this.retryMs);
  }
}
