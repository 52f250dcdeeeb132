// Failed attempts per key (a client address, a user name) in a fixed window that starts at the
// first failure. Reaching the limit locks the key for one more window from that moment. Pure: the
// caller passes the time. Bounded: past MAX_KEYS the oldest windows are forgotten first.

const MAX_KEYS = 20_000;

interface Entry {
  count: number;
  /** end of the counting window, or of the lock once the limit was reached */
  until: number;
}

export class FailureCounter {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly limit: number, private readonly windowMs: number) {}

  locked(key: string, now: number): boolean {
    const e = this.entries.get(key);
    if (!e) return false;
    if (e.until <= now) {
      this.entries.delete(key);
      return false;
    }
    return e.count >= this.limit;
  }

  add(key: string, now: number): void {
    let e = this.entries.get(key);
    if (!e || e.until <= now) {
      if (this.entries.size >= MAX_KEYS) this.entries.delete(this.entries.keys().next().value!);
      e = { count: 0, until: now + this.windowMs };
      this.entries.delete(key);
      this.entries.set(key, e);
    }
    e.count++;
    if (e.count === this.limit) e.until = now + this.windowMs;
  }

  clear(key: string): void {
    this.entries.delete(key);
  }
}
