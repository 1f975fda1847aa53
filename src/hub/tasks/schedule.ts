/** When a task runs by itself: a cron schedule (croner, seconds and time zone) or an interval. */
import { Cron } from 'croner';
import { invalid } from '../errors.js';
import type { TaskCreate } from './schema.js';

type When = Pick<TaskCreate, 'schedule' | 'interval_s' | 'timezone'>;

/** Throws a HubError (400) that says what is wrong with the schedule or time zone. */
export function checkSchedule(t: When): void {
  if (t.schedule && t.interval_s) throw invalid('give either schedule or interval_s, not both');
  if (t.timezone) {
    try {
      new Intl.DateTimeFormat('en', { timeZone: t.timezone });
    } catch {
      throw invalid(`timezone: "${t.timezone}" is not an IANA time zone (like Europe/Berlin)`);
    }
    if (!t.schedule) throw invalid('timezone: only means something with a schedule');
  }
  if (t.schedule) {
    try {
      new Cron(t.schedule, { paused: true, ...(t.timezone ? { timezone: t.timezone } : {}) }).stop();
    } catch (e) {
      throw invalid(`schedule: "${t.schedule}" is not a valid cron expression: ${(e as Error).message}`);
    }
  }
}

/** The next `n` run times after `from`. */
export function nextRuns(t: When, n: number, from = new Date(), lastRun: Date | null = null): Date[] {
  if (t.schedule) {
    const c = new Cron(t.schedule, { paused: true, ...(t.timezone ? { timezone: t.timezone } : {}) });
    const runs = c.nextRuns(n, from);
    c.stop();
    return runs;
  }
  if (t.interval_s) {
    const step = t.interval_s * 1000;
    const first = lastRun ? Math.max(lastRun.getTime() + step, from.getTime()) : from.getTime() + step;
    return Array.from({ length: n }, (_, i) => new Date(first + i * step));
  }
  return [];
}

/** The latest schedule instant at or before `at` (for catch-up), or null. */
export function previousRun(t: When, at: Date): Date | null {
  if (!t.schedule) return null;
  const c = new Cron(t.schedule, { paused: true, ...(t.timezone ? { timezone: t.timezone } : {}) });
  const prev = c.previousRuns(1, at)[0] ?? null;
  c.stop();
  return prev;
}

/** A running clock: stop it, or ask when it fires next. */
export interface Schedule {
  stop(): void;
  /** When it fires next, or null. */
  next(): Date | null;
}

/** A cron schedule on the shared clock: its pattern (croner, used to compute instants only) and what it fires. */
interface CronEntry {
  readonly cron: Cron;
  /** The next instant it fires at (epoch ms), or null when the pattern has none left. */
  next: number | null;
  readonly fire: (dueAt: Date) => void;
}

/** The longest the clock sleeps before looking again (a wall clock that jumped, a suspended host). */
const CLOCK_MAX_SLEEP_MS = 30_000;

/**
 * One timer for every cron schedule, set for the earliest instant any of them is due, instead of a
 * croner timer each: schedules due at the same instant fire together, one after the other in the
 * same turn (a hundred tasks every second: a hundred jobs timestamped within a millisecond, not
 * spread behind each other's work), and every `fire` gets the true cron instant. Like croner,
 * instants missed while the process was blocked fire once, late, and the next one is after now.
 */
class CronClock {
  /** Instant -> the entries due then. */
  private readonly due = new Map<number, Set<CronEntry>>();
  /** The instants of `due`, ascending. */
  private readonly instants: number[] = [];
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;

  add(e: CronEntry): void {
    e.next = e.cron.nextRun()?.getTime() ?? null;
    this.place(e);
    this.arm();
  }

  remove(e: CronEntry): void {
    if (e.next !== null) {
      const set = this.due.get(e.next);
      set?.delete(e);
      if (set && set.size === 0) this.dropInstant(e.next);
    }
    e.next = null;
    if (this.instants.length === 0 && this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
      this.timerAt = Infinity;
    }
  }

