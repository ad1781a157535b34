// A running job's progress, stage and log lines, written to its row and history.
// Progress is coalesced: a processor may report a thousand times a second (ffmpeg does),
// but the row is written at most once per `intervalMs` with the latest value, and log
// lines ride along in the same flush. Every write is fenced by the attempt; a write that
// matches no row means the job was cancelled or reclaimed, and `onLost` aborts the work.
import type pg from "pg";
import type { Logger } from "../log.ts";
import * as sql from "./sql.ts";
import type { Job, ProgressDetails } from "./types.ts";

const MAX_BUFFERED_LINES = 200;
const MAX_LINE_LENGTH = 2_000;

export class JobReporter {
  private pendingProgress: number | null = null;
  private pendingDetails: ProgressDetails | null = null;
  private writtenProgress: number;
  private lines: Array<{ level: string; message: string }> = [];
  private droppedLines = 0;
  private lastFlush = 0;
  private timer: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly job: Job,
    private readonly intervalMs: number,
    private readonly log: Logger,
    private readonly onLost: () => void,
  ) {
    this.writtenProgress = job.progress;
  }

  progress(fraction: number, details?: ProgressDetails): void {
    if (this.closed || !Number.isFinite(fraction)) return;
    const p = Math.min(1, Math.max(0, fraction));
    if (p === (this.pendingProgress ?? this.writtenProgress)) return;
    this.pendingProgress = p;
    this.pendingDetails = details ? cleanDetails(details) : null;
    this.schedule();
  }

  logLine(message: string, level: "info" | "warn" | "error" = "info"): void {
    if (this.closed) return;
    if (this.lines.length >= MAX_BUFFERED_LINES) {
      this.droppedLines++;
      return;
    }
    this.lines.push({ level, message: String(message).slice(0, MAX_LINE_LENGTH) });
    this.schedule();
  }

  /** Stages are rare and meaningful: written at once, after any pending progress. */
  async stage(name: string): Promise<void> {
    if (this.closed) return;
    await this.flushNow();
    await this.enqueueWrite(async () => {
      const { rowCount } = await this.pool.query(sql.stage, [this.job.id, this.job.attempts, name.slice(0, 200)]);
      if (!rowCount) this.onLost();
    });
  }

  /** Writes what is pending and stops accepting reports; called before the job finishes. */
  async close(): Promise<void> {
    await this.flushNow();
    this.closed = true;
    await this.chain;
  }

  private schedule(): void {
    if (this.timer) return;
    const wait = Math.max(0, this.lastFlush + this.intervalMs - Date.now());
    this.timer = setTimeout(() => void this.flushNow(), wait);
  }

  private flushNow(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const progress = this.pendingProgress;
    const details = this.pendingDetails;
    const lines = this.lines;
    if (this.droppedLines > 0) {
      lines.push({ level: "warn", message: `${this.droppedLines} log lines dropped (more than ${MAX_BUFFERED_LINES} between writes)` });
      this.droppedLines = 0;
    }
    this.pendingProgress = null;
    this.pendingDetails = null;
    this.lines = [];
    if (progress === null && lines.length === 0) return this.chain;
    this.lastFlush = Date.now();
    return this.enqueueWrite(async () => {
      if (lines.length > 0) {
        const { rowCount } = await this.pool.query(sql.logLines, [this.job.id, this.job.attempts, JSON.stringify(lines)]);
        if (!rowCount) return this.onLost();
      }
      if (progress !== null) {
        const { rowCount } = await this.pool.query(sql.progress, [this.job.id, this.job.attempts, progress, details ? JSON.stringify(details) : null]);
        if (!rowCount) return this.onLost();
        this.writtenProgress = progress;
      }
    });
  }

  /** Writes go one after another, so a later progress value never lands before an earlier one. */
  private enqueueWrite(write: () => Promise<void>): Promise<void> {
    this.chain = this.chain.then(write).catch((err) => {
      this.log.warn({ err, jobId: this.job.id }, "progress write failed");
    });
    return this.chain;
  }
}

/** Finite numbers only, rounded: NaN or Infinity from a first ffmpeg stats line is not news. */
function cleanDetails(d: ProgressDetails): ProgressDetails | null {
  const out: Record<string, number> = {};
  for (const k of ["fps", "speed", "etaSeconds", "pagesDone", "pageCount"] as const) {
    const v = d[k];
    if (typeof v === "number" && Number.isFinite(v) && v >= 0) out[k] = Math.round(v * 100) / 100;
  }
  return Object.keys(out).length ? out : null;
}
