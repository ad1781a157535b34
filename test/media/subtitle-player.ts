// A real player for the HLS captions test: Debian's headless Chromium (playwright-core) on a
// page of its own origin that plays a master playlist from Spool's origin with hls.js and
// reports what hls.js saw of the SUBTITLES group and what cues reached the video element's
// text tracks after each subtitle track is selected in turn.
import { readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";
import { CHROMIUM } from "./player-page.ts";

export type SubtitleReport = {
  /** hls.subtitleTracks once the manifest is parsed. */
  tracks: Array<{ id: number; name: string; lang: string; groupId: string; default: boolean; autoselect: boolean; forced: boolean; characteristics: string | null }>;
  /** Per selected track (by hls.js index): the text track hls.js filled and its cues. */
  selected: Array<{ index: number; textTrack: { kind: string; label: string; language: string; mode: string } | null; cues: Array<{ startTime: number; endTime: number; text: string }> }>;
  currentTime: number;
  /** Where the buffered picture and sound start on the media timeline: the first video frame's time. */
  bufferedStart: number | null;
  errors: string[];
};

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>spool subtitles test</title><script src="/hls.min.js"></script></head>
<body><video id="v" muted playsinline width="320"></video>
<script>
window.run = async (src, want, timeoutMs) => {
  const r = { tracks: [], selected: [], currentTime: 0, bufferedStart: null, errors: [] };
  const video = document.getElementById("v");
  const hls = new Hls({ startLevel: 0, enableWorker: true, subtitleDisplay: true, renderTextTracksNatively: true });
  const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
  const waitFor = async (pred, ms) => { const t0 = performance.now(); while (!pred() && performance.now() - t0 < ms) await sleep(50); return pred(); };
  let parsed = false;
  hls.on(Hls.Events.MANIFEST_PARSED, () => { parsed = true; });
  hls.on(Hls.Events.ERROR, (_e, d) => r.errors.push(d.type + ":" + d.details + (d.fatal ? " (fatal)" : "")));
  hls.loadSource(src);
  hls.attachMedia(video);
  await waitFor(() => parsed, timeoutMs);
  r.tracks = hls.subtitleTracks.map((t) => ({ id: t.id, name: t.name, lang: t.lang, groupId: t.groupId, default: t.default, autoselect: t.autoselect, forced: t.forced,
    characteristics: t.attrs && t.attrs.CHARACTERISTICS ? t.attrs.CHARACTERISTICS : null }));
  video.play().catch((err) => r.errors.push("play(): " + err.message));
  for (const [index, count] of want) {
    hls.subtitleTrack = index;
    const t = r.tracks[index];
    const find = () => Array.from(video.textTracks).find((tt) => tt.label === t.name && tt.language === t.lang) || null;
    // The cues come as hls.js loads the track's segments around the playhead: wait for them all.
    await waitFor(() => { const tt = find(); return tt && tt.cues && tt.cues.length >= count; }, timeoutMs);
    const tt = find();
    r.selected.push({ index, textTrack: tt ? { kind: tt.kind, label: tt.label, language: tt.language, mode: tt.mode } : null,
      cues: tt && tt.cues ? Array.from(tt.cues).map((c) => ({ startTime: c.startTime, endTime: c.endTime, text: c.text })) : [] });
  }
  r.currentTime = video.currentTime;
  r.bufferedStart = video.buffered.length ? video.buffered.start(0) : null;
  hls.destroy();
  return r;
};
</script></body></html>`;

/**
 * Plays `masterUrl`, selects each `[hls.js subtitle track index, cues expected]` in turn and
 * waits (up to timeoutMs each) until that many cues are on its text track.
 */
export async function playSubtitles(masterUrl: string, want: Array<[number, number]>, timeoutMs = 20_000): Promise<SubtitleReport> {
  const hlsJs = readFileSync(createRequire(import.meta.url).resolve("hls.js/dist/hls.min.js"));
  const server = http.createServer((req, res) => {
    if (req.url === "/") return res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(PAGE);
    if (req.url === "/hls.min.js") return res.writeHead(200, { "content-type": "text/javascript" }).end(hlsJs);
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--headless", "--disable-gpu", "--autoplay-policy=no-user-gesture-required", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
  });
  try {
    const tab = await browser.newPage();
    const pageErrors: string[] = [];
    tab.on("pageerror", (err) => pageErrors.push(`pageerror: ${err.message}`));
    await tab.goto(`http://127.0.0.1:${port}/`);
    const report = (await tab.evaluate(
      ([src, w, ms]) => (window as unknown as { run(s: string, w: Array<[number, number]>, ms: number): Promise<unknown> }).run(src, w, ms),
      [masterUrl, want, timeoutMs] as const,
    )) as SubtitleReport;
    return { ...report, errors: [...report.errors, ...pageErrors] };
  } finally {
    await browser.close();
    await new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  }
}