  private place(e: CronEntry): void {
    if (e.next === null) return;
    let set = this.due.get(e.next);
    if (!set) {
      set = new Set();
      this.due.set(e.next, set);
      // Binary search for the spot; usually the end (or near it).
      let lo = 0;
      let hi = this.instants.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (this.instants[mid]! < e.next) lo = mid + 1;
        else hi = mid;
      }
      this.instants.splice(lo, 0, e.next);
    }
    set.add(e);
  }

  private dropInstant(at: number): void {
    this.due.delete(at);
    const i = this.instants.indexOf(at);
    if (i >= 0) this.instants.splice(i, 1);
  }

  /** The timer, for the earliest instant (or a look within CLOCK_MAX_SLEEP_MS). */
  private arm(): void {
    const first = this.instants[0];
    if (first === undefined) return;
    const at = Math.min(first, Date.now() + CLOCK_MAX_SLEEP_MS);
    if (this.timer && this.timerAt <= at) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.tick(), Math.max(0, at - Date.now()));
  }

  private tick(): void {
    this.timer = null;
    this.timerAt = Infinity;
    const now = Date.now();
    // Everything due now, in instant order; taken out first, so a fire() that stops a schedule is safe.
    const fired: Array<[number, CronEntry]> = [];
    while (this.instants.length > 0 && this.instants[0]! <= now) {
      const at = this.instants.shift()!;
      for (const e of this.due.get(at) ?? []) fired.push([at, e]);
      this.due.delete(at);
    }
    for (const [, e] of fired) e.next = null;
    // Fired first (each only queues its work), then the next instants computed: the jobs of one
    // instant all start on time.
    for (const [at, e] of fired) {
      try {
        e.fire(new Date(at));
      } catch {
        // a fire() that throws must not stop the others (the task manager logs its own failures)
      }
    }
    for (const [, e] of fired) {
      if (e.next !== null || this.removed.has(e)) continue;
      e.next = e.cron.nextRun()?.getTime() ?? null;
      this.place(e);
    }
    this.removed = new WeakSet();
    // A timer that ran early (the loop's clock lags) finds nothing due and is simply set again.
    this.arm();
  }

  /** Entries removed during a tick's fires: not placed again. */
  private removed = new WeakSet<CronEntry>();

  /** Stops an entry: out of the timeline, and not placed again by a tick in progress. */
  stop(e: CronEntry): void {
    this.removed.add(e);
    this.remove(e);
  }
}

const clock = new CronClock();

/**
 * Starts the clock; `fire` gets the instant it was due (the cron instant, not the moment the timer
 * ran). Returns the clock.
 */
export function startSchedule(t: When, fire: (dueAt: Date) => void): Schedule {
  if (t.schedule) {
    const entry: CronEntry = { cron: new Cron(t.schedule, { ...(t.timezone ? { timezone: t.timezone } : {}) }), next: null, fire };
    clock.add(entry);
    return {
      stop: () => clock.stop(entry),
      // Between an instant and the clock's turn to fire it (a millisecond or so), the one after it.
      next: () => (entry.next === null ? null : entry.next > Date.now() ? new Date(entry.next) : entry.cron.nextRun()),
    };
  }
  if (t.interval_s) {
    const step = t.interval_s * 1000;
    let due = Date.now() + step;
    let timer: NodeJS.Timeout;
    // Each run is scheduled from the previous due time, so intervals do not drift.
    const tick = (): void => {
      const at = new Date(due);
      due += step;
      // After a suspend or a stalled loop, missed intervals fire once, not one after another.
      if (due <= Date.now()) due += (Math.floor((Date.now() - due) / step) + 1) * step;
      timer = setTimeout(tick, Math.max(0, due - Date.now()));
      fire(at);
    };
    timer = setTimeout(tick, step);
    return { stop: () => clearTimeout(timer), next: () => new Date(due) };
  }
  return { stop: () => undefined, next: () => null };
}
