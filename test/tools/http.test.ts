// The outbound client against a real loopback listener. The listener binds every
// interface ("::", dual-stack) so that any spelling of loopback that slipped through
// would show up as a connection; the SSRF cases allow the listener's port so that only
// the address rule stands between the URL and the listener.
import http from "node:http";
import net from "node:net";
import { text } from "node:stream/consumers";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { SpoolError } from "../../src/errors.ts";
import {
  checkUrl,
  defaultOutboundPolicy,
  isForbiddenAddress,
  request,
  type OutboundPolicy,
} from "../../src/tools/http.ts";

let server: http.Server;
let port: number;
let connections = 0;
const hits: string[] = [];
const openSockets = new Set<net.Socket>();

function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? "/", "http://listener");
  hits.push(url.pathname);
  switch (url.pathname) {
    case "/hello":
      res.end("hello world");
      return;
    case "/redirect-to":
      res.writeHead(Number(url.searchParams.get("status") ?? 302), { Location: url.searchParams.get("u") ?? "/" });
      res.end("moved");
      return;
    case "/loop":
      res.writeHead(302, { Location: "/loop" }).end();
      return;
    case "/echo": {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        res.setHeader("Content-Type", "application/json");
        res.end(JSON.stringify({ method: req.method, headers: req.headers, body: Buffer.concat(chunks).toString() }));
      });
      return;
    }
    case "/big-cl":
      res.writeHead(200, { "Content-Length": "1000" });
      res.end(Buffer.alloc(1000, 97));
      return;
    case "/big-chunked": {
      // No Content-Length: only counting the streamed bytes can catch this one.
      res.writeHead(200);
      let sent = 0;
      const more = () => {
        if (sent === 10) return void res.end();
        sent++;
        res.write(Buffer.alloc(100, 98));
        setTimeout(more, 2);
      };
      more();
      return;
    }
    case "/hang":
      return;
    case "/slow-body":
      res.writeHead(200);
      res.write("partial");
      return;
    default:
      res.writeHead(404).end("not found");
  }
}

beforeAll(async () => {
  server = http.createServer(handler);
  server.on("connection", (socket) => {
    connections++;
    openSockets.add(socket);
    socket.on("close", () => openSockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "::", resolve));
  port = (server.address() as net.AddressInfo).port;
});

afterAll(async () => {
  for (const s of openSockets) s.destroy();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  connections = 0;
  hits.length = 0;
});

function policy(overrides: Partial<OutboundPolicy> = {}): OutboundPolicy {
  return { ...defaultOutboundPolicy, allowedPorts: [port], allowCidrs: [], timeoutMs: 5_000, maxBytes: 1 << 20, ...overrides };
}

const trusted = () => policy({ allowCidrs: ["127.0.0.1/32"] });

async function failure(p: Promise<unknown>): Promise<SpoolError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(SpoolError);
    return err as SpoolError;
  }
  throw new Error("expected a SpoolError, got success");
}

// Lets a connection that was wrongly started land on the listener before counting.
const settle = () => new Promise((r) => setTimeout(r, 50));

function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

