// What every subscriber stream shares: an async iterator that sleeps on a Signal until its
// producer has something, yields an Error *value* when failed (the resolver throws it, so
// the client gets a masked error with its code, then complete), and cleans up once.
import { Signal } from "./signal.ts";

export abstract class LiveStream<T> implements AsyncIterableIterator<T | Error> {
  protected done = false;
  protected error: Error | null = null;
  protected readonly signal = new Signal();

  /** The next value, or undefined to sleep until notified. May await (a database page). */
  protected abstract pull(): Promise<T | Error | undefined> | T | Error | undefined;
  /** Releases what the stream holds; called once. */
  protected abstract closed(): void;

  fail(err: Error): void {
    if (this.done || this.error) return;
    this.error = err;
    this.signal.notify();
  }

  async next(): Promise<IteratorResult<T | Error>> {
    for (;;) {
      if (this.done) return { done: true, value: undefined };
      if (this.error) {
        const err = this.error;
        this.close();
        return { done: false, value: err };
      }
      const value = await this.pull();
      if (value !== undefined) return { done: false, value };
      if (!this.done && !this.error) await this.signal.wait();
    }
  }

  async return(): Promise<IteratorResult<T | Error>> {
    this.close();
    return { done: true, value: undefined };
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  protected close(): void {
    if (this.done) return;
    this.done = true;
    this.closed();
    this.signal.notify();
  }
}
