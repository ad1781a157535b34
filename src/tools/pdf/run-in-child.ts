// The parent side of the PDF child: forks src/tools/pdf/pdf-worker.ts for one operation,
// watches it and settles with its answer.
//
// Untrusted PDFs are never parsed in this process. Every call forks a child
// (`node --import tsx --max-old-space-size=… pdf-worker.ts`, one operation per child) and only
// plain data crosses the IPC channel. A child rather than a worker_thread: pdf.js keeps decoded
// streams in ArrayBuffers and @napi-rs/canvas allocates natively, and neither is counted by a
// Worker's resourceLimits, so an inflate bomb in a Worker would still grow this process. A
// child's whole RSS is watched (/proc/<pid>/status) and the child is SIGKILLed when it passes
// `maxMemoryMb`, when it runs past `timeoutMs`, or at once on abort.
import { fork, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { abortError, JobError, SpoolError } from "../../errors.ts";
import type { OnPage, PdfLimits, PdfRunOptions, WorkerMessage } from "./types.ts";

const DEFAULT_PDF_LIMITS: Required<PdfLimits> = {
  maxPages: 5000,
  maxPixels: 40_000_000,
  // Scans are one image per page, often larger than the page is rendered: 700 dpi Letter is
  // 5950×7700 = 46 MP. Decoding and drawing one costs the child ~9 bytes per pixel (grey) to
  // ~11 (colour JPEG) on top of ~230 MB: measured peak RSS 636 MB for a 46 MP grey scan and
  // 877 MB for a 64 MP colour JPEG, rendered at 300 dpi. 60 MP (800 dpi Letter, 600 dpi Legal)
  // stays under maxMemoryMb with room for the RSS poll's 50 ms.
  maxImagePixels: 60_000_000,
  maxMemoryMb: 1024,
  maxHeapMb: 512,
  timeoutMs: 120_000,
};

/** Where the child's code and the libraries it preloads are; resolved on the first PDF call, not at import. */
type ChildPaths = { worker: string; tsxLoader: string; pdfjsRoot: string; canvas: string; pdfLib: string };
let childPaths: ChildPaths | undefined;
function paths(): ChildPaths {
  if (!childPaths) {
    const requireHere = createRequire(import.meta.url);
    childPaths = {
      worker: fileURLToPath(new URL("./pdf-worker.ts", import.meta.url)),
      tsxLoader: pathToFileURL(requireHere.resolve("tsx")).href,
      pdfjsRoot: dirname(requireHere.resolve("pdfjs-dist/package.json")),
      canvas: requireHere.resolve("@napi-rs/canvas"),
      pdfLib: requireHere.resolve("pdf-lib"),
    };
  }
  return childPaths;
}

// tsx runs esbuild over every module it loads, pdf.js's 2 MB bundles included (~1.5 s per
// child). Loading the libraries before tsx registers keeps them out of its hooks: later imports
// of the same URLs hit the module cache, and pdf.js picks up its worker code from
// globalThis.pdfjsWorker instead of importing it.
const PDFJS_OPS = new Set(["info", "text", "render", "renderPages", "images"]);
const CANVAS_OPS = new Set(["render", "renderPages"]);
function preload(op: string, where: ChildPaths): string {
  const url = (p: string) => JSON.stringify(pathToFileURL(p).href);
  const code = PDFJS_OPS.has(op)
    ? [
        `await import(${url(join(where.pdfjsRoot, "legacy/build/pdf.mjs"))});`,
        `globalThis.pdfjsWorker = await import(${url(join(where.pdfjsRoot, "legacy/build/pdf.worker.mjs"))});`,
        CANVAS_OPS.has(op) ? `await import(${url(where.canvas)});` : "",
      ]
    : [`await import(${url(where.pdfLib)});`];
  return "data:text/javascript," + encodeURIComponent(code.join("\n"));
}
const RSS_POLL_MS = 50;

function limitsOf(opts: PdfRunOptions | undefined): Required<PdfLimits> {
  return { ...DEFAULT_PDF_LIMITS, ...stripUndefined(opts?.limits ?? {}) };
}
function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function rssMb(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** Runs one operation in a fresh child and settles when it answers, dies, or is killed. */
export function runInChild<T>(op: string, args: Record<string, unknown>, opts: PdfRunOptions | undefined, onPage?: OnPage): Promise<T> {
  const limits = limitsOf(opts);
  const signal = opts?.signal;
  const what = `PDF ${op}`;
  if (signal?.aborted) return Promise.reject(abortError(signal, what));
  return new Promise<T>((resolve, reject) => {
    let child: ChildProcess;
    try {
      const where = paths();
      child = fork(where.worker, [], {
        execArgv: ["--import", preload(op, where), "--import", where.tsxLoader, `--max-old-space-size=${limits.maxHeapMb}`, "--no-warnings"],
        serialization: "advanced",
        stdio: ["ignore", "ignore", "pipe", "ipc"],
        env: { ...process.env, NODE_OPTIONS: "" },
      });
    } catch (err) {
      reject(new SpoolError("PDF_WORKER_FAILED", `Cannot start the PDF worker: ${(err as Error).message}`));
      return;
    }
    let settled = false;
    let answer: (() => void) | null = null;
    let killedFor: SpoolError | null = null;
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => {
      if (stderr.length < 8192) stderr += d.toString("utf8");
    });

    const kill = (why: SpoolError) => {
      if (settled || killedFor) return;
      killedFor = why;
      child.kill("SIGKILL");
      // Reject now: the caller must not wait for the exit event of a process it gave up on.
      finish(() => reject(why));
    };
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearInterval(poll);
      signal?.removeEventListener("abort", onAbort);
      fn();
    };
    const onAbort = () => kill(abortError(signal!, what));
    signal?.addEventListener("abort", onAbort, { once: true });

    const timer = setTimeout(() => {
      kill(new JobError("DOCUMENT_TOO_LARGE", `${what} took longer than ${Math.round(limits.timeoutMs / 1000)} s: the document is too large or too complex.`, { details: { reason: "time", timeoutMs: limits.timeoutMs } }));
    }, limits.timeoutMs);
    const poll = setInterval(() => {
      const mb = child.pid ? rssMb(child.pid) : null;
      if (mb != null && mb > limits.maxMemoryMb) {
        kill(new JobError("DOCUMENT_TOO_LARGE", `${what} needed more than ${limits.maxMemoryMb} MB of memory: the document is too large or too complex.`, { details: { reason: "memory", maxMemoryMb: limits.maxMemoryMb } }));
      }
    }, RSS_POLL_MS);

    child.on("message", (msg: WorkerMessage) => {
      if (settled) return;
      if (msg.type === "ready") {
        try {
          child.send({ op, args: { ...args, limits: { maxPages: limits.maxPages, maxPixels: limits.maxPixels, maxImagePixels: limits.maxImagePixels } } });
        } catch {
          // The child died between "ready" and now: its exit event reports it.
        }
      } else if (msg.type === "page") {
        try {
          onPage?.(msg.page, msg.result);
        } catch {
          // A progress callback must not break the operation.
        }
      } else if (msg.type === "done" || msg.type === "error") {
        // Settle on exit, so that no child outlives the promise; the child exits right after
        // answering, and is killed if it lingers.
        answer = msg.type === "done" ? () => resolve(msg.result as T) : () => reject(new JobError(msg.code, msg.message, { details: msg.details }));
        clearTimeout(timer);
        clearInterval(poll);
        setTimeout(() => child.kill("SIGKILL"), 2000).unref();
      }
    });
    child.on("error", (err) => {
      finish(() => reject(new SpoolError("PDF_WORKER_FAILED", `The PDF worker failed: ${err.message}`)));
    });
    // "close", not "exit": it comes after the IPC channel and stderr are drained, so a final
    // message or an out-of-memory report is never missed.
    child.on("close", (code, sig) => {
      if (settled) return;
      if (answer) {
        finish(answer);
        return;
      }
      if (/heap out of memory|Allocation failed|Reached heap limit/i.test(stderr)) {
        finish(() => reject(new JobError("DOCUMENT_TOO_LARGE", `${what} needed more than ${limits.maxHeapMb} MB of heap: the document is too large or too complex.`, { details: { reason: "memory", maxHeapMb: limits.maxHeapMb } })));
        return;
      }
      const tail = stderr.trim().split("\n").slice(-3).join(" | ");
      finish(() => reject(new SpoolError("PDF_WORKER_FAILED", `The PDF worker exited (${sig ?? `code ${code}`}) without an answer${tail ? `: ${tail}` : ""}`)));
    });
  });
}