describe("isForbiddenAddress", () => {
  const forbidden = [
    "127.0.0.1", "127.255.255.254", "10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.0.1",
    "169.254.169.254", "169.254.0.1", "0.0.0.0", "0.1.2.3", "100.64.0.1", "100.127.255.255",
    "224.0.0.1", "239.255.255.250", "255.255.255.255", "192.0.2.1", "198.18.0.1", "240.0.0.1",
    "::1", "::", "fe80::1", "fe80::1%eth0", "fc00::1", "fd12:3456::1", "ff02::1", "fec0::1", "100::1",
    "::ffff:127.0.0.1", "::ffff:7f00:1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:0.0.0.0",
    "::127.0.0.1", "::ffff:0:127.0.0.1",
    "64:ff9b::127.0.0.1", "64:ff9b::10.0.0.1", "64:ff9b:1::8.8.8.8",
    "2002:7f00:1::1", "2002:a00:1::", "2002:a9fe:a9fe::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:db8::1",
    "", "localhost", "127.1", "0x7f.0.0.1", "2130706433", "0177.0.0.1", "not an ip",
  ];
  const allowed = [
    "8.8.8.8", "1.1.1.1", "93.184.215.14", "172.32.0.1", "172.15.255.255", "100.128.0.1", "11.0.0.1",
    "192.169.0.1", "2606:4700:4700::1111", "2001:4860:4860::8888", "::ffff:8.8.8.8",
    "64:ff9b::8.8.8.8", "2002:808:808::1",
  ];
  it.each(forbidden)("refuses %s", (address) => {
    expect(isForbiddenAddress(address, [])).toBe(true);
  });
  it.each(allowed)("allows %s", (address) => {
    expect(isForbiddenAddress(address, [])).toBe(false);
  });
  it.each([
    ["10.1.2.3", ["10.0.0.0/8"], false],
    ["::ffff:10.1.2.3", ["10.0.0.0/8"], false],
    ["192.168.1.1", ["10.0.0.0/8"], true],
    ["127.0.0.1", ["127.0.0.1/32"], false],
    ["127.0.0.2", ["127.0.0.1/32"], true],
    ["fd00::5", ["fd00::/8"], false],
    ["fd01::5", ["fd00::/16"], true],
    ["::1", ["::1/128"], false],
    ["127.0.0.1", ["::1/128"], true],
    ["8.8.8.8", ["10.0.0.0/8"], false],
  ] as const)("with allowCidrs: %s in %j forbidden=%s", (address, cidrs, expected) => {
    expect(isForbiddenAddress(address, [...cidrs])).toBe(expected);
  });
  it("reports a malformed allowCidrs entry instead of ignoring it", () => {
    expect(() => isForbiddenAddress("10.0.0.1", ["10.0.0.0/33"])).toThrow(expect.objectContaining({ code: "INVALID_INPUT" }));
  });
});

describe("checkUrl", () => {
  const pub = policy({ allowedPorts: [80, 443] });
  it("accepts public http(s) URLs on default ports", () => {
    expect(checkUrl("https://example.com/a?b=1", pub).href).toBe("https://example.com/a?b=1");
    expect(checkUrl("http://example.com:80/", pub).port).toBe("");
    // Ports are allowed as numbers, whatever the scheme.
    expect(() => checkUrl("http://example.com:443/", pub)).not.toThrow();
    // Hostnames can only be judged once resolved, at connect time.
    expect(() => checkUrl("http://evil.example/", pub)).not.toThrow();
  });
  it.each(["not a url", "http://", "//example.com/", ""])("INVALID_INPUT for %j", (raw) => {
    expect(() => checkUrl(raw, pub)).toThrow(expect.objectContaining({ code: "INVALID_INPUT" }));
  });
  it.each([
    "file:///etc/passwd", "ftp://example.com/", "gopher://example.com:70/_x", "data:text/plain,hi",
    "javascript:alert(1)", "ws://example.com/", "dict://example.com:11211/",
  ])("refuses scheme of %s", (raw) => {
    expect(() => checkUrl(raw, pub)).toThrow(expect.objectContaining({ code: "URL_NOT_ALLOWED", message: expect.stringMatching(/scheme/) }));
  });
  it.each(["http://user:pass@example.com/", "http://user@example.com/", "http://:pass@example.com/"])("refuses userinfo in %s", (raw) => {
    expect(() => checkUrl(raw, pub)).toThrow(expect.objectContaining({ code: "URL_NOT_ALLOWED", message: expect.stringMatching(/credentials/) }));
  });
  it.each(["http://example.com:8080/", "https://example.com:22/", "http://example.com:0/"])("refuses port of %s", (raw) => {
    expect(() => checkUrl(raw, pub)).toThrow(expect.objectContaining({ code: "URL_NOT_ALLOWED", message: expect.stringMatching(/port/) }));
  });
  it.each(["http://localhost/", "http://LOCALHOST./x", "https://api.localhost/", "http://localhost:80/"])("refuses the loopback name %s like a loopback address", (raw) => {
    expect(() => checkUrl(raw, pub)).toThrow(expect.objectContaining({ code: "URL_NOT_ALLOWED", message: expect.stringContaining("SPOOL_URL_ALLOW_CIDRS") }));
    // Allowed once loopback is: a receiver on this machine, for development.
    expect(() => checkUrl(raw, policy({ allowedPorts: [80, 443], allowCidrs: ["127.0.0.0/8"] }))).not.toThrow();
    expect(() => checkUrl(raw, policy({ allowedPorts: [80, 443], allowCidrs: ["::1/128"] }))).not.toThrow();
  });
  it("judges only loopback names by their name", () => {
    for (const raw of ["http://localhost.example.com/", "http://mylocalhost/", "http://localhostx/"]) expect(() => checkUrl(raw, pub), raw).not.toThrow();
  });
  it("says which setting allows a refused address or port", () => {
    expect(() => checkUrl("http://192.168.1.20/hook", pub)).toThrow(expect.objectContaining({ message: expect.stringMatching(/SPOOL_URL_ALLOW_CIDRS.*192\.168\.1\.20\/32/) }));
    expect(() => checkUrl("http://[::1]/hook", pub)).toThrow(expect.objectContaining({ message: expect.stringContaining("SPOOL_URL_ALLOW_CIDRS") }));
    expect(() => checkUrl("http://example.com:3000/hook", pub)).toThrow(expect.objectContaining({ message: expect.stringMatching(/port 3000 .*SPOOL_URL_ALLOWED_PORTS/) }));
  });
  it("cannot be widened through the shared default policy", () => {
    expect(() => defaultOutboundPolicy.allowedPorts.push(8080)).toThrow();
  });
});

