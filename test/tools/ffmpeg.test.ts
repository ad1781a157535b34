// The ffmpeg adapter against both builds a user may end up with: the 2018 static ffmpeg
// from npm (with the 2023 npm ffprobe) and Debian's 5.1 where installed. fluent-ffmpeg is
// archived and its behaviour differs between ffmpeg versions, so nothing here is assumed
// to work on one build because it works on the other.
import { spawn } from "node:child_process";
import { chmodSync, existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from "node:fs/promises";
import { createServer, connect, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SpoolError } from "../../src/errors.ts";
import { buildFfmpegArgs, type FfmpegSpec } from "../../src/tools/ffmpeg/argv.ts";
import { demuxerFor } from "../../src/tools/ffmpeg/demuxers.ts";
import { FfmpegError } from "../../src/tools/ffmpeg/failures.ts";
import { Ffmpeg } from "../../src/tools/ffmpeg/ffmpeg.ts";
import type { FfmpegProgress } from "../../src/tools/ffmpeg/run.ts";
import { binaries, makeAudio, makeImage, makeSceneVideo, makeVideo, npmFfmpeg, npmFfprobe, truncate } from "../media/fixtures.ts";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const adapterPath = fileURLToPath(new URL("../../src/tools/ffmpeg/ffmpeg.ts", import.meta.url));
const FRAME = 1 / 25;

function never(): AbortSignal {
  return new AbortController().signal;
}

async function failure(p: Promise<unknown>): Promise<SpoolError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(SpoolError);
    return err as SpoolError;
  }
  throw new Error("expected a rejection");
}

/** A process is gone once it no longer exists, or is a zombie waiting for init to reap it. */
function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    const st = readFileSync(`/proc/${pid}/stat`, "utf8");
    return st.slice(st.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}

/** Live (non-zombie) processes whose command line mentions `needle`: ffmpeg and its watchdog. */
function processesMentioning(needle: string): number[] {
  const found: number[] = [];
  for (const entry of existsSync("/proc") ? readdirSync("/proc") : []) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (cmdline.includes(needle) && !isGone(Number(entry))) found.push(Number(entry));
    } catch {
      /* exited meanwhile */
    }
  }
  return found;
}

async function waitFor(cond: () => boolean, ms: number, stepMs = 50): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return cond();
}

