// The one outbound HTTP client for user-supplied URLs. Anything Spool fetches or calls on
// a user's behalf goes through here, so that a URL can never make the server talk to
// itself, its private network or a cloud metadata endpoint (SSRF).
//
// The address rule is enforced where the connection is made, on the address actually
// connected to: a custom `lookup` checks what the name resolved to, IP literals are
// checked before the request starts (Node skips lookup for them), and the socket's
// remote address is checked again on `connect`. Checking a hostname up front and then
// letting Node resolve it again would leave a window for DNS rebinding.
import dns from "node:dns";
import http from "node:http";
import https from "node:https";
import net, { type LookupFunction } from "node:net";
import { Transform, type Readable } from "node:stream";
import ipaddr from "ipaddr.js";
import { SpoolError } from "../errors.ts";

export type OutboundPolicy = {
  allowedPorts: number[];
  /** Ranges a self-hoster explicitly trusts (e.g. "10.0.0.0/8"); they bypass the address rule. */
  allowCidrs: string[];
  timeoutMs: number;
  maxBytes: number;
  maxRedirects: number;
};

// Frozen so that one caller widening the defaults (a `push(8080)`) cannot widen them for
// every other caller in the process.
export const defaultOutboundPolicy: OutboundPolicy = Object.freeze({
  allowedPorts: Object.freeze([80, 443]) as number[],
  allowCidrs: Object.freeze([]) as unknown as string[],
  timeoutMs: 30_000,
  maxBytes: 1024 * 1024 * 1024,
  maxRedirects: 5,
});

export type OutboundResponse = {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The URL of the response returned, after any redirects followed. */
  url: string;
  /**
   * Errors with URL_TOO_LARGE past policy.maxBytes, URL_UNREACHABLE on timeout or reset,
   * ABORTED on abort. A caller that does not want the body must destroy it: until then the
   * connection stays open (up to the timeout).
   */
  body: Readable;
};

export type RequestOptions = {
  policy: OutboundPolicy;
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  redirect?: "follow" | "manual";
  signal?: AbortSignal;
  resolve?: (host: string) => Promise<{ address: string; family: number }[]>;
};

const USER_AGENT = "Spool/0.1";
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const DEFAULT_PORTS: Record<string, number> = { "http:": 80, "https:": 443 };
// 2000::/3 is the only IPv6 space handed out as global unicast. ipaddr.js calls every
// address it has no name for "unicast", which would include e.g. the deprecated
// IPv4-compatible ::a.b.c.d block (so ::127.0.0.1 would pass), hence the extra check.
const GLOBAL_UNICAST_V6 = ipaddr.IPv6.parseCIDR("2000::/3");
// Only the well-known NAT64 prefix maps 1:1 onto a public IPv4 address; the local-use
// 64:ff9b:1::/48 prefix (also range "rfc6052") depends on local configuration.
const NAT64_WELL_KNOWN = ipaddr.IPv6.parseCIDR("64:ff9b::/96");

function notAllowed(message: string): SpoolError {
  return new SpoolError("URL_NOT_ALLOWED", message);
}

/**
 * What a self-hoster sets to reach a receiver on their own machine or network (development,
 * an intranet). `example` only for what the caller wrote: an address a name resolved to
 * stays on our side.
 */
function allowCidrsHint(example?: string): string {
  return ` To allow it, add its range to SPOOL_URL_ALLOW_CIDRS${example ? ` (e.g. ${example})` : ""}.`;
}

// RFC 6761: localhost and every name under it are this machine. They are refused when the
// URL is given, as the loopback addresses are, rather than only when a send resolves them.
const LOOPBACK_NAME = /^(?:.+\.)?localhost\.?$/;

function unreachable(message: string, details?: Record<string, unknown>): SpoolError {
  return new SpoolError("URL_UNREACHABLE", message, details);
}

function parseCidrs(allowCidrs: string[]): [ipaddr.IPv4 | ipaddr.IPv6, number][] {
  return allowCidrs.map((cidr) => {
    try {
      return ipaddr.parseCIDR(cidr);
    } catch {
      // A typo in the allow list must not silently leave a service unreachable, nor be
      // guessed at; say so.
      throw new SpoolError("INVALID_INPUT", `outbound policy: allowCidrs entry "${cidr}" is not a CIDR range`);
    }
  });
}

