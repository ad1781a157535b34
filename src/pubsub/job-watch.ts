// job(id) subscriptions: the job's row first, then the row again after every change, until it
// is finished. The stream carries states, not events: a subscriber that falls behind gets the
// newest row, never a queue of stale ones.
//
// All subscribers of one job in this process share one JobWatch, which reads the row at most
// once at a time: a notification during a read asks for one more read after it. A progress
// storm therefore costs at most two reads per burst per job, whatever the subscriber count.
import { SpoolError } from "../errors.ts";
import { TERMINAL_STATUSES, type JobStatus } from "../engine/types.ts";
import type { Job } from "../generated/prisma/client.ts";
import { LiveStream } from "./live-stream.ts";

export type ReadJob = (id: string) => Promise<Job | null>;

const notFound = (id: string) => new SpoolError("NOT_FOUND", `No job ${id} in your organization.`);

export class JobWatch {
  private readonly streams = new Set<JobStream>();
  /** Numbers the reads; a stream only takes reads that started after it joined. */
  private ticket = 0;
  private reading = false;
  private again = false;

  constructor(
    readonly jobId: string,
    private readonly read: ReadJob,
    private readonly onFailure: (err: unknown) => Error,
    private readonly onEmpty: () => void,
  ) {}

  /** Adds a stream; returns the first read ticket it may take (a read that starts now or after the one in flight). */
  join(stream: JobStream): number {
    this.streams.add(stream);
    const first = this.ticket + 1;
    this.changed();
    return first;
  }

  leave(stream: JobStream): void {
    if (this.streams.delete(stream) && this.streams.size === 0) this.onEmpty();
  }

  /** The job changed (a notification): read it now, or once more after the read in flight. */
  changed(): void {
    if (this.reading) this.again = true;
    else void this.refresh();
  }

  fail(err: Error): void {
    for (const s of [...this.streams]) s.fail(err);
  }

  private async refresh(): Promise<void> {
    this.reading = true;
    try {
      do {
        this.again = false;
        const ticket = ++this.ticket;
        let job: Job | null;
        try {
          job = await this.read(this.jobId);
        } catch (err) {
          this.fail(this.onFailure(err));
          return;
        }
        for (const s of [...this.streams]) s.offer(ticket, job);
      } while (this.again && this.streams.size > 0);
    } finally {
      this.reading = false;
    }
  }
}

/** One subscriber's view: an async iterator of Job rows, ending after a finished one (or with an Error value). */
export class JobStream extends LiveStream<Job> {
  private latest: { ticket: number; job: Job | null } | null = null;
  private readonly minTicket: number;
  private yielded = 0;

  constructor(
    private readonly watch: JobWatch,
    private readonly organizationId: string,
    private readonly onClose: () => void,
  ) {
    super();
    this.minTicket = watch.join(this);
  }

  /** Waits for the first state; a job of another organization (or none) is NOT_FOUND. */
  async ready(): Promise<void> {
    while (!this.latest && !this.error && !this.done) await this.signal.wait();
    if (this.error) {
      const err = this.error;
      this.close();
      throw err;
    }
    const job = this.latest?.job;
    if (!job || job.organizationId !== this.organizationId) {
      this.close();
      throw notFound(this.watch.jobId);
    }
  }

  offer(ticket: number, job: Job | null): void {
    if (this.done || ticket < this.minTicket) return;
    this.latest = { ticket, job };
    this.signal.notify();
  }

  protected pull(): Job | Error | undefined {
    const latest = this.latest;
    if (!latest || latest.ticket <= this.yielded) return undefined;
    this.yielded = latest.ticket;
    if (!latest.job) {
      this.close();
      return new SpoolError("NOT_FOUND", `Job ${this.watch.jobId} was deleted.`);
    }
    // A finished job is the last state: the stream completes after it.
    if (TERMINAL_STATUSES.includes(latest.job.status as JobStatus)) this.close();
    return latest.job;
  }

  protected closed(): void {
    this.watch.leave(this);
    this.onClose();
  }
}
