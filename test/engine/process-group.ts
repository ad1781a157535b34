// A test processor's way to start a child with grandchildren and stop them all on abort:
// the child gets a process group of its own, and abort kills the whole group (SIGTERM, then
// SIGKILL after a grace). Spool's own child runs are stopped by their adapters
// (tools/ffmpeg/run.ts, tools/ffmpeg/probe.ts, tools/pdf/run-in-child.ts); this one shows
// that a cancelled job's AbortSignal reaches whatever a processor started.
import { spawn, type SpawnOptions } from "node:child_process";
import { SpoolError } from "../../src/errors.ts";

export type RunResult = { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string };

const OUTPUT_CAP = 1024 * 1024;

export function runProcess(
  command: string,
  args: readonly string[],
  opts: { signal?: AbortSignal; killGraceMs?: number; onSpawn?: (pid: number) => void; env?: SpawnOptions["env"] } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) return reject(new SpoolError("ABORTED", `aborted before start: ${String(opts.signal.reason)}`));
    const child = spawn(command, args, { detached: true, stdio: ["ignore", "pipe", "pipe"], env: opts.env });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => { if (stdout.length < OUTPUT_CAP) stdout += d; });
    child.stderr!.on("data", (d) => { if (stderr.length < OUTPUT_CAP) stderr += d; });
    let killTimer: NodeJS.Timeout | undefined;
    const killGroup = (sig: NodeJS.Signals) => {
      try { if (child.pid) process.kill(-child.pid, sig); } catch { /* already gone */ }
    };
    const onAbort = () => {
      killGroup("SIGTERM");
      killTimer = setTimeout(() => killGroup("SIGKILL"), opts.killGraceMs ?? 500);
      killTimer.unref();
    };
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    child.on("spawn", () => child.pid && opts.onSpawn?.(child.pid));
    child.on("error", (err) => {
      opts.signal?.removeEventListener("abort", onAbort);
      reject(err);
    });
    child.on("close", (code, signal) => {
      opts.signal?.removeEventListener("abort", onAbort);
      if (killTimer) clearTimeout(killTimer);
      // The leader exited; make sure nothing of its group is left behind either.
      if (opts.signal?.aborted) killGroup("SIGKILL");
      if (opts.signal?.aborted) return reject(new SpoolError("ABORTED", `${command} stopped: ${String(opts.signal.reason)}`));
      resolve({ code, signal, stdout, stderr });
    });
  });
}
