// A real player for the streaming tests: Debian's headless Chromium (never a downloaded
// browser) driven by playwright-core, on a page of its own origin that loads hls.js from
// node_modules and plays a master playlist from Spool's origin (so CORS is exercised too).
import { existsSync, readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";

export const CHROMIUM = "/usr/bin/chromium";

export function hasChromium(): boolean {
  return existsSync(CHROMIUM);
}

export type PlayReport = {
  /** What MANIFEST_PARSED reported. */
  levels: Array<{ width: number; height: number; bitrate: number; codecs: string }>;
  /** Levels of which at least one fragment was loaded and parsed. */
  levelsWithFragments: number[];
  fragments: Array<{ level: number; sn: number | string; event: "loaded" | "parsed" }>;
  /** video.currentTime when playback had advanced (or gave up). */
  currentTime: number;
  canPlayH264: boolean;
  errors: string[];
};

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>spool player test</title><script src="/hls.min.js"></script></head>
<body><video id="v" muted playsinline width="320"></video>
<script>
window.report = { levels: [], fragments: [], errors: [], currentTime: 0, canPlayH264: false, done: false };
window.play = async (src, minTime, timeoutMs) => {
  const r = window.report;
  r.canPlayH264 = MediaSource.isTypeSupported('video/mp4; codecs="avc1.64001e,mp4a.40.2"');
  const video = document.getElementById("v");
  const hls = new Hls({ startLevel: 0, capLevelToPlayerSize: false, enableWorker: true });
  window.hls = hls;
  const waitFor = (pred, ms) => new Promise((resolve) => {
    const t0 = performance.now();
    const tick = () => (pred() || performance.now() - t0 > ms) ? resolve(pred()) : setTimeout(tick, 50);
    tick();
  });
  hls.on(Hls.Events.MANIFEST_PARSED, (_e, d) => {
    r.levels = d.levels.map((l) => ({ width: l.width, height: l.height, bitrate: l.bitrate, codecs: [l.videoCodec, l.audioCodec].filter(Boolean).join(",") }));
    video.play().catch((err) => r.errors.push("play(): " + err.message));
  });
  hls.on(Hls.Events.FRAG_LOADED, (_e, d) => r.fragments.push({ level: d.frag.level, sn: d.frag.sn, event: "loaded" }));
  hls.on(Hls.Events.FRAG_PARSED, (_e, d) => r.fragments.push({ level: d.frag.level, sn: d.frag.sn, event: "parsed" }));
  hls.on(Hls.Events.ERROR, (_e, d) => r.errors.push(d.type + ":" + d.details + (d.fatal ? " (fatal)" : "")));
  hls.loadSource(src);
  hls.attachMedia(video);
  const deadline = performance.now() + timeoutMs;
  await waitFor(() => video.currentTime > minTime, timeoutMs);
  r.currentTime = video.currentTime;
  // Then every level in turn, from the start, until one of its fragments is parsed.
  for (let i = 0; i < r.levels.length; i++) {
    const has = () => r.fragments.some((f) => f.level === i && f.event === "parsed");
    if (has()) continue;
    hls.currentLevel = i;
    video.currentTime = 0;
    await waitFor(has, Math.max(1000, deadline - performance.now()));
  }
  hls.destroy();
  r.done = true;
  return r;
};
</script></body></html>`;

/** Serves the page and hls.js on 127.0.0.1 (a different origin than Spool's server). */
export async function startPlayerPage(): Promise<{ url: string; close(): Promise<void> }> {
  const hlsJs = readFileSync(createRequire(import.meta.url).resolve("hls.js/dist/hls.min.js"));
  const server = http.createServer((req, res) => {
    if (req.url === "/") return res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(PAGE);
    if (req.url === "/hls.min.js") return res.writeHead(200, { "content-type": "text/javascript" }).end(hlsJs);
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

/** Opens the page in headless Chromium and plays `masterUrl`; resolves with what hls.js and the video element did. */
export async function playHls(masterUrl: string, opts: { minTime?: number; timeoutMs?: number } = {}): Promise<PlayReport> {
  const { chromium } = await import("playwright-core");
  const page = await startPlayerPage();
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--headless", "--disable-gpu", "--autoplay-policy=no-user-gesture-required", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
  });
  try {
    const tab = await browser.newPage();
    const consoleErrors: string[] = [];
    tab.on("pageerror", (err) => consoleErrors.push(`pageerror: ${err.message}`));
    await tab.goto(page.url);
    const report = (await tab.evaluate(
      ([src, minTime, timeoutMs]) => (window as unknown as { play(s: string, m: number, t: number): Promise<unknown> }).play(src, minTime, timeoutMs),
      [masterUrl, opts.minTime ?? 1, opts.timeoutMs ?? 20_000] as const,
    )) as Omit<PlayReport, "levelsWithFragments">;
    const levelsWithFragments = [...new Set(report.fragments.filter((f) => f.event === "parsed").map((f) => f.level))].sort((a, b) => a - b);
    return { ...report, levelsWithFragments, errors: [...report.errors, ...consoleErrors] };
  } finally {
    await browser.close();
    await page.close();
  }
}
