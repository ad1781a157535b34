// npm run bench:media [-- --binary npm|system] [--runs N]
//
// Three questions, each against a named peer in the same run, same binary, same machine:
//  1. overhead: a video.transcode job end to end (claim, probe, encode, probe, store, commit)
//     vs the bare ffmpeg command with the very same arguments        goal ≤ 1.03×
//  2. ladder: media.streaming's 3-rung HLS ladder from one decode vs one ffmpeg pass per rung
//     with the same encoder settings                                  goal ≥ 1.25× faster
//  3. seeking: 10 thumbnails (video.thumbnails) of a 10-minute 720p input vs decoding it in full
//                                                                     goal ≤ 0.1×
// Postgres: DATABASE_URL, else Spool's embedded Postgres under ./.spool/bench.
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { createReadStream } from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { loadConfig } from "../../src/config.ts";
import { resolveDatabaseUrl } from "../../src/db/connect.ts";
import { openDatabase } from "../../src/db/database.ts";
import { migrate } from "../../src/db/migrate.ts";
import { Engine } from "../../src/engine/engine.ts";
import { createLogger } from "../../src/log.ts";
import { createRegistry } from "../../src/app.ts";
import type { AssetServices } from "../../src/services/assets.ts";
import { createItem } from "../../src/services/items.ts";
import { ensureOrganization } from "../../src/services/organizations.ts";
import { submitVideoJob } from "../../src/services/videos.ts";
import { buildFfmpegArgs, type FfmpegSpec } from "../../src/tools/ffmpeg/argv.ts";
import { Ffmpeg } from "../../src/tools/ffmpeg/ffmpeg.ts";
import { defaultOutboundPolicy } from "../../src/tools/http.ts";
import { createStorage } from "../../src/tools/storage/create-storage.ts";
import { recreateDatabase } from "./bench-db.ts";
import { runBench } from "./run.ts";

const log = createLogger("warn");
const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const RUNS = Number(arg("runs") ?? 3);

