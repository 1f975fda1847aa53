/**
 * Failed broker sign-ins per user name and per remote address in a sliding window: beyond the
 * limit a sign-in is refused before its password is checked, so guessing costs no scrypt work.
 * Successful sign-ins are not counted.
 */
export interface LoginLimits {
  perUsername: number;
  perAddress: number;
  windowMs: number;
  /** The clock (epoch ms); a test's own. */
  now?: () => number;
}

export const BROKER_LOGIN_LIMITS: LoginLimits = { perUsername: 10, perAddress: 30, windowMs: 60_000 };

export class LoginLimiter {
  /** Times of failures in the window, by `u:<name>` and `a:<address>`. */
  private readonly failures = new Map<string, number[]>();
  private readonly now: () => number;
  private lastSweep = 0;

  constructor(private readonly limits: LoginLimits = BROKER_LOGIN_LIMITS) {
    this.now = limits.now ?? Date.now;
  }

  /** Seconds to wait before this sign-in may be tried, or null when it may be tried now. */
  retryAfter(username: string, address: string | undefined): number | null {
    const now = this.now();
    const waits = [this.wait(`u:${username}`, this.limits.perUsername, now)];
    if (address) waits.push(this.wait(`a:${address}`, this.limits.perAddress, now));
    const ms = Math.max(...waits);
    return ms > 0 ? Math.ceil(ms / 1000) : null;
  }

  failed(username: string, address: string | undefined): void {
    const now = this.now();
    this.sweep(now);
    this.add(`u:${username}`, now);
    if (address) this.add(`a:${address}`, now);
  }

  /** How long until the key is under its limit again (0: it is). */
  private wait(key: string, limit: number, now: number): number {
    const times = this.recent(key, now);
    if (times.length < limit) return 0;
    return times[times.length - limit]! + this.limits.windowMs - now;
  }

  private recent(key: string, now: number): number[] {
    const times = (this.failures.get(key) ?? []).filter((t) => t > now - this.limits.windowMs);
    if (times.length) this.failures.set(key, times);
    else this.failures.delete(key);
    return times;
  }

  private add(key: string, now: number): void {
    this.failures.set(key, [...this.recent(key, now), now]);
  }

  /** Guessed names that are never tried again must not pile up: forget old keys once a window. */
  private sweep(now: number): void {
    if (now - this.lastSweep < this.limits.windowMs) return;
    this.lastSweep = now;
    for (const key of [...this.failures.keys()]) this.recent(key, now);
  }
}