describe("request: SSRF", () => {
  const spellings = (p: number) => [
    `http://127.0.0.1:${p}/`,
    `http://2130706433:${p}/`,
    `http://0177.0.0.1:${p}/`,
    `http://0x7f.0.0.1:${p}/`,
    `http://0x7f000001:${p}/`,
    `http://127.1:${p}/`,
    `http://127.0.0.2:${p}/`,
    `http://[::1]:${p}/`,
    `http://[0:0:0:0:0:0:0:1]:${p}/`,
    `http://[::ffff:127.0.0.1]:${p}/`,
    `http://[::ffff:7f00:1]:${p}/`,
    `http://[::127.0.0.1]:${p}/`,
    `http://[64:ff9b::127.0.0.1]:${p}/`,
    `http://[2002:7f00:1::1]:${p}/`,
    `http://0.0.0.0:${p}/`,
    `http://0:${p}/`,
    `http://[::]:${p}/`,
    `http://169.254.169.254:${p}/latest/meta-data/`,
    `http://10.0.0.1:${p}/`,
    `http://172.16.0.1:${p}/`,
    `http://192.168.1.1:${p}/`,
    `http://100.64.0.1:${p}/`,
    `http://224.0.0.1:${p}/`,
    `http://255.255.255.255:${p}/`,
    `http://[fe80::1]:${p}/`,
    `http://[fd00::1]:${p}/`,
    `http://localhost:${p}/`,
    `http://LOCALHOST:${p}/hello`,
    `https://localhost:${p}/`,
  ];

  it("refuses every spelling of an internal address without ever connecting", async () => {
    const table = spellings(port);
    for (const raw of table) {
      const err = await failure(request(raw, { policy: policy() }));
      expect(err.code, raw).toBe("URL_NOT_ALLOWED");
      await settle();
      expect(connections, raw).toBe(0);
    }
    expect(hits).toEqual([]);
  });

  it("refuses a hostname that resolves to loopback at connect time", async () => {
    const resolve = vi.fn(async () => [{ address: "127.0.0.1", family: 4 }]);
    const err = await failure(request(`http://evil.example:${port}/hello`, { policy: policy(), resolve }));
    expect(err.code).toBe("URL_NOT_ALLOWED");
    expect(err.message).toContain("evil.example");
    // The internal address it resolved to stays on our side.
    expect(err.message).not.toContain("127.0.0.1");
    expect(resolve).toHaveBeenCalledWith("evil.example");
    await settle();
    expect(connections).toBe(0);
  });

  it("refuses a hostname when any one of its addresses is internal", async () => {
    const resolve = async () => [
      { address: "93.184.215.14", family: 4 },
      { address: "::ffff:127.0.0.1", family: 6 },
    ];
    const err = await failure(request(`http://mixed.example:${port}/`, { policy: policy(), resolve }));
    expect(err.code).toBe("URL_NOT_ALLOWED");
    await settle();
    expect(connections).toBe(0);
  });

  it.each(["file:///etc/passwd", "ftp://127.0.0.1/", "gopher://127.0.0.1:70/_x", "data:text/plain,hi", "javascript:alert(1)"])(
    "refuses %s",
    async (raw) => {
      expect((await failure(request(raw, { policy: policy({ allowedPorts: [port, 21, 70], allowCidrs: ["127.0.0.0/8"] }) }))).code).toBe(
        "URL_NOT_ALLOWED",
      );
    },
  );

  it("refuses a port that is not allowed, even for a trusted address", async () => {
    const err = await failure(request(`http://127.0.0.1:${port}/hello`, { policy: policy({ allowedPorts: [80, 443], allowCidrs: ["127.0.0.1/32"] }) }));
    expect(err.code).toBe("URL_NOT_ALLOWED");
    await settle();
    expect(connections).toBe(0);
  });

  it("refuses userinfo", async () => {
    const err = await failure(request(`http://user:pw@127.0.0.1:${port}/hello`, { policy: trusted() }));
    expect(err.code).toBe("URL_NOT_ALLOWED");
    await settle();
    expect(connections).toBe(0);
  });

  it("reports an unparseable URL as INVALID_INPUT", async () => {
    expect((await failure(request("http://[::1/", { policy: policy() }))).code).toBe("INVALID_INPUT");
  });
});

