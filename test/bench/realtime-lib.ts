// Helpers of `npm run bench:realtime`: the server under test as a child process (its URL from
// its JSON log line, its RSS and CPU from /proc), a graphql-ws client pool, statistics, the table.
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";

export { sleep };

/** Wall-clock milliseconds with sub-millisecond precision, comparable across the bench's code. */
export const nowMs = () => performance.timeOrigin + performance.now();

export type ServerChild = {
  name: string;
  pid: number;
  url: string;
  proc: ChildProcess;
  /** VmRSS in KiB. */
  rssKb(): number;
  /** user + system CPU time so far, in seconds. */
  cpuSeconds(): number;
  /** SIGTERM, then SIGKILL after `ms`; resolves with the exit code. */
  stop(ms?: number): Promise<number | null>;
};

/**
 * Starts a server process and waits for the JSON log line with its `url`. Its other log lines
 * at warn or above (pino level ≥ 40) are passed on to our stderr, prefixed.
 */
export async function startServer(name: string, command: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; ipc?: boolean; timeoutMs?: number }): Promise<ServerChild> {
  const proc = spawn(command, args, { cwd: opts.cwd, env: opts.env, stdio: opts.ipc ? ["ignore", "pipe", "pipe", "ipc"] : ["ignore", "pipe", "pipe"] });
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
  proc.stdout!.resume(); // the admin-key banner and the like; not used
  let buf = "";
  let tail: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name}: no "url" log line within ${opts.timeoutMs ?? 60_000} ms; last output:\n${tail.join("\n")}`)), opts.timeoutMs ?? 60_000);
    proc.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before listening; last output:\n${tail.join("\n")}`));
    });
    proc.stderr!.setEncoding("utf8");
    proc.stderr!.on("data", (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        tail = [...tail.slice(-20), line];
        let o: { url?: unknown; level?: unknown } | null = null;
        try {
          o = JSON.parse(line);
        } catch {
          process.stderr.write(`[${name}] ${line}\n`);
          continue;
        }
        if (typeof o?.url === "string" && o.url.startsWith("http://")) {
          clearTimeout(timer);
          resolve(o.url);
        } else if (typeof o?.level === "number" && o.level >= 40) process.stderr.write(`[${name}] ${line}\n`);
      }
    });
  });
  const pid = proc.pid!;
  return {
    name, pid, url, proc,
    rssKb: () => {
      const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      return m ? Number(m[1]) : NaN;
    },
    cpuSeconds: () => {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return (Number(f[11]) + Number(f[12])) / 100; // utime, stime (fields 14, 15) in USER_HZ
    },
    async stop(ms = 15_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill("SIGTERM");
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([exited, new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), ms)))]);
      clearTimeout(timer);
      if (code !== "timeout") return code;
      process.stderr.write(`bench: ${name} (pid ${pid}) did not exit within ${ms} ms of SIGTERM; killing it\n`);
      proc.kill("SIGKILL");
      return exited;
    },
  };
}

/** Machine-wide busy CPU time (all cores, from /proc/stat), in seconds. */
export function machineBusySeconds(): number {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  return (f.slice(0, 8).reduce((a, b) => a + b, 0) - f[3]! - f[4]!) / 100;
}

/**
 * CPU seconds of a process and its children (Postgres: the postmaster and its backends). Exited
 * children count through the root's cutime/cstime once reaped.
 */
export function processTreeCpuSeconds(rootPid: number): number {
  let total = 0;
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(d) === rootPid) total += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
      else if (Number(f[1]) === rootPid) total += Number(f[11]) + Number(f[12]);
    } catch {
      // gone meanwhile
    }
  }
  return total / 100;
}

/** RSS samples every `everyMs` for `ms`; returns them (KiB). */
export async function sampleRss(server: ServerChild, ms: number, everyMs = 500): Promise<number[]> {
  const out: number[] = [];
  for (let t = 0; t < ms; t += everyMs) {
    await sleep(everyMs);
    out.push(server.rssKb());
  }
  return out;
}

export type Message = { data?: Record<string, any> | null; errors?: Array<{ message: string; extensions?: { code?: string } }> };

export type Subscription = {
  /** Called with each message and its receive time (nowMs()). */
  onNext: (m: Message, at: number) => void;
  onDone: (err: unknown) => void;
};

/** One graphql-ws connection (a "browser tab"), authenticated by connection_init. */
export class Socket {
  readonly client: Client;
  closed = false;
  connectError: unknown = null;
  constructor(wsUrl: string, authorization: string) {
    this.client = createClient({
      url: wsUrl,
      webSocketImpl: WebSocket,
      connectionParams: { authorization },
      retryAttempts: 0,
      lazy: true,
      on: { closed: () => void (this.closed = true), error: (e) => void (this.connectError = e) },
    });
  }
  subscribe(query: string, variables: Record<string, unknown>, sub: Subscription): () => void {
    return this.client.subscribe(
      { query, variables },
      {
        next: (m) => sub.onNext(m as Message, nowMs()),
        error: (e) => sub.onDone(e ?? new Error("subscription error")),
        complete: () => sub.onDone(null),
      },
    );
  }
  dispose(): Promise<void> {
    return Promise.resolve(this.client.dispose());
  }
}

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 20): Promise<boolean> {
  const end = performance.now() + timeoutMs;
  while (performance.now() < end) {
    if (await cond()) return true;
    await sleep(intervalMs);
  }
  return cond();
}

export function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (Array.isArray(e)) return e.map((x) => (x as { message?: string }).message ?? String(x)).join("; ");
  if (e && typeof e === "object" && "code" in e) return `socket closed ${(e as { code: number }).code} ${(e as { reason?: string }).reason ?? ""}`.trim();
  return String(e);
}

export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function summarize(samples: number[]) {
  const s = Float64Array.from(samples).sort();
  return { n: s.length, p50: percentile(s, 50), p99: percentile(s, 99), max: s.length ? s[s.length - 1]! : NaN };
}

export function fmt(n: number | null | undefined, digits = 1): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "-";
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function table(headers: string[], rows: string[][], rightFrom = 1): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < rightFrom ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ");
  return [line(headers), widths.map((w) => "-".repeat(w)).join("-+-"), ...rows.map(line)].join("\n");
}

/** Splits `items` into chunks of at most `size`. */
export function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Runs `fn` over `items` with at most `limit` at once. */
export async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}
