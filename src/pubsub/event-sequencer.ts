// Turns the `spool_events` notifications, which arrive in COMMIT order, back into `job_events.id`
// order. Ids are assigned at insert, but transactions commit in another order: id 11 can be
// visible (and notified) before id 10. A feed that passed 11 on at once could never deliver 10
// without going backwards, and a client resuming with after=11 would miss 10 for good.
//
// So an event waits until every smaller id has been seen. A gap that lasts `gapTimeoutMs` is
// settled with the database: ids that exist now are emitted from their rows (their NOTIFY may
// still be on the wire; it is dropped as a duplicate when it comes), ids that do not exist are
// skipped, because a rolled-back insert burns its id for ever.
//
// Residual risk, accepted: a transaction that holds an event id longer than `gapTimeoutMs`
// before committing (a long transaction that enqueues a job early, a stalled client) is skipped,
// and its event reaches no live feed in this process; it stays in `job_events`, so history,
// `job(id)` (which reads the row) and any later replay show it. Such late arrivals are logged.
import type { Logger } from "../log.ts";

export type Sequenced = { id: number };

export type SequencerOptions<E extends Sequenced> = {
  /** Committed events with afterId < id < beforeId, in id order, at most `limit`. */
  lookup: (afterId: number, beforeId: number, limit: number) => Promise<E[]>;
  emit: (event: E) => void;
  log: Logger;
  gapTimeoutMs?: number;
  /** Events held back at most; past it they are let through and the gaps skipped (memory bound). */
  maxHeld?: number;
  /** Rows read per gap check; a fuller answer settles the gap only up to its last row. */
  lookupLimit?: number;
};

const RECENTLY_SKIPPED = 1_000;

export class EventSequencer<E extends Sequenced> {
  /** Every id up to here is emitted or settled as missing; null until the first reset(). */
  private settled: number | null = null;
  private readonly held = new Map<number, { event: E; at: number }>();
  private readonly skipped = new Set<number>();
  private timer: NodeJS.Timeout | null = null;
  private checking = false;
  /** After a failed gap check, the next one waits (the database may be down). */
  private retryAt = 0;
  private epoch = 0;
  private readonly gapTimeoutMs: number;
  private readonly maxHeld: number;
  private readonly lookupLimit: number;

  constructor(private readonly opts: SequencerOptions<E>) {
    this.gapTimeoutMs = opts.gapTimeoutMs ?? 750;
    this.maxHeld = opts.maxHeld ?? 10_000;
    this.lookupLimit = opts.lookupLimit ?? 1_000;
  }

  /** The highest id emitted or settled as missing (0 before the first reset). */
  get highWater(): number {
    return this.settled ?? 0;
  }

  /**
   * Starts (again) after `highWater`: everything up to it is known to be in the database
   * already. Called once the LISTEN connection is up, with max(id) read after LISTEN.
   */
  reset(highWater: number): void {
    this.epoch++;
    this.settled = highWater;
    for (const id of this.held.keys()) if (id <= highWater) this.held.delete(id);
    this.drain();
  }

  /** Holds everything until the next reset() (the LISTEN connection is down). */
  pause(): void {
    this.epoch++;
    this.settled = null;
    this.held.clear();
    this.clearTimer();
  }

  stop(): void {
    this.pause();
  }

  push(event: E): void {
    if (this.settled !== null && event.id <= this.settled) {
      if (this.skipped.delete(event.id)) {
        this.opts.log.warn({ eventId: event.id, gapTimeoutMs: this.gapTimeoutMs }, "an event committed after its gap was skipped; live feeds miss it (it is in job_events)");
      }
      return; // otherwise a duplicate: already emitted from the database
    }
    if (this.held.has(event.id)) return;
    if (this.settled === null && this.held.size >= this.maxHeld) return; // a later gap check finds it
    this.held.set(event.id, { event, at: Date.now() });
    if (this.settled !== null && this.held.size > this.maxHeld) {
      this.opts.log.warn({ held: this.held.size }, "too many events held back for missing ids; skipping the gaps");
      this.settleThrough(Math.max(...this.held.keys()));
    }
    this.drain();
  }

  /** Emits the held events that follow the settled mark without a gap. */
  private drain(): void {
    if (this.settled === null) return;
    for (let next = this.held.get(this.settled + 1); next; next = this.held.get(this.settled + 1)) {
      this.held.delete(next.event.id);
      this.settled = next.event.id;
      this.opts.emit(next.event);
    }
    if (this.held.size === 0) this.clearTimer();
    else this.schedule();
  }

  /** Emits every held event up to `id` in order; ids up to it that are not held are skipped. */
  private settleThrough(id: number): void {
    if (this.settled === null || id <= this.settled) return;
    const ready = [...this.held.keys()].filter((k) => k <= id).sort((a, b) => a - b);
    // Remember (a bounded number of) the skipped ids, to tell a late commit from a duplicate.
    let budget = RECENTLY_SKIPPED;
    let prev = this.settled;
    for (const k of [...ready, id + 1]) {
      for (let m = prev + 1; m < k && budget > 0; m++, budget--) this.remember(m);
      prev = k;
    }
    for (const k of ready) {
      const { event } = this.held.get(k)!;
      this.held.delete(k);
      this.opts.emit(event);
    }
    this.settled = id;
  }

  private remember(id: number): void {
    this.skipped.add(id);
    if (this.skipped.size > RECENTLY_SKIPPED) this.skipped.delete(this.skipped.values().next().value!);
  }

  private schedule(): void {
    if (this.timer || this.checking) return;
    const oldest = this.held.values().next().value!; // a Map iterates in arrival order
    const wait = Math.max(0, oldest.at + this.gapTimeoutMs - Date.now(), this.retryAt - Date.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.checkGaps();
    }, wait);
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Settles the gaps below every event that has waited `gapTimeoutMs`, with the database. */
  private async checkGaps(): Promise<void> {
    const cutoff = Date.now() - this.gapTimeoutMs;
    let upTo = 0;
    for (const [id, h] of this.held) if (h.at <= cutoff && id > upTo) upTo = id;
    if (upTo === 0 || this.settled === null) return this.drain();
    const { epoch } = this;
    const from = this.settled;
    this.checking = true;
    try {
      const rows = await this.opts.lookup(from, upTo, this.lookupLimit);
      if (epoch !== this.epoch) return;
      for (const row of rows) if (row.id > this.settled! && !this.held.has(row.id)) this.held.set(row.id, { event: row, at: Date.now() });
      this.settleThrough(rows.length >= this.lookupLimit ? rows[rows.length - 1]!.id : upTo - 1);
    } catch (err) {
      this.retryAt = Date.now() + this.gapTimeoutMs;
      this.opts.log.warn({ err: (err as Error).message }, "checking a gap in event ids failed; trying again");
    } finally {
      this.checking = false;
      this.drain(); // also re-arms the timer a reset() during the check could not
    }
  }
}