describe("request: allowed traffic", () => {
  it("GETs from an address inside allowCidrs and streams the body", async () => {
    const res = await request(`http://127.0.0.1:${port}/hello`, { policy: trusted() });
    expect(res.status).toBe(200);
    expect(res.url).toBe(`http://127.0.0.1:${port}/hello`);
    expect(res.headers["content-length"]).toBe("11");
    expect(await text(res.body)).toBe("hello world");
    expect(connections).toBe(1);
  });

  it("connects through the resolve hook when the resolved address is allowed", async () => {
    const resolve = async () => [{ address: "127.0.0.1", family: 4 }];
    const res = await request(`http://trusted.example:${port}/echo`, { policy: trusted(), resolve });
    const echoed = JSON.parse(await text(res.body)) as { headers: Record<string, string> };
    expect(echoed.headers.host).toBe(`trusted.example:${port}`);
  });

  it("sends User-Agent: Spool/0.1 unless the caller sets one, and sends method and body", async () => {
    const res = await request(`http://127.0.0.1:${port}/echo`, { policy: trusted() });
    expect(JSON.parse(await text(res.body)).headers["user-agent"]).toBe("Spool/0.1");
    const posted = await request(`http://127.0.0.1:${port}/echo`, {
      policy: trusted(),
      method: "post",
      headers: { "user-agent": "custom/1", "content-type": "text/plain" },
      body: "payload",
    });
    expect(JSON.parse(await text(posted.body))).toMatchObject({
      method: "POST",
      body: "payload",
      headers: { "user-agent": "custom/1", "content-length": "7" },
    });
  });

  it("returns non-2xx statuses instead of throwing", async () => {
    const res = await request(`http://127.0.0.1:${port}/missing`, { policy: trusted() });
    expect(res.status).toBe(404);
    expect(await text(res.body)).toBe("not found");
  });
});