describe.each(binaries())("ffmpeg adapter with the $name binaries", (bin) => {
  let ff: Ffmpeg;
  let dir: string;
  let mp4: string;
  let image: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), `spool-ffmpeg-${bin.name}-`));
    [ff, mp4, image] = await Promise.all([
      Ffmpeg.resolve({ ffmpegPath: bin.ffmpeg, ffprobePath: bin.ffprobe }),
      makeVideo(dir, { ffmpeg: bin.ffmpeg }),
      makeImage(dir, { ffmpeg: bin.ffmpeg, width: 320, height: 240 }),
    ]);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A run that lasts `seconds` of wall time: a looped still slowed to real time. */
  function slowSpec(out: string, seconds = 120): FfmpegSpec {
    return {
      inputs: [{ path: image, loop: true, durationSec: seconds }],
      filterComplex: "[0:v]realtime[v]",
      outputs: [{ path: out, args: ["-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"] }],
    };
  }

  describe("resolution", () => {
    it("uses explicit paths first and reports their versions", async () => {
      expect(ff.binaries.ffmpeg).toBe(bin.ffmpeg);
      expect(ff.binaries.ffprobe).toBe(bin.ffprobe);
      expect(ff.binaries.source).toBe("env");
      expect(ff.binaries.version).toMatch(/^ffmpeg version \S+/);
      expect(ff.binaries.version).not.toMatch(/Copyright/);
      expect(ff.binaries.ffprobeVersion).toMatch(/^ffprobe version \S+/);
      if (bin.name === "system") expect(ff.binaries.version).toMatch(/^ffmpeg version 5\./);
    });

    it("falls back to PATH, then to the npm packages, each binary on its own", async () => {
      const pathDir = join(dir, "pathbin");
      const emptyDir = join(dir, "emptybin");
      await mkdir(pathDir, { recursive: true });
      await mkdir(emptyDir, { recursive: true });
      await symlink(bin.ffmpeg, join(pathDir, "ffmpeg")).catch(() => {});
      await symlink(bin.ffprobe, join(pathDir, "ffprobe")).catch(() => {});

      const onPath = await Ffmpeg.resolve({ pathEnv: `${emptyDir}:${pathDir}` });
      expect(onPath.binaries).toMatchObject({ ffmpeg: join(pathDir, "ffmpeg"), ffprobe: join(pathDir, "ffprobe"), source: "path" });

      const npm = await Ffmpeg.resolve({ pathEnv: emptyDir });
      expect(npm.binaries).toMatchObject({ ffmpeg: npmFfmpeg(), ffprobe: npmFfprobe(), source: "npm" });
      expect(npm.binaries.version).toMatch(/^ffmpeg version/);

      const mixed = await Ffmpeg.resolve({ ffmpegPath: bin.ffmpeg, pathEnv: emptyDir });
      expect(mixed.binaries).toMatchObject({ ffmpeg: bin.ffmpeg, ffprobe: npmFfprobe(), source: "env" });

      const explicitBeatsPath = await Ffmpeg.resolve({ ffprobePath: bin.ffprobe, pathEnv: pathDir });
      expect(explicitBeatsPath.binaries).toMatchObject({ ffmpeg: join(pathDir, "ffmpeg"), ffprobe: bin.ffprobe, source: "path" });
    });

    it("refuses a bad explicit path with FFMPEG_UNAVAILABLE naming the variable", async () => {
      const missing = await failure(Ffmpeg.resolve({ ffmpegPath: join(dir, "no-such-ffmpeg"), ffprobePath: bin.ffprobe }));
      expect(missing.code).toBe("FFMPEG_UNAVAILABLE");
      expect(missing.message).toContain("FFMPEG_PATH");

      const notExecutable = join(dir, "not-executable");
      await writeFile(notExecutable, "#!/bin/sh\necho hi\n");
      chmodSync(notExecutable, 0o644);
      const noExec = await failure(Ffmpeg.resolve({ ffmpegPath: bin.ffmpeg, ffprobePath: notExecutable }));
      expect(noExec.code).toBe("FFMPEG_UNAVAILABLE");
      expect(noExec.message).toContain("FFPROBE_PATH");

      const notFfmpeg = await failure(Ffmpeg.resolve({ ffmpegPath: "/bin/false", ffprobePath: bin.ffprobe }));
      expect(notFfmpeg.code).toBe("FFMPEG_UNAVAILABLE");
      expect(notFfmpeg.message).toContain("FFMPEG_PATH");
    });

    it("lists encoders, filters, muxers and demuxers", () => {
      const caps = ff.capabilities;
      for (const e of ["libx264", "aac", "libvpx-vp9", "libopus", "libmp3lame", "png", "mjpeg"]) expect(caps.encoders).toContain(e);
      for (const f of ["scale", "overlay", "realtime", "drawtext", "select", "concat"]) expect(caps.filters).toContain(f);
      for (const m of ["mp4", "webm", "matroska", "hls", "segment", "image2"]) expect(caps.muxers).toContain(m);
      for (const d of ["mov", "mp4", "matroska", "webm", "mp3", "wav", "png_pipe", "jpeg_pipe", "hls", "concat"]) expect(caps.demuxers).toContain(d);
      // The switches' headers and legends must not be mistaken for entries.
      expect(caps.encoders).not.toContain("=");
      expect(caps.filters).not.toContain("=");
    });

    it("maps detected content types to demuxers this build has", () => {
      expect(demuxerFor("video/mp4")).toBe("mov");
      expect(demuxerFor("video/webm")).toBe("matroska");
      expect(demuxerFor("video/x-matroska")).toBe("matroska");
      expect(demuxerFor("audio/mpeg")).toBe("mp3");
      expect(demuxerFor("audio/wav")).toBe("wav");
      expect(demuxerFor("image/png")).toBe("png_pipe");
      expect(demuxerFor("image/jpeg")).toBe("jpeg_pipe");
      expect(demuxerFor("audio/ogg; codecs=opus")).toBe("ogg");
      expect(demuxerFor("Video/MP4")).toBe("mov");
      expect(demuxerFor("application/pdf")).toBeNull();
      const types = [
        "video/mp4", "video/quicktime", "video/webm", "video/matroska", "video/x-matroska", "video/vnd.avi", "video/x-msvideo",
        "video/mp2t", "video/mpeg", "video/MP1S", "video/MP2P", "video/x-flv", "video/3gpp", "video/3gpp2", "video/ogg", "video/x-m4v",
        "audio/mpeg", "audio/aac", "audio/mp4", "audio/x-m4a", "audio/aiff",
        "audio/ogg", "audio/opus", "audio/flac", "audio/x-flac", "audio/wav", "audio/x-wav", "audio/vnd.wave", "audio/webm",
        "image/png", "image/jpeg", "image/webp", "image/tiff", "image/gif",
      ];
      for (const t of types) {
        const d = demuxerFor(t);
        expect(d, t).not.toBeNull();
        expect(ff.capabilities.demuxers, `${t} → ${d}`).toContain(d);
      }
    });
  });

  describe("probe", () => {
    it("describes an mp4", async () => {
      for (const format of [undefined, "mov"]) {
        const info = await ff.probe(mp4, { format });
        expect(info.formatName).toContain("mp4");
        expect(Math.abs(info.durationSec! - 2)).toBeLessThanOrEqual(FRAME);
        expect(info.sizeBytes).toBe((await stat(mp4)).size);
        expect(info.bitRate).toBeGreaterThan(0);
        expect(info.streamCount).toBe(2);
        expect(info.video).toMatchObject({ codec: "h264", width: 320, height: 240, fps: 25, pixFmt: "yuv420p", rotation: 0, frames: 50 });
        expect(info.audio).toMatchObject({ codec: "aac", channels: 2, channelLayout: "stereo" });
        expect([44_100, 48_000]).toContain(info.audio!.sampleRate);
      }
    });

    it("describes a webm, audio-only files and an image", async () => {
      const webm = await makeVideo(dir, { ffmpeg: bin.ffmpeg, container: "webm" });
      const w = await ff.probe(webm, { format: "matroska" });
      expect(w.video).toMatchObject({ codec: "vp9", width: 320, height: 240, fps: 25 });
      expect(w.audio).toMatchObject({ codec: "opus", channels: 2, sampleRate: 48_000 });

      const mp3 = await makeAudio(dir, { ffmpeg: bin.ffmpeg });
      const a = await ff.probe(mp3, { format: "mp3" });
      expect(a.video).toBeNull();
      expect(a.audio).toMatchObject({ codec: "mp3", channels: 2, sampleRate: 44_100 });
      expect(Math.abs(a.durationSec! - 2)).toBeLessThan(0.1);

      const wav = await makeAudio(dir, { ffmpeg: bin.ffmpeg, format: "wav" });
      expect((await ff.probe(wav, { format: "wav" })).audio).toMatchObject({ codec: "pcm_s16le", sampleRate: 48_000 });

      const png = await ff.probe(image, { format: "png_pipe" });
      expect(png.video).toMatchObject({ codec: "png", width: 320, height: 240 });
      expect(png.audio).toBeNull();
      expect(png.durationSec).toBeNull();
    });

    it("describes an MPEG-TS file (the npm ffprobe crashed on these until GCONV_PATH was emptied)", async () => {
      const ts = join(dir, "clip.ts");
      await ff.run({ inputs: [{ path: mp4, format: "mov" }], outputs: [{ path: ts, args: ["-c", "copy", "-f", "mpegts"] }] }, { signal: new AbortController().signal });
      const info = await ff.probe(ts, { format: "mpegts" });
      expect(info.video).toMatchObject({ codec: "h264", width: 320, height: 240 });
    });

    it("refuses text named .mp4 and a truncated mp4 as VIDEO_FORMAT_UNSUPPORTED", async () => {
      const text = join(dir, "notes.mp4");
      await writeFile(text, "These are not the frames you are looking for.\n".repeat(50));
      for (const format of [undefined, "mov"]) {
        const err = await failure(ff.probe(text, { format }));
        expect(err).toBeInstanceOf(FfmpegError);
        expect(err.code).toBe("VIDEO_FORMAT_UNSUPPORTED");
        expect((err as FfmpegError).stderrTail.length).toBeGreaterThan(0);
      }
      const cut = await truncate(mp4, 6000);
      const err = await failure(ff.probe(cut, { format: "mov" }));
      expect(err.code).toBe("VIDEO_FORMAT_UNSUPPORTED");
      expect((err as FfmpegError).stderrTail.join("\n")).toMatch(/moov atom not found/);
      expect(err.message).toMatch(/moov atom not found/);
    });

    it("dataEnd: a whole file's packets reach its stated duration, a cut one's stop at the cut", async () => {
      const mp3 = await makeAudio(dir, { ffmpeg: bin.ffmpeg, seconds: 30, format: "mp3" });
      const whole = await ff.dataEnd(mp3, { format: "mp3", fromSec: 20 });
      expect(whole.reachedEnd).toBe(true);
      expect(Math.abs(whole.endSec! - whole.startSec! - 30)).toBeLessThan(0.1);
      // 60 kB of 64 kb/s is 7.5 s; the Xing header still says 30 s.
      const cut = await truncate(mp3, 60_000);
      expect(Math.abs((await ff.probe(cut, { format: "mp3" })).durationSec! - 30)).toBeLessThan(0.1);
      const tail = await ff.dataEnd(cut, { format: "mp3", fromSec: 20 });
      expect(tail.reachedEnd).toBe(true);
      expect(tail.endSec ?? 0).toBeLessThan(8);
      const webm = await makeVideo(dir, { ffmpeg: bin.ffmpeg, container: "webm", seconds: 3 });
      const head = await ff.dataEnd(webm, { format: "matroska", fromSec: 0 });
      expect(head.reachedEnd).toBe(true);
      expect(Math.abs(head.endSec! - 3)).toBeLessThan(0.1);
    });

    it("applies the path rules and refuses file-opening demuxers", async () => {
      expect((await failure(ff.probe("relative/file.mp4"))).code).toBe("INVALID_INPUT");
      expect((await failure(ff.probe(`${dir}/../x.mp4`))).code).toBe("INVALID_INPUT");
      expect((await failure(ff.probe("/tmp/a b.mp4"))).code).toBe("INVALID_INPUT");
      expect((await failure(ff.probe(mp4, { format: "concat" }))).code).toBe("INVALID_INPUT");
      expect((await failure(ff.probe(mp4, { format: "lavfi" }))).code).toBe("INVALID_INPUT");
      expect((await failure(ff.probe(mp4, { format: "hls" }))).code).toBe("INVALID_INPUT");
    });

    it("stops when aborted, before or during the probe, and times out", async () => {
      const ac = new AbortController();
      ac.abort(new Error("cancelled by test"));
      expect((await failure(ff.probe(mp4, { signal: ac.signal }))).code).toBe("ABORTED");

      // A FIFO with no writer: ffprobe blocks in open() until it is killed.
      const fifo = join(dir, `fifo-${Date.now()}`);
      await new Promise<void>((r, j) => spawn("mkfifo", [fifo]).on("exit", (c) => (c === 0 ? r() : j(new Error("mkfifo failed")))));
      const t0 = Date.now();
      const timedOut = await failure(ff.probe(fifo, { timeoutMs: 400 }));
      expect(timedOut.code).toBe("VIDEO_FORMAT_UNSUPPORTED");
      expect(timedOut.message).toMatch(/timed out after 400 ms/);
      expect(Date.now() - t0).toBeLessThan(1500);

      const during = new AbortController();
      const probing = ff.probe(fifo, { signal: during.signal });
      await new Promise((r) => setTimeout(r, 200));
      const t1 = Date.now();
      during.abort(new Error("cancelled by test"));
      expect((await failure(probing)).code).toBe("ABORTED");
      expect(Date.now() - t1).toBeLessThan(1000);
      expect(await waitFor(() => processesMentioning(fifo).length === 0, 2000)).toBe(true);
    });
  });

  describe("run", () => {
    it("transcodes to a scaled mp4 and to webm", async () => {
      const scaled = join(dir, "scaled.mp4");
      const res = await ff.run(
        {
          inputs: [{ path: mp4, format: "mov" }],
          filterComplex: "[0:v]scale=160:120[v0]",
          outputs: [{ path: scaled, args: ["-map", "[v0]", "-map", "0:a", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "30", "-c:a", "aac", "-metadata", "title=two words"] }],
        },
        { signal: never() },
      );
      expect(res.elapsedMs).toBeGreaterThan(0);
      const s = await ff.probe(scaled, { format: "mov" });
      expect(s.video).toMatchObject({ codec: "h264", width: 160, height: 120, fps: 25 });
      expect(s.audio?.codec).toBe("aac");
      expect(Math.abs(s.durationSec! - 2)).toBeLessThanOrEqual(FRAME);
      // An argument with one space survives as one argument (fluent's builder would split it).
      expect(s.tags.title).toBe("two words");

      const webm = join(dir, "out.webm");
      await ff.run(
        {
          inputs: [{ path: mp4, format: "mov" }],
          outputs: [{ path: webm, args: ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "200k", "-c:a", "libopus"] }],
        },
        { signal: never() },
      );
      const w = await ff.probe(webm, { format: "matroska" });
      expect(w.video).toMatchObject({ codec: "vp9", width: 320, height: 240 });
      expect(w.audio?.codec).toBe("opus");
      expect(Math.abs(w.durationSec! - 2)).toBeLessThanOrEqual(FRAME);
    });

    it("reports progress with a growing fraction that ends near 1", async () => {
      const events: FfmpegProgress[] = [];
      const lines: string[] = [];
      await ff.run(
        {
          inputs: [{ path: mp4, format: "mov" }],
          filterComplex: "[0:v]realtime[v]",
          outputs: [{ path: join(dir, "progress.mp4"), args: ["-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast"] }],
        },
        { signal: never(), durationSec: 2, onProgress: (p) => events.push(p), onStderrLine: (l) => lines.push(l) },
      );
      expect(events.length).toBeGreaterThanOrEqual(3);
      for (let i = 1; i < events.length; i++) {
        expect(events[i]!.fraction!).toBeGreaterThanOrEqual(events[i - 1]!.fraction!);
        expect(events[i]!.outTimeSec).toBeGreaterThanOrEqual(events[i - 1]!.outTimeSec);
      }
      const last = events[events.length - 1]!;
      expect(last.fraction).toBeGreaterThan(0.9);
      expect(last.fraction).toBeLessThanOrEqual(1);
      // The realtime filter holds the run at about 1x.
      const mid = events[Math.floor(events.length / 2)]!;
      expect(mid.speed).toBeGreaterThan(0.5);
      expect(mid.speed).toBeLessThan(2);
      expect(mid.etaSec).toBeGreaterThanOrEqual(0);
      expect(mid.fps).not.toBeNull();
      expect(lines.some((l) => /time=/.test(l))).toBe(true);
    });

    it("fails a bad filter with TRANSCODING_FAILED and the stderr tail", async () => {
      const err = await failure(
        ff.run(
          { inputs: [{ path: mp4 }], filterComplex: "[0:v]nosuchfilter=1[v]", outputs: [{ path: join(dir, "bad.mp4"), args: ["-map", "[v]"] }] },
          { signal: never() },
        ),
      );
      expect(err).toBeInstanceOf(FfmpegError);
      expect(err.code).toBe("TRANSCODING_FAILED");
      expect((err as FfmpegError).retryable).toBe(false);
      const tail = (err as FfmpegError).stderrTail;
      expect(tail.length).toBeGreaterThan(0);
      expect(tail.length).toBeLessThanOrEqual(40);
      expect(tail.join("\n")).toMatch(/nosuchfilter/i);
      expect(err.details).toEqual({ stderrTail: tail });
    });

    it("fails undecodable input with VIDEO_FORMAT_UNSUPPORTED", async () => {
      const text = join(dir, "text-as-video.mp4");
      await writeFile(text, "plain text\n".repeat(100));
      for (const format of [undefined, "mov"]) {
        const err = await failure(ff.run({ inputs: [{ path: text, format }], outputs: [{ path: join(dir, "never.mp4"), args: [] }] }, { signal: never() }));
        expect(err.code).toBe("VIDEO_FORMAT_UNSUPPORTED");
      }
      const cut = await truncate(mp4, 6000);
      const err = await failure(ff.run({ inputs: [{ path: cut, format: "mov" }], outputs: [{ path: join(dir, "never2.mp4"), args: [] }] }, { signal: never() }));
      expect(err.code).toBe("VIDEO_FORMAT_UNSUPPORTED");
    });

    it("kills ffmpeg at once on abort and rejects ABORTED", async () => {
      const out = join(dir, "aborted.mp4");
      const ac = new AbortController();
      let pid = 0;
      let progressed = false;
      const running = ff.run(slowSpec(out), { signal: ac.signal, onStart: (p) => (pid = p), onProgress: () => (progressed = true) });
      expect(await waitFor(() => progressed, 10_000)).toBe(true);
      expect(isGone(pid)).toBe(false);
      const t0 = Date.now();
      ac.abort(new Error("cancelled by test"));
      const err = await failure(running);
      const took = Date.now() - t0;
      expect(err.code).toBe("ABORTED");
      expect(err).not.toBeInstanceOf(FfmpegError);
      expect(took).toBeLessThan(1000);
      expect(isGone(pid)).toBe(true);
      // The watchdog shell goes as well.
      expect(await waitFor(() => processesMentioning(out).length === 0, 2000)).toBe(true);
    });

    it("does not start when the signal is already aborted", async () => {
      const ac = new AbortController();
      ac.abort(new Error("too late"));
      let started = false;
      const err = await failure(ff.run(slowSpec(join(dir, "never-started.mp4")), { signal: ac.signal, onStart: () => (started = true) }));
      expect(err.code).toBe("ABORTED");
      await new Promise((r) => setTimeout(r, 200));
      expect(started).toBe(false);
      expect(existsSync(join(dir, "never-started.mp4"))).toBe(false);
    });

    it("times out with TRANSCODING_FAILED", async () => {
      let pid = 0;
      const t0 = Date.now();
      const err = await failure(ff.run(slowSpec(join(dir, "timeout.mp4")), { signal: never(), timeoutMs: 800, onStart: (p) => (pid = p) }));
      expect(err.code).toBe("TRANSCODING_FAILED");
      expect(err.message).toMatch(/timed out after 800 ms/);
      expect(Date.now() - t0).toBeLessThan(3000);
      expect(pid).toBeGreaterThan(0);
      expect(isGone(pid)).toBe(true);
    });

    it("turns -fs truncation into VIDEO_TOO_LARGE", async () => {
      // 2 s of 48 kHz stereo s16 PCM is 384 kB.
      const wav = join(dir, "big.wav");
      const spec: FfmpegSpec = { inputs: [{ path: mp4, format: "mov" }], outputs: [{ path: wav, args: ["-vn", "-c:a", "pcm_s16le"] }] };
      const err = await failure(ff.run(spec, { signal: never(), maxOutputBytes: 50_000 }));
      expect(err.code).toBe("VIDEO_TOO_LARGE");
      expect((await stat(wav)).size).toBeLessThan(100_000);
      await ff.run(spec, { signal: never(), maxOutputBytes: 2_000_000 });
      expect((await stat(wav)).size).toBeGreaterThan(380_000);
    });

    it("checks segmenting outputs by the size of their folder", async () => {
      const hlsDir = join(dir, "hls");
      await mkdir(hlsDir, { recursive: true });
      const spec: FfmpegSpec = {
        inputs: [{ path: mp4, format: "mov" }],
        outputs: [{
          path: join(hlsDir, "index.m3u8"),
          args: ["-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac", "-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod", "-hls_segment_filename", join(hlsDir, "seg_%03d.ts")],
        }],
      };
      await ff.run(spec, { signal: never(), maxOutputBytes: 5_000_000 });
      const files = await readdir(hlsDir);
      expect(files).toContain("index.m3u8");
      expect(files.filter((f) => f.endsWith(".ts")).length).toBeGreaterThanOrEqual(2);
      const err = await failure(ff.run(spec, { signal: never(), maxOutputBytes: 20_000 }));
      expect(err.code).toBe("VIDEO_TOO_LARGE");
    });

    it("refuses unsafe paths and arguments before spawning", async () => {
      const out = join(dir, "x.mp4");
      const bad: FfmpegSpec[] = [
        { inputs: [{ path: "relative.mp4" }], outputs: [{ path: out, args: [] }] },
        { inputs: [{ path: `${dir}/../etc.mp4` }], outputs: [{ path: out, args: [] }] },
        { inputs: [{ path: "file:/etc/passwd" }], outputs: [{ path: out, args: [] }] },
        { inputs: [{ path: `${dir}/seq_%03d.png` }], outputs: [{ path: out, args: [] }] },
        { inputs: [{ path: mp4, format: "concat" }], outputs: [{ path: out, args: [] }] },
        { inputs: [{ path: mp4, format: "hls" }], outputs: [{ path: out, args: [] }] },
        { inputs: [{ path: mp4, format: "mov -i /etc/passwd" }], outputs: [{ path: out, args: [] }] },
        // -stream_loop -1 would read the file forever.
        { inputs: [{ path: mp4, streamLoop: -1 }], outputs: [{ path: out, args: [] }] },
        { inputs: [{ path: mp4, streamLoop: 1.5 }], outputs: [{ path: out, args: [] }] },
        { inputs: [{ path: mp4 }], outputs: [{ path: "out.mp4", args: [] }] },
        { inputs: [{ path: mp4 }], outputs: [{ path: `${dir}/../out.mp4`, args: [] }] },
        { inputs: [{ path: mp4 }], outputs: [{ path: "http://127.0.0.1:1/x.mp4", args: [] }] },
        { inputs: [{ path: mp4 }], outputs: [{ path: out, args: ["-hls_base_url", "http://evil.example/"] }] },
        { inputs: [{ path: mp4 }], outputs: [{ path: out, args: ["-i", "concat:/a.mp4|/b.mp4"] }] },
        { inputs: [{ path: mp4 }], outputs: [{ path: out, args: ["-i", mp4] }] },
        { inputs: [{ path: mp4 }], outputs: [{ path: out, args: ["-attach", "/etc/passwd"] }] },
        { inputs: [{ path: mp4 }], outputs: [{ path: out, args: ["-/filter", "/tmp/f.txt"] }] },
        { inputs: [{ path: mp4 }], outputs: [{ path: out, args: ["-vf", "subtitles=subfile,,start,0,end,0,,:/etc/passwd"] }] },
        { inputs: [{ path: mp4 }], outputs: [{ path: out, args: ["-metadata", "comment=data:text/plain,hi"] }] },
        { inputs: [{ path: mp4 }], outputs: [{ path: out, args: ["-vf", "drawtext=textfile=/tmp/x/../../etc/passwd"] }] },
        { inputs: [{ path: mp4 }], outputs: [{ path: out, args: ["-hls_segment_filename", "/tmp/x/../seg_%03d.ts"] }] },
        { inputs: [{ path: mp4 }], filterComplex: "movie=/etc/passwd[v]", outputs: [{ path: out, args: ["-map", "[v]"] }] },
        { inputs: [{ path: mp4 }], filterComplex: "amovie=/tmp/a.wav[a]", outputs: [{ path: out, args: ["-map", "[a]"] }] },
        { inputs: [{ path: mp4 }], filterComplex: "[0:v]null[a];movie@m=/tmp/x.mp4[b]", outputs: [{ path: out, args: [] }] },
        { inputs: [{ path: mp4 }], filterComplex: "[0:v]drawtext=textfile=file\\://etc/passwd[v]", outputs: [{ path: out, args: [] }] },
        { inputs: [{ path: mp4 }], filterComplex: "[0:v]drawtext=textfile=pipe\\:0[v]", outputs: [{ path: out, args: [] }] },
      ];
      for (const spec of bad) {
        let started = false;
        const err = await failure(ff.run(spec, { signal: never(), onStart: () => (started = true) }));
        expect(err.code, JSON.stringify(spec)).toBe("INVALID_INPUT");
        expect(started).toBe(false);
      }
      expect(existsSync(out)).toBe(false);
    });

    it("builds the hardened command line and allows absolute paths inside arguments", () => {
      const args = buildFfmpegArgs(
        {
          inputs: [{ path: mp4, format: "mov", seekSec: 0.5, durationSec: 1 }, { path: image, loop: true }],
          filterComplex: "[0:v][1:v]overlay=10:10,drawtext=textfile=/tmp/x/t.txt[v];[v]scale=iw/2:ih/2[o];[o][o]concat=n=2:v=1:a=0[c]",
          outputs: [{ path: "/tmp/x/index.m3u8", args: ["-map", "[c]", "-f", "hls", "-hls_segment_filename", "/tmp/x/seg_%03d.ts"] }],
        },
        { maxOutputBytes: 1000 },
      );
      expect(args.slice(0, 3)).toEqual(["-nostdin", "-hide_banner", "-y"]);
      expect(args).not.toContain("-nostats");
      expect(args).not.toContain("-loglevel");
      const firstInput = args.indexOf("-i");
      expect(args.slice(3, firstInput + 2)).toEqual(["-protocol_whitelist", "file,pipe", "-f", "mov", "-ss", "0.500000", "-t", "1", "-i", mp4]);
      const secondInput = args.indexOf("-i", firstInput + 1);
      expect(args.slice(firstInput + 2, secondInput + 2)).toEqual(["-protocol_whitelist", "file,pipe", "-loop", "1", "-i", image]);
      expect(args.slice(-3)).toEqual(["-fs", "1000", "/tmp/x/index.m3u8"]);
      const looped = buildFfmpegArgs({ inputs: [{ path: mp4, format: "mov", streamLoop: 9 }], outputs: [{ path: "/dev/null", args: ["-f", "null"] }] });
      expect(looped.slice(3, looped.indexOf("-i") + 2)).toEqual(["-protocol_whitelist", "file,pipe", "-f", "mov", "-stream_loop", "9", "-i", mp4]);
    });

    it("never opens what a playlist disguised as .mp4 points to", async () => {
      let connections = 0;
      const server: Server = createServer((s) => {
        connections++;
        s.destroy();
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      const port = (server.address() as { port: number }).port;
      try {
        const evil = join(dir, "evil.mp4");
        await writeFile(
          evil,
          [
            "#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:10", "#EXT-X-MEDIA-SEQUENCE:0",
            "#EXTINF:10.0,", "file:///etc/passwd",
            "#EXTINF:10.0,", `http://127.0.0.1:${port}/segment.ts`,
            "#EXT-X-ENDLIST", "",
          ].join("\n"),
        );
        const probed = await failure(ff.probe(evil, { format: "mov" }));
        expect(probed.code).toBe("VIDEO_FORMAT_UNSUPPORTED");
        const ran = await failure(ff.run({ inputs: [{ path: evil, format: "mov" }], outputs: [{ path: join(dir, "evil-out.mp4"), args: [] }] }, { signal: never() }));
        expect(ran.code).toBe("VIDEO_FORMAT_UNSUPPORTED");
        // Without a forced format the protocol whitelist still keeps the network out.
        await failure(ff.probe(evil));
        expect(connections).toBe(0);
        // The listener does count: one connection of our own.
        await new Promise<void>((r) => connect(port, "127.0.0.1").on("close", () => r()).on("error", () => r()));
        await waitFor(() => connections === 1, 1000);
        expect(connections).toBe(1);
      } finally {
        server.close();
      }
    });
  });

  describe("fixtures", () => {
    it("cuts scene videos where asked and hands out independent copies", async () => {
      const scenes = await makeSceneVideo(dir, { ffmpeg: bin.ffmpeg, cuts: [0.4, 1.2] });
      const times: number[] = [];
      await ff.run(
        { inputs: [{ path: scenes, format: "mov" }], filterComplex: "[0:v]select='gt(scene,0.3)',showinfo[v]", outputs: [{ path: "/dev/null", args: ["-map", "[v]", "-f", "null"] }] },
        { signal: never(), onStderrLine: (l) => { const m = /pts_time:([\d.]+)/.exec(l); if (m) times.push(Number(m[1])); } },
      );
      expect(times).toEqual([0.4, 1.2]);
      expect((await ff.probe(scenes)).durationSec).toBeCloseTo(2.2, 1);

      const a = await makeVideo(join(dir, "copy-a"), { ffmpeg: bin.ffmpeg, name: "same" });
      await writeFile(a, "clobbered");
      const b = await makeVideo(join(dir, "copy-b"), { ffmpeg: bin.ffmpeg, name: "same" });
      expect((await ff.probe(b)).video?.codec).toBe("h264");
    });
  });

  describe("orphans", () => {
    it("ffmpeg dies within seconds when the Node process running it is SIGKILLed", async () => {
      const out = join(dir, "orphan.mp4");
      const script = join(dir, "orphan-child.mjs");
      await writeFile(
        script,
        `import { Ffmpeg } from ${JSON.stringify(adapterPath)};
const [ffmpegPath, ffprobePath, image, out] = process.argv.slice(2);
const ff = await Ffmpeg.resolve({ ffmpegPath, ffprobePath });
ff.run(
  { inputs: [{ path: image, loop: true, durationSec: 120 }], filterComplex: "[0:v]realtime[v]",
    outputs: [{ path: out, args: ["-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"] }] },
  { signal: new AbortController().signal, onStart: (pid) => process.stdout.write("ffmpeg-pid " + pid + "\\n"), onProgress: () => process.stdout.write("progress\\n") },
).then(() => process.stdout.write("finished\\n"), (e) => process.stdout.write("failed " + e.message + "\\n"));
setInterval(() => {}, 1000);
`,
      );
      // cwd = the repo so that --import tsx resolves.
      const child = spawn(process.execPath, ["--import", "tsx", script, bin.ffmpeg, bin.ffprobe, image, out], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => (stderr += d));
      let pid = 0;
      try {
        const ready = await waitFor(() => /progress/.test(stdout), 20_000);
        expect(ready, `child output: ${stdout}\n${stderr}`).toBe(true);
        pid = Number(/ffmpeg-pid (\d+)/.exec(stdout)?.[1]);
        expect(pid).toBeGreaterThan(0);
        expect(isGone(pid)).toBe(false);

        child.kill("SIGKILL");
        const t0 = Date.now();
        const gone = await waitFor(() => isGone(pid), 10_000, 20);
        expect(gone, "ffmpeg outlived its Node parent by 10 s").toBe(true);
        expect(Date.now() - t0).toBeLessThan(10_000);
        expect(await waitFor(() => processesMentioning(out).length === 0, 3000)).toBe(true);
      } finally {
        if (child.exitCode === null) child.kill("SIGKILL");
        if (pid && !isGone(pid)) process.kill(pid, "SIGKILL");
      }
    });
  });
});
