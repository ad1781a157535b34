// The process's live view of `job_events`, feeding the GraphQL subscriptions. It is one
// handler on the process's one LISTEN connection (PgListener), so it works across processes
// by construction: an event written by any worker is a NOTIFY every API process receives.
//
// Why not yoga's createPubSub over a custom EventTarget: a topic pubsub cannot end a
// subscriber with an error when LISTEN drops, cannot tell a new feed which events it will
// receive live (the mark its replay must reach), and would fan every event out to every
// subscriber; here job(id) watches share one row read per job and feeds share one read of the
// event rows per batch.
//
// - job(id): every notification for a watched job tells its JobWatch to read the row again
//   (raw, unordered: a state read needs no ordering).
// - jobEvents: notifications go through the EventSequencer (id order), then in batches the
//   rows wanted by some feed are read once and delivered to the matching feeds.
// - LISTEN down: every live subscription ends with UNAVAILABLE (clients resubscribe and read
//   the current state or replay from their cursor); new ones are refused until it is back.
import type pg from "pg";
import { SpoolError } from "../errors.ts";
import type { PrismaClient } from "../generated/prisma/client.ts";
import type { Logger } from "../log.ts";
import { isUuid } from "../uuid.ts";
import { EventFeed, type EventHint, type FeedEvent, type FeedFilter } from "./event-feed.ts";
import { EventSequencer } from "./event-sequencer.ts";
import { JobStream, JobWatch } from "./job-watch.ts";
import type { PgListener } from "./pg-listener.ts";

const EVENTS_CHANNEL = "spool_events";
const KINDS = new Set(["STATUS", "STAGE", "PROGRESS", "LOG"]);
/** Event rows read per delivery batch. */
const LOAD_BATCH = 500;
/** Sequenced events waiting for delivery at most; past it, feeds catch up from the database. */
const MAX_QUEUE = 10_000;

/** The trigger's payload (`spool_notify_event`), checked field by field; null if malformed. */
function parseEventHint(payload: string): EventHint | null {
  if (payload.length > 8_000) return null;
  let v: unknown;
  try {
    v = JSON.parse(payload);
  } catch {
    return null;
  }
  const o = v as Record<string, unknown> | null;
  if (!o || typeof o !== "object") return null;
  const { id, org, job, kind } = o;
  // Ids past 2^53 would lose precision as numbers; a bigserial will not get there.
  if (!Number.isSafeInteger(id) || (id as number) <= 0) return null;
  if (!isUuid(org) || !isUuid(job)) return null;
  if (typeof kind !== "string" || !KINDS.has(kind)) return null;
  return { id: id as number, org, job, kind };
}

const unavailable = (why: string) =>
  new SpoolError("UNAVAILABLE", `Live updates are interrupted (${why}); subscribe again: job(id) starts with the current state, jobEvents(after:) replays from your last event id.`);

export type LiveUpdatesOptions = {
  listener: PgListener;
  pool: pg.Pool;
  prisma: PrismaClient;
  log: Logger;
  gapTimeoutMs?: number;
  /** Live subscriptions of one organization in this process, at most. */
  maxPerOrganization?: number;
};

