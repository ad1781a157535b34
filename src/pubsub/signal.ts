// A wake-up for one waiting consumer: the subscriber streams sleep on it until a producer
// (a notification, the listener going down, the client leaving) has something for them.
export class Signal {
  private waiter: (() => void) | null = null;
  private pending = false;

  /** Resolves at the next notify(), or at once if one came since the last wait. */
  wait(): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  notify(): void {
    const w = this.waiter;
    this.waiter = null;
    if (w) w();
    else this.pending = true;
  }
}