describe("request: redirects", () => {
  const to = (target: string, status = 302) => `http://127.0.0.1:${port}/redirect-to?status=${status}&u=${encodeURIComponent(target)}`;

  it("follows an allowed redirect and reports the final URL", async () => {
    const res = await request(to("/hello"), { policy: trusted() });
    expect(res.status).toBe(200);
    expect(res.url).toBe(`http://127.0.0.1:${port}/hello`);
    expect(await text(res.body)).toBe("hello world");
  });

  it("refuses a redirect to a literal address outside allowCidrs; the target is never hit", async () => {
    const err = await failure(request(to(`http://127.0.0.2:${port}/secret`), { policy: trusted() }));
    expect(err.code).toBe("URL_NOT_ALLOWED");
    await settle();
    expect(hits).toEqual(["/redirect-to"]);
    expect(connections).toBe(1);
  });

  it("refuses a redirect to a hostname resolving outside allowCidrs; the target is never hit", async () => {
    const resolve = vi.fn(async () => [{ address: "127.0.0.2", family: 4 }]);
    const err = await failure(request(to(`http://internal.test:${port}/secret`), { policy: trusted(), resolve }));
    expect(err.code).toBe("URL_NOT_ALLOWED");
    expect(resolve).toHaveBeenCalledWith("internal.test");
    await settle();
    expect(hits).toEqual(["/redirect-to"]);
    expect(connections).toBe(1);
  });

  it.each([
    ["file:///etc/passwd", "scheme"],
    ["http://127.0.0.1:1/hello", "port"],
    ["http://u:p@127.0.0.1:PORT/hello", "credentials"],
  ])("refuses a redirect to %s", async (target, reason) => {
    const err = await failure(request(to(target.replace("PORT", String(port))), { policy: trusted() }));
    expect(err.code).toBe("URL_NOT_ALLOWED");
    expect(err.message).toContain(reason);
    expect(hits).toEqual(["/redirect-to"]);
  });

  it('returns the 3xx as is with redirect: "manual"', async () => {
    const res = await request(to(`http://127.0.0.2:${port}/secret`), { policy: trusted(), redirect: "manual" });
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe(`http://127.0.0.2:${port}/secret`);
    expect(await text(res.body)).toBe("moved");
    expect(hits).toEqual(["/redirect-to"]);
  });

  it("stops after maxRedirects", async () => {
    const err = await failure(request(`http://127.0.0.1:${port}/loop`, { policy: policy({ allowCidrs: ["127.0.0.1/32"], maxRedirects: 3 }) }));
    expect(err.code).toBe("URL_UNREACHABLE");
    expect(err.message).toMatch(/too many redirects/);
    expect(hits).toEqual(["/loop", "/loop", "/loop", "/loop"]);
  });

  it("turns a POST into a GET without body on 303, keeps it on 307", async () => {
    const opts = { policy: trusted(), method: "POST", body: "data", headers: { "content-type": "text/plain" } };
    const after303 = JSON.parse(await text((await request(to("/echo", 303), opts)).body));
    expect(after303).toMatchObject({ method: "GET", body: "" });
    expect(after303.headers["content-type"]).toBeUndefined();
    const after307 = JSON.parse(await text((await request(to("/echo", 307), opts)).body));
    expect(after307).toMatchObject({ method: "POST", body: "data", headers: { "content-type": "text/plain" } });
  });

  it("drops credentials on a cross-origin redirect", async () => {
    const headers = { authorization: "Bearer secret", cookie: "a=b", "x-keep": "1" };
    const same = JSON.parse(await text((await request(to("/echo"), { policy: trusted(), headers })).body));
    expect(same.headers).toMatchObject(headers);
    const resolve = async () => [{ address: "127.0.0.1", family: 4 }];
    const cross = JSON.parse(await text((await request(to(`http://other.example:${port}/echo`), { policy: trusted(), headers, resolve })).body));
    expect(cross.headers.authorization).toBeUndefined();
    expect(cross.headers.cookie).toBeUndefined();
    expect(cross.headers["x-keep"]).toBe("1");
  });
});

