// One jobEvents subscriber: the organization's events in id order, with no gap and no
// duplicate, first replayed from `job_events`, then live.
//
// The feed is split at `fromId`: ids up to it are read from the database, ids above it arrive
// by deliver(). It starts at the process's handed-out mark (LiveUpdates.taken), read in the
// same tick as the feed registers, so every later event is delivered to it and every earlier
// one is already committed. A feed whose buffer fills (a slow client) or that missed a batch
// does not grow or fail: it drops the buffer, moves `fromId` up, and reads that stretch from
// the database instead. Memory per feed is bounded by MAX_BUFFER and REPLAY_PAGE.
import { SpoolError } from "../errors.ts";
import type { JobEvent, PrismaClient } from "../generated/prisma/client.ts";
import type { Logger } from "../log.ts";
import { LiveStream } from "./live-stream.ts";

export type FeedFilter = {
  organizationId: string;
  jobId: string | null;
  kinds: readonly string[] | null;
  types: readonly string[] | null;
};

/** An event row as the feed yields it; live rows carry their job's type for the `types` filter. */
export type FeedEvent = JobEvent & { job?: { type: string } };

/** What a live event is known by before its row is read: the NOTIFY payload. */
export type EventHint = { id: number; org: string; job: string; kind: string };

const REPLAY_PAGE = 200;
const MAX_BUFFER = 1_000;

export class EventFeed extends LiveStream<FeedEvent> {
  private fromId: number;
  /** The last id yielded (or the client's `after`): nothing at or below it is yielded again. */
  private cursor: number;
  private page: FeedEvent[] = [];
  private buffer: FeedEvent[] = [];

  constructor(
    private readonly prisma: PrismaClient,
    private readonly log: Logger,
    readonly filter: FeedFilter,
    handedOut: number,
    after: number | null,
    private readonly onClose: () => void,
  ) {
    super();
    this.fromId = handedOut;
    this.cursor = after ?? handedOut;
  }

  /** Cheap test on the NOTIFY payload: is this event's row worth reading for this feed? */
  wants(h: EventHint): boolean {
    const f = this.filter;
    return !this.done && h.id > this.fromId && h.org === f.organizationId && (!f.jobId || h.job === f.jobId) && (!f.kinds || f.kinds.includes(h.kind));
  }

  deliver(e: FeedEvent): void {
    const id = Number(e.id);
    if (this.done || id <= this.fromId || !this.matches(e)) return;
    if (this.buffer.length >= MAX_BUFFER) return this.fallBehind(id);
    this.buffer.push(e);
    this.signal.notify();
  }

  /** Events up to `id` will be read from the database instead of delivered. */
  fallBehind(id: number): void {
    if (this.done || id <= this.fromId) return;
    this.buffer = [];
    this.fromId = id;
    this.signal.notify();
  }

  protected async pull(): Promise<FeedEvent | undefined> {
    for (;;) {
      const replayed = this.page.shift();
      if (replayed) return replayed;
      if (this.cursor < this.fromId) {
        await this.replay();
        if (this.error || this.done) return undefined;
        continue;
      }
      const live = this.buffer.shift();
      if (!live) return undefined;
      if (Number(live.id) <= this.cursor) continue;
      this.cursor = Number(live.id);
      return live;
    }
  }

  private matches(e: FeedEvent): boolean {
    const f = this.filter;
    return e.organizationId === f.organizationId && (!f.jobId || e.jobId === f.jobId) && (!f.kinds || f.kinds.includes(e.kind))
      && (!f.types || (e.job !== undefined && f.types.includes(e.job.type)));
  }

  /** Reads the next page of (cursor, fromId] from job_events. */
  private async replay(): Promise<void> {
    const target = this.fromId;
    const f = this.filter;
    try {
      this.page = await this.prisma.jobEvent.findMany({
        where: {
          organizationId: f.organizationId,
          id: { gt: BigInt(this.cursor), lte: BigInt(target) },
          ...(f.jobId ? { jobId: f.jobId } : {}),
          ...(f.kinds ? { kind: { in: f.kinds as JobEvent["kind"][] } } : {}),
          ...(f.types ? { job: { type: { in: [...f.types] } } } : {}),
        },
        orderBy: { id: "asc" },
        take: REPLAY_PAGE,
      });
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "replaying job events failed");
      this.fail(new SpoolError("UNAVAILABLE", `Reading the event history failed; subscribe again with after: "${this.cursor}".`));
      return;
    }
    this.cursor = this.page.length === REPLAY_PAGE ? Number(this.page[this.page.length - 1]!.id) : Math.max(this.cursor, target);
  }

  protected closed(): void {
    this.buffer = [];
    this.page = [];
    this.onClose();
  }
}