/**
 * Why `address` may not be connected to, or null if it may. Fails closed: anything that
 * is not a canonical IP address is refused.
 */
function forbiddenReason(address: string, allowCidrs: string[]): string | null {
  const bare = address.replace(/^\[(.*)\]$/, "$1").split("%")[0] ?? "";
  // net.isIP accepts only canonical forms, so "127.1" or "0x7f.1" (which ipaddr.js would
  // happily parse) cannot sneak through with a different meaning.
  if (net.isIP(bare) === 0) return "not an IP address";
  let ip: ipaddr.IPv4 | ipaddr.IPv6 = ipaddr.parse(bare);
  // What the kernel connects to for ::ffff:a.b.c.d is the IPv4 host a.b.c.d.
  if (ip.kind() === "ipv6" && (ip as ipaddr.IPv6).isIPv4MappedAddress()) ip = (ip as ipaddr.IPv6).toIPv4Address();
  for (const [range, bits] of parseCidrs(allowCidrs)) {
    if (range.kind() === ip.kind() && ip.match(range, bits)) return null;
  }
  if (ip.kind() === "ipv4") {
    const range = (ip as ipaddr.IPv4).range();
    return range === "unicast" ? null : range;
  }
  const v6 = ip as ipaddr.IPv6;
  const range = v6.range();
  // 6to4 and NAT64 addresses stand for an embedded IPv4 host; judge that host, so that
  // 2002:7f00:1:: or 64:ff9b::127.0.0.1 cannot reach loopback through a relay/translator.
  if (range === "6to4" || (range === "rfc6052" && v6.match(NAT64_WELL_KNOWN))) {
    const p = v6.parts;
    const hi = range === "6to4" ? p[1]! : p[6]!;
    const lo = range === "6to4" ? p[2]! : p[7]!;
    const embedded = `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
    const inner = forbiddenReason(embedded, allowCidrs);
    return inner === null ? null : `${range} embedding ${inner}`;
  }
  // Teredo obfuscates the client address and relays anywhere; no legitimate target needs it.
  if (range !== "unicast") return range;
  return v6.match(GLOBAL_UNICAST_V6) ? null : "non-global";
}

export function isForbiddenAddress(address: string, allowCidrs: string[]): boolean {
  return forbiddenReason(address, allowCidrs) !== null;
}

function portOf(url: URL): number {
  return url.port === "" ? DEFAULT_PORTS[url.protocol]! : Number(url.port);
}

function bareHost(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, "$1");
}

export function checkUrl(raw: string, policy: OutboundPolicy): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new SpoolError("INVALID_INPUT", "not a valid URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw notAllowed(`URL scheme "${url.protocol}" is not allowed (only http: and https:)`);
  }
  // Credentials in URLs end up in logs and Referer-like places, and "http://trusted@evil"
  // is a classic way to make a URL read as something it is not.
  if (url.username !== "" || url.password !== "") throw notAllowed("URLs with credentials (user:pass@) are not allowed");
  const port = portOf(url);
  if (!policy.allowedPorts.includes(port)) {
    throw notAllowed(`port ${port} is not allowed (allowed: ${policy.allowedPorts.join(", ")}). To allow it, add it to SPOOL_URL_ALLOWED_PORTS.`);
  }
  const host = bareHost(url);
  if (net.isIP(host) !== 0) {
    const reason = forbiddenReason(host, policy.allowCidrs);
    if (reason !== null) throw notAllowed(`address ${host} is not allowed (${reason}).${allowCidrsHint(net.isIPv4(host) ? `${host}/32` : undefined)}`);
  } else if (LOOPBACK_NAME.test(host) && forbiddenReason("127.0.0.1", policy.allowCidrs) !== null && forbiddenReason("::1", policy.allowCidrs) !== null) {
    throw notAllowed(`host ${host} is this machine (loopback).${allowCidrsHint("127.0.0.1/32,::1/128")}`);
  }
  return url;
}

async function dnsResolve(host: string): Promise<{ address: string; family: number }[]> {
  const found = await dns.promises.lookup(host, { all: true });
  return found.map(({ address, family }) => ({ address, family }));
}

function guardedLookup(allowCidrs: string[], resolve: NonNullable<RequestOptions["resolve"]>): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname).then(
      (found) => {
        let chosen: { address: string; family: number }[];
        try {
          // Refuse if ANY address is forbidden rather than connecting to the allowed ones:
          // a name that mixes public and internal records is a rebinding or split-horizon
          // setup, and filtering would still let the attacker steer which one we use (and
          // happy-eyeballs fallback would try the rest). No public service needs it.
          for (const { address } of found) {
            const reason = forbiddenReason(address, allowCidrs);
            // The hostname and the kind of range only: the internal address it resolved
            // to is the attacker's missing piece of information.
            if (reason !== null) throw notAllowed(`host ${hostname} resolves to a non-public address (${reason}).${allowCidrsHint()}`);
          }
          chosen = options.family === 4 || options.family === 6 ? found.filter((a) => a.family === options.family) : found;
          if (chosen.length === 0) throw Object.assign(new Error(`no address for ${hostname}`), { code: "ENOTFOUND" });
        } catch (err) {
          callback(err as NodeJS.ErrnoException, "");
          return;
        }
        if (options.all) callback(null, chosen);
        else callback(null, chosen[0]!.address, chosen[0]!.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, ""),
    );
  };
}

const TLS_CODE = /CERT|SSL|TLS|EPROTO|HOSTNAME_MISMATCH|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)/;

function toSpoolError(err: unknown, host: string): SpoolError {
  if (err instanceof SpoolError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? "";
  // Messages from the network stack often name the internal address connected to; the
  // code alone says enough.
  const details = { host, code };
  if (["ENOTFOUND", "EAI_AGAIN", "EAI_FAIL", "EAI_NODATA", "EAI_NONAME"].includes(code)) {
    return unreachable(`could not resolve host ${host}`, details);
  }
  if (code === "ECONNREFUSED") return unreachable(`connection refused by ${host}`, details);
  if (code === "ECONNRESET" || code === "EPIPE") return unreachable(`connection to ${host} was reset`, details);
  if (["ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN", "ENETDOWN"].includes(code)) {
    return unreachable(`host ${host} is unreachable`, details);
  }
  if (TLS_CODE.test(code)) return unreachable(`TLS error talking to ${host} (${code})`, details);
  if (code.startsWith("HPE_")) return unreachable(`invalid HTTP response from ${host}`, details);
  return unreachable(`request to ${host} failed${code ? ` (${code})` : ""}`, details);
}

type Hop = { method: string; headers: Record<string, string>; body: string | Buffer | undefined };

function sendOnce(
  url: URL,
  hop: Hop,
  allowCidrs: string[],
  resolve: NonNullable<RequestOptions["resolve"]>,
  signal: AbortSignal,
): Promise<http.IncomingMessage> {
  const host = bareHost(url);
  return new Promise((resolveP, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const transport = url.protocol === "https:" ? https : http;
    const req = transport.request({
      protocol: url.protocol,
      hostname: host,
      port: portOf(url),
      path: `${url.pathname}${url.search}`,
      method: hop.method,
      headers: hop.headers,
      lookup: guardedLookup(allowCidrs, resolve),
      // No pooling: a kept-alive socket checked under one caller's policy must not be
      // reused by another caller whose policy would refuse it, and every connection then
      // goes through the lookup and connect checks.
      agent: false,
    });
    const onAbort = () => req.destroy(signal.reason as Error);
    signal.addEventListener("abort", onAbort, { once: true });
    req.on("socket", (socket) => {
      // Prepended so it runs before Node flushes the request bytes queued while connecting.
      socket.prependOnceListener("connect", () => {
        const remote = socket.remoteAddress ?? "";
        const reason = forbiddenReason(remote, allowCidrs);
        if (reason !== null) req.destroy(notAllowed(`host ${host} connected to a non-public address (${reason}).${allowCidrsHint()}`));
      });
    });
    req.on("error", (err) => {
      signal.removeEventListener("abort", onAbort);
      reject(toSpoolError(err, host));
    });
    req.on("response", (res) => {
      signal.removeEventListener("abort", onAbort);
      resolveP(res);
    });
    req.end(hop.body);
  });
}

function nextHop(status: number, hop: Hop, from: URL, to: URL): Hop {
  const headers = { ...hop.headers };
  let { method, body } = hop;
  // As browsers and the fetch spec do: 303 always becomes GET, and 301/302 turn a POST into GET.
  if ((status === 303 && method !== "HEAD") || ((status === 301 || status === 302) && method === "POST")) {
    method = "GET";
    body = undefined;
    for (const name of Object.keys(headers)) {
      if (/^content-/i.test(name)) delete headers[name];
    }
  }
  // Credentials meant for one origin must not be handed to whatever origin it redirects to.
  if (from.origin !== to.origin) {
    for (const name of Object.keys(headers)) {
      if (/^(authorization|proxy-authorization|cookie)$/i.test(name)) delete headers[name];
    }
  }
  return { method, headers, body };
}

function limitBody(res: http.IncomingMessage, host: string, maxBytes: number, signal: AbortSignal, done: () => void): Readable {
  let seen = 0;
  const out = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      if (seen > maxBytes) cb(new SpoolError("URL_TOO_LARGE", `response body from ${host} exceeds ${maxBytes} bytes`));
      else cb(null, chunk);
    },
  });
  // Consumers still see errors through for-await, pipeline() and finished(); this only
  // keeps a body nobody reads from crashing the process when the deadline destroys it.
  out.on("error", () => {});
  const onAbort = () => out.destroy(signal.reason as Error);
  signal.addEventListener("abort", onAbort, { once: true });
  res.on("error", (err) => out.destroy(toSpoolError(err, host)));
  out.on("close", () => {
    signal.removeEventListener("abort", onAbort);
    done();
    // Tears the socket down too when the body was not read to the end.
    res.destroy();
  });
  res.pipe(out);
  return out;
}

export async function request(raw: string, opts: RequestOptions): Promise<OutboundResponse> {
  const { policy } = opts;
  let url = checkUrl(raw, policy);
  const resolve = opts.resolve ?? dnsResolve;
  const headers: Record<string, string> = { "User-Agent": USER_AGENT };
  for (const [name, value] of Object.entries(opts.headers ?? {})) {
    for (const existing of Object.keys(headers)) {
      if (existing.toLowerCase() === name.toLowerCase()) delete headers[existing];
    }
    headers[name] = value;
  }
  let hop: Hop = { method: (opts.method ?? "GET").toUpperCase(), headers, body: opts.body };

  if (opts.signal?.aborted) throw new SpoolError("ABORTED", `request aborted: ${String(opts.signal.reason)}`);
  // One controller for both the caller's signal and the deadline, so the deadline spans
  // every hop and the body, not each step separately.
  const ctl = new AbortController();
  const timer = setTimeout(
    () => ctl.abort(unreachable(`request to ${url.hostname} timed out after ${policy.timeoutMs} ms`)),
    policy.timeoutMs,
  );
  const onCallerAbort = () => ctl.abort(new SpoolError("ABORTED", `request aborted: ${String(opts.signal?.reason)}`));
  opts.signal?.addEventListener("abort", onCallerAbort, { once: true });
  const done = () => {
    clearTimeout(timer);
    opts.signal?.removeEventListener("abort", onCallerAbort);
  };

  try {
    for (let redirects = 0; ; redirects++) {
      const res = await sendOnce(url, hop, policy.allowCidrs, resolve, ctl.signal);
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if (opts.redirect !== "manual" && REDIRECT_STATUSES.has(status) && location) {
        res.destroy();
        if (redirects >= policy.maxRedirects) {
          throw unreachable(`too many redirects (more than ${policy.maxRedirects}) from ${url.hostname}`);
        }
        let target: URL;
        try {
          target = new URL(location, url);
        } catch {
          throw unreachable(`${url.hostname} redirected to an invalid URL`);
        }
        // Every hop gets the full set of checks; the lookup/connect checks run in sendOnce.
        const next = checkUrl(target.href, policy);
        hop = nextHop(status, hop, url, next);
        url = next;
        continue;
      }
      const length = Number(res.headers["content-length"]);
      const bodyless = hop.method === "HEAD" || status === 204 || status === 304;
      if (!bodyless && Number.isFinite(length) && length > policy.maxBytes) {
        res.destroy();
        throw new SpoolError("URL_TOO_LARGE", `response body from ${url.hostname} is ${length} bytes, over the limit of ${policy.maxBytes}`);
      }
      return {
        status,
        headers: res.headers,
        url: url.href,
        body: limitBody(res, url.hostname, policy.maxBytes, ctl.signal, done),
      };
    }
  } catch (err) {
    done();
    throw err;
  }
}