describe("request: caps, failures, abort", () => {
  it("refuses up front when Content-Length exceeds maxBytes", async () => {
    const err = await failure(request(`http://127.0.0.1:${port}/big-cl`, { policy: policy({ allowCidrs: ["127.0.0.1/32"], maxBytes: 100 }) }));
    expect(err.code).toBe("URL_TOO_LARGE");
  });

  it("errors the body stream with URL_TOO_LARGE once a chunked body exceeds maxBytes", async () => {
    const res = await request(`http://127.0.0.1:${port}/big-chunked`, { policy: policy({ allowCidrs: ["127.0.0.1/32"], maxBytes: 250 }) });
    expect(res.headers["content-length"]).toBeUndefined();
    expect((await failure(text(res.body))).code).toBe("URL_TOO_LARGE");
    await vi.waitFor(() => expect(openSockets.size).toBe(0));
  });

  it("lets a body of exactly maxBytes through", async () => {
    const res = await request(`http://127.0.0.1:${port}/big-chunked`, { policy: policy({ allowCidrs: ["127.0.0.1/32"], maxBytes: 1000 }) });
    expect((await text(res.body)).length).toBe(1000);
  });

  it("times out a server that never answers", async () => {
    const started = Date.now();
    const err = await failure(request(`http://127.0.0.1:${port}/hang`, { policy: policy({ allowCidrs: ["127.0.0.1/32"], timeoutMs: 300 }) }));
    expect(err.code).toBe("URL_UNREACHABLE");
    expect(err.message).toMatch(/timed out/);
    expect(Date.now() - started).toBeLessThan(3_000);
    await vi.waitFor(() => expect(openSockets.size).toBe(0));
  });

  it("applies the same deadline to the body", async () => {
    const res = await request(`http://127.0.0.1:${port}/slow-body`, { policy: policy({ allowCidrs: ["127.0.0.1/32"], timeoutMs: 300 }) });
    const err = await failure(text(res.body));
    expect(err.code).toBe("URL_UNREACHABLE");
    expect(err.message).toMatch(/timed out/);
    await vi.waitFor(() => expect(openSockets.size).toBe(0));
  });

  it("reports connection refused as URL_UNREACHABLE", async () => {
    const dead = await closedPort();
    const err = await failure(request(`http://127.0.0.1:${dead}/`, { policy: policy({ allowedPorts: [dead], allowCidrs: ["127.0.0.1/32"] }) }));
    expect(err.code).toBe("URL_UNREACHABLE");
    expect(err.message).toMatch(/refused/);
  });

  it("reports a DNS failure as URL_UNREACHABLE", async () => {
    const resolve = async () => {
      throw Object.assign(new Error("getaddrinfo ENOTFOUND nowhere.invalid"), { code: "ENOTFOUND" });
    };
    const err = await failure(request(`http://nowhere.invalid:${port}/`, { policy: policy(), resolve }));
    expect(err.code).toBe("URL_UNREACHABLE");
    expect(err.message).toMatch(/could not resolve/);
    const none = await failure(request(`http://nowhere.invalid:${port}/`, { policy: policy(), resolve: async () => [] }));
    expect(none.code).toBe("URL_UNREACHABLE");
  });

  it("reports a TLS failure as URL_UNREACHABLE", async () => {
    // The listener speaks plain HTTP, so the handshake cannot succeed.
    const err = await failure(request(`https://127.0.0.1:${port}/hello`, { policy: trusted() }));
    expect(err.code).toBe("URL_UNREACHABLE");
    expect(err.message).toMatch(/TLS/);
  });

  it("refuses to start with an already aborted signal", async () => {
    const err = await failure(request(`http://127.0.0.1:${port}/hello`, { policy: trusted(), signal: AbortSignal.abort() }));
    expect(err.code).toBe("ABORTED");
    await settle();
    expect(connections).toBe(0);
  });

  it("aborts while waiting for headers and closes the connection", async () => {
    const ctl = new AbortController();
    const pending = request(`http://127.0.0.1:${port}/hang`, { policy: trusted(), signal: ctl.signal });
    await vi.waitFor(() => expect(hits).toContain("/hang"));
    ctl.abort();
    expect((await failure(pending)).code).toBe("ABORTED");
    await vi.waitFor(() => expect(openSockets.size).toBe(0));
  });

  it("aborts while streaming the body and closes the connection", async () => {
    const ctl = new AbortController();
    const res = await request(`http://127.0.0.1:${port}/slow-body`, { policy: trusted(), signal: ctl.signal });
    const reading = text(res.body);
    ctl.abort();
    expect((await failure(reading)).code).toBe("ABORTED");
    await vi.waitFor(() => expect(openSockets.size).toBe(0));
  });
});
