// A real webhook receiver for the delivery tests: a node:http server on a loopback address
// that keeps every request's raw body bytes and headers, answers per path (default 204),
// and counts TCP connections (to prove a refused send never even connected). Plus the
// standardwebhooks verification a receiver would do, at a chosen "receiver clock".
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";

export type Received = { path: string; method: string; headers: Record<string, string>; raw: Buffer; at: Date };
/** What to answer; "hold" never answers (the sender's connection stays open until it gives up or dies). */
export type Reply = { status: number; headers?: Record<string, string>; body?: string } | "hold";
type Handler = (req: Received, nth: number) => Reply;

export class Receiver {
  readonly received: Received[] = [];
  connections = 0;
  private readonly routes = new Map<string, Handler>();

  private constructor(private readonly server: http.Server, readonly host: string, readonly port: number) {}

  static async start(host = "127.0.0.1", port = 0): Promise<Receiver> {
    const server = http.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve());
    });
    const rx = new Receiver(server, host, (server.address() as AddressInfo).port);
    server.on("connection", () => rx.connections++);
    server.on("request", (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(", ") : v;
        const path = new URL(req.url ?? "/", "http://receiver").pathname;
        const got: Received = { path, method: req.method ?? "", headers, raw: Buffer.concat(chunks), at: new Date() };
        rx.received.push(got);
        const handler = rx.routes.get(path);
        const reply = handler ? handler(got, rx.at(path).length) : { status: 204 };
        if (reply === "hold") return;
        res.writeHead(reply.status, reply.headers);
        res.end(reply.body);
      });
    });
    return rx;
  }

  url(path: string): string {
    return `http://${this.host}:${this.port}${path}`;
  }

  /** How requests to `path` are answered; `nth` counts from 1. */
  on(path: string, handler: Handler): void {
    this.routes.set(path, handler);
  }

  at(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** `new Webhook(secret).verify(raw, headers)` as a receiver whose clock reads `at` (default: now) would run it. */
export function verifyAt(secret: string, raw: Buffer | string, headers: Record<string, string>, at?: Date): unknown {
  const realNow = Date.now;
  if (at) Date.now = () => at.getTime();
  try {
    return new Webhook(secret).verify(raw, headers);
  } finally {
    Date.now = realNow;
  }
}

/** A Relay global id as the API and the webhook payloads show it. */
export function globalId(type: string, id: string): string {
  return Buffer.from(`${type}:${id}`, "utf8").toString("base64");
}