function run(bin: string, args: string[]): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const p = spawn(bin, args, { stdio: ["ignore", "ignore", "pipe"] });
    let tail = "";
    p.stderr.on("data", (d) => (tail = (tail + d).slice(-2000)));
    p.on("error", reject);
    p.on("close", (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`${bin} exited ${code}: ${tail}`))));
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function main() {
  const config = loadConfig({ ...process.env, SPOOL_DATA_DIR: process.env.SPOOL_BENCH_DATA_DIR ?? path.resolve(".spool/bench"), SPOOL_LOG_LEVEL: "warn" });
  const { url, embedded } = await resolveDatabaseUrl(config, log);
  const work = await mkdtemp(path.join(os.tmpdir(), "spool-bench-media-"));
  try {
    const dbUrl = await recreateDatabase(url, "spool_bench_media");
    await migrate(dbUrl);
    const db = openDatabase(dbUrl, { engineMax: 8 });
    const which = arg("binary");
    const npm = await Ffmpeg.resolve({});
    const ffmpeg = which === "npm"
      ? await Ffmpeg.resolve({ ffmpegPath: (await import("@ffmpeg-installer/ffmpeg")).default.path, ffprobePath: (await import("@ffprobe-installer/ffprobe")).default.path })
      : which === "system" ? await Ffmpeg.resolve({ ffmpegPath: "/usr/bin/ffmpeg", ffprobePath: "/usr/bin/ffprobe" }) : npm;
    const bin = ffmpeg.binaries.ffmpeg;

    // Every spec a processor runs, recorded so the peer can run the same arguments bare.
    const specs: FfmpegSpec[] = [];
    const realRun = ffmpeg.run.bind(ffmpeg);
    ffmpeg.run = (spec, opts) => (specs.push(spec), realRun(spec, opts));

    const storage = createStorage({ kind: "local", root: path.join(work, "files") });
    const assets: AssetServices = {
      storage, log, outbound: defaultOutboundPolicy, filesSecret: "bench-secret-bench-secret-bench-secret",
      limits: { videoBytes: 20 * 1024 ** 3, documentBytes: 1024 ** 3, multipartBytes: 1024 ** 2, videoSeconds: 24 * 3600, documentPages: 5000, ocrPages: 1000 },
    };
    const registry = createRegistry({ assets, pool: db.pool, ffmpeg });
    const engine = new Engine({ pool: db.pool, registry, log, concurrency: 1, pollMs: 50 });
    const org = await ensureOrganization(db.prisma, "bench", "Bench");

    process.stdout.write(`media benchmark: ${ffmpeg.binaries.version} (${ffmpeg.binaries.source}), ${os.cpus().length} cores, ${RUNS} runs each, median\n`);
    process.stdout.write("generating inputs…\n");
    const source = path.join(work, "source-720p.mp4");
    await run(bin, ["-hide_banner", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30,noise=alls=12:allf=t", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
      "-t", "30", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", source]);
    // 720p with x264's default keyframe interval (250 frames): what a camera or an editor exports.
    const long = path.join(work, "long-10min.mp4");
    await run(bin, ["-hide_banner", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25", "-t", "600", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "32", "-pix_fmt", "yuv420p", long]);

    const video = async (file: string, title: string) =>
      (await createItem(assets, db.pool, registry, "video", org.id, { title, source: { file: { stream: createReadStream(file), filename: path.basename(file) } } })).id;
    const srcVideo = await video(source, "source");
    const longVideo = await video(long, "long");

    async function spoolJob(type: string, videoId: string, input: Record<string, unknown>): Promise<{ ms: number; specs: FfmpegSpec[] }> {
      specs.length = 0;
      const t0 = performance.now();
      const job = await submitVideoJob(db.pool, registry, org.id, { type, videoId, input });
      await engine.drain();
      const ms = performance.now() - t0;
      const { rows } = await db.pool.query(`select status, error from jobs where id = $1`, [job.id]);
      if (rows[0].status !== "SUCCEEDED") throw new Error(`${type} ${rows[0].status}: ${JSON.stringify(rows[0].error)}`);
      if (process.argv.includes("--stages")) {
        // Where the job's time went: from each STATUS/STAGE event to the next.
        const ev = (await db.pool.query(`select kind, data, created_at from job_events where job_id = $1 and kind in ('STATUS', 'STAGE') order by id`, [job.id])).rows;
        const parts = ev.slice(1).map((e, i) => `${ev[i].data.stage ?? ev[i].data.status} ${e.created_at - ev[i].created_at} ms`);
        process.stdout.write(`  ${type}: submit→done ${ms.toFixed(0)} ms: ${parts.join(", ")}\n`);
      }
      return { ms, specs: [...specs] };
    }

    /** The recorded spec again, bare, writing into a scratch folder instead of the job's. */
    async function bare(spec: FfmpegSpec): Promise<number> {
      const scratch = await mkdtemp(path.join(work, "bare-"));
      try {
        const jobDir = path.dirname(spec.outputs[0]!.path);
        const moved = JSON.parse(JSON.stringify(spec).split(jobDir).join(scratch)) as FfmpegSpec;
        for (const o of moved.outputs) await mkdir(path.dirname(o.path), { recursive: true });
        return await run(bin, buildFfmpegArgs(moved));
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
    }

    const rows: Array<[string, string, string, string, string, string]> = [];

    // 1. overhead ------------------------------------------------------------------------
    const spoolT: number[] = [];
    const bareT: number[] = [];
    // Alternating which goes first, so neither always runs on a warmer machine.
    let encode: FfmpegSpec | null = null;
    for (let i = 0; i < Math.max(RUNS, 5); i++) {
      if (encode && i % 2 === 1) bareT.push(await bare(encode));
      const j = await spoolJob("video.transcode", srcVideo, { height: 480, quality: "medium" });
      spoolT.push(j.ms);
      encode = j.specs.find((s) => s.outputs.some((o) => o.args.includes("libx264")))!;
      if (i % 2 === 0) bareT.push(await bare(encode));
    }
    const overhead = median(spoolT) / median(bareT);
    rows.push(["transcode 30 s 720p → 480p h264", `spool job ${secs(median(spoolT))}`, `bare ffmpeg, same args ${secs(median(bareT))}`, `${overhead.toFixed(3)}×`, "≤ 1.03×", overhead <= 1.03 ? "met" : "NOT met"]);

    // 2. ladder --------------------------------------------------------------------------
    const ladder = [{ height: 360, videoBitrateKbps: 800 }, { height: 540, videoBitrateKbps: 1600 }, { height: 720, videoBitrateKbps: 2800 }];
    const oneT: number[] = [];
    const perRungT: number[] = [];
    const spoolLadderT: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const j = await spoolJob("media.streaming", srcVideo, { renditions: ladder, segmentSeconds: 4 });
      spoolLadderT.push(j.ms);
      const spec = j.specs.find((s) => s.filterComplex?.includes("split"))!;
      oneT.push(await bare(spec));
      // The same rungs, one ffmpeg pass each: each output alone, its [vN] fed by its own scale.
      let total = 0;
      for (let r = 0; r < spec.outputs.length; r++) {
        const out = spec.outputs[r]!;
        const label = /\[(h\d+)\]/.exec(out.args.join(" "))?.[1];
        const scale = label ? new RegExp(`scale=[^;\\[]*\\[${label}\\]`).exec(spec.filterComplex!)?.[0] : null;
        if (!label || !scale) throw new Error("cannot split the ladder spec into passes");
        const single: FfmpegSpec = { inputs: spec.inputs, filterComplex: `[0:v]${scale}`, outputs: [out] };
        total += await bare(single);
      }
      perRungT.push(total);
    }
    const ladderGain = median(perRungT) / median(oneT);
    rows.push(["HLS ladder 360/540/720p, 30 s", `one decode ${secs(median(oneT))} (spool job ${secs(median(spoolLadderT))})`, `one pass per rung ${secs(median(perRungT))}`, `${ladderGain.toFixed(2)}× faster`, "≥ 1.25×", ladderGain >= 1.25 ? "met" : "NOT met"]);

    // 3. seeking -------------------------------------------------------------------------
    const thumbT: number[] = [];
    const fullT: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      thumbT.push((await spoolJob("video.thumbnails", longVideo, { count: 10, width: 320 })).ms);
      fullT.push(await run(bin, ["-hide_banner", "-nostdin", "-i", long, "-f", "null", "-"]));
    }
    const seekRatio = median(thumbT) / median(fullT);
    rows.push(["10 thumbnails of 10 min 720p", `spool job ${secs(median(thumbT))}`, `full decode ${secs(median(fullT))}`, `${seekRatio.toFixed(3)}×`, "≤ 0.1×", seekRatio <= 0.1 ? "met" : "NOT met"]);

    const head = ["case", "spool", "peer", "ratio", "goal", ""];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
    process.stdout.write(`\n${line(head)}\n|${widths.map((w) => "-".repeat(w + 2)).join("|")}|\n${rows.map(line).join("\n")}\n`);
    await engine.stop(1_000);
    await storage.close();
    await db.close();
  } finally {
    await rm(work, { recursive: true, force: true });
    await embedded?.stop();
  }
}

runBench(main);