export class LiveUpdates {
  private readonly log: Logger;
  private readonly watches = new Map<string, JobWatch>();
  private readonly feeds = new Set<EventFeed>();
  private readonly perOrg = new Map<string, number>();
  private readonly sequencer: EventSequencer<EventHint>;
  private readonly off: Array<() => void>;
  private queue: EventHint[] = [];
  private pumping = false;
  /** Every event id up to here is handed to the feeds, or known to be in job_events already. */
  private taken = 0;
  /** Bumped when LISTEN drops or comes back: work started before belongs to the old epoch. */
  private epoch = 0;
  private ready = false;
  private baseline: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly opts: LiveUpdatesOptions) {
    this.log = opts.log.child({ component: "live-updates" });
    this.sequencer = new EventSequencer<EventHint>({
      log: this.log,
      gapTimeoutMs: opts.gapTimeoutMs,
      emit: (h) => this.sequenced(h),
      lookup: async (after, before, limit) => {
        const { rows } = await opts.pool.query(
          // `order by job_events.id`: a bare `id` would sort by the text output column.
          `select id::text, organization_id::text as org, job_id::text as job, kind::text
           from job_events where id > $1 and id < $2 order by job_events.id limit $3`,
          [after, before, limit],
        );
        return rows.map((r) => ({ ...r, id: Number(r.id) }));
      },
    });
    // Registered at construction, before the listener starts: its first LISTEN then covers
    // this channel, and start() reads the high-water mark after it. (On a listener already
    // running, LISTEN is issued asynchronously; an event committed between the mark and the
    // LISTEN shows up as a gap at the next event and is read from the table.)
    this.off = [
      opts.listener.on(EVENTS_CHANNEL, (payload) => this.notified(payload)),
      opts.listener.onDown(() => this.down()),
      opts.listener.onUp(() => void this.rebaseline()),
    ];
  }

  /** Call once the listener is started. */
  async start(): Promise<void> {
    if (this.opts.listener.connected) await this.rebaseline();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const off of this.off) off();
    this.down("the server is shutting down");
  }

  /** Live subscriptions and what they hold, for health checks and tests. */
  get stats(): { subscriptions: number; watchedJobs: number; feeds: number } {
    let subscriptions = 0;
    for (const n of this.perOrg.values()) subscriptions += n;
    return { subscriptions, watchedJobs: this.watches.size, feeds: this.feeds.size };
  }

  /** A job(id) subscription, after its first state was read; NOT_FOUND for another organization's job. */
  async watchJob(jobId: string, organizationId: string): Promise<JobStream> {
    await this.ensureReady();
    this.admit(organizationId);
    let watch = this.watches.get(jobId);
    if (!watch) {
      const created = new JobWatch(
        jobId,
        (id) => this.opts.prisma.job.findUnique({ where: { id } }),
        (err) => {
          this.log.warn({ err: (err as Error).message, jobId }, "reading a watched job failed");
          return unavailable("reading the job failed");
        },
        () => this.watches.get(jobId) === created && this.watches.delete(jobId),
      );
      this.watches.set(jobId, created);
      watch = created;
    }
    const stream = new JobStream(watch, organizationId, () => this.release(organizationId));
    await stream.ready();
    return stream;
  }

  /** A jobEvents subscription: replays (after, handed-out mark] from the table, then continues live. */
  async openFeed(filter: FeedFilter, after: number | null): Promise<EventFeed> {
    await this.ensureReady();
    this.admit(filter.organizationId);
    // Same tick: the feed is registered and told the mark, with no delivery in between.
    const feed = new EventFeed(this.opts.prisma, this.log, filter, this.taken, after, () => {
      this.feeds.delete(feed);
      this.release(filter.organizationId);
    });
    this.feeds.add(feed);
    return feed;
  }

  private async ensureReady(): Promise<void> {
    if (this.stopped || !this.opts.listener.connected) throw unavailable("the server lost its database notification connection");
    if (!this.ready) await this.baseline.catch(() => undefined);
    if (!this.ready || !this.opts.listener.connected) throw unavailable("the server lost its database notification connection");
  }

  private admit(organizationId: string): void {
    const max = this.opts.maxPerOrganization ?? 1_000;
    const n = this.perOrg.get(organizationId) ?? 0;
    if (n >= max) throw new SpoolError("RATE_LIMITED", `Your organization has ${n} live subscriptions on this server, the most allowed; end some first.`);
    this.perOrg.set(organizationId, n + 1);
  }

  private release(organizationId: string): void {
    const n = (this.perOrg.get(organizationId) ?? 1) - 1;
    if (n > 0) this.perOrg.set(organizationId, n);
    else this.perOrg.delete(organizationId);
  }

  private notified(payload: string): void {
    const hint = parseEventHint(payload);
    if (!hint) {
      this.log.warn({ payload: payload.slice(0, 200) }, `ignored a malformed ${EVENTS_CHANNEL} notification`);
      return;
    }
    this.watches.get(hint.job)?.changed();
    // Sequenced even with no feed open, so that `taken` is right when one opens.
    this.sequencer.push(hint);
  }

  /** The LISTEN connection is (back) up: everything committed so far is in the table. */
  private rebaseline(): Promise<void> {
    const epoch = ++this.epoch;
    this.ready = false;
    this.baseline = (async () => {
      const { rows } = await this.opts.pool.query(`select coalesce(max(id), 0)::text as max from job_events`);
      if (epoch !== this.epoch) return;
      const mark = Number(rows[0].max);
      this.queue = [];
      this.taken = mark;
      this.sequencer.reset(mark);
      this.ready = true;
    })();
    this.baseline.catch((err) => {
      if (epoch !== this.epoch || this.stopped) return;
      this.log.warn({ err: (err as Error).message }, "reading the event high-water mark failed; retrying");
      setTimeout(() => epoch === this.epoch && this.opts.listener.connected && void this.rebaseline(), 1_000).unref();
    });
    return this.baseline;
  }

  private down(why = "the server lost its database notification connection"): void {
    this.epoch++;
    this.ready = false;
    this.sequencer.pause();
    this.queue = [];
    const err = unavailable(why);
    for (const w of this.watches.values()) w.fail(err);
    for (const f of this.feeds) f.fail(err);
  }

  private sequenced(hint: EventHint): void {
    this.queue.push(hint);
    if (this.queue.length > MAX_QUEUE) {
      // Delivery cannot keep up (slow database): the feeds read this stretch from the table.
      this.taken = this.queue[this.queue.length - 1]!.id;
      this.queue = [];
      for (const f of this.feeds) f.fallBehind(this.taken);
      this.log.warn({ upTo: this.taken }, "live event delivery fell behind; feeds catch up from the table");
      return;
    }
    if (!this.pumping) void this.pump();
  }

  /** Delivers sequenced events in id order: one read of the wanted rows per batch. */
  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, LOAD_BATCH);
        const { epoch } = this;
        this.taken = batch[batch.length - 1]!.id;
        const feeds = [...this.feeds];
        const wanted = batch.filter((h) => feeds.some((f) => f.wants(h))).map((h) => BigInt(h.id));
        if (wanted.length === 0) continue;
        let rows: FeedEvent[];
        try {
          rows = await this.opts.prisma.jobEvent.findMany({ where: { id: { in: wanted } }, include: { job: { select: { type: true } } }, orderBy: { id: "asc" } });
        } catch (err) {
          this.log.warn({ err: (err as Error).message }, "reading live events failed; feeds catch up from the table");
          for (const f of feeds) f.fallBehind(batch[batch.length - 1]!.id);
          continue;
        }
        if (epoch !== this.epoch) continue;
        for (const row of rows) for (const f of feeds) f.deliver(row);
      }
    } finally {
      this.pumping = false;
    }
  }
}
