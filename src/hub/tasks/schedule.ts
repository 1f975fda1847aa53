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

/** Starts the clock; `fire` gets the instant it was due. Returns the function that stops it. */
export function startSchedule(t: When, fire: (dueAt: Date) => void): () => void {
  if (t.schedule) {
    const c = new Cron(t.schedule, { ...(t.timezone ? { timezone: t.timezone } : {}) }, (self: Cron) => {
      fire(self.currentRun() ?? new Date());
    });
    return () => c.stop();
  }
  if (t.interval_s) {
    const step = t.interval_s * 1000;
    let due = Date.now() + step;
    let timer: NodeJS.Timeout;
    // Each run is scheduled from the previous due time, so intervals do not drift.
    const tick = (): void => {
      const at = new Date(due);
      due += step;
      timer = setTimeout(tick, Math.max(0, due - Date.now()));
      fire(at);
    };
    timer = setTimeout(tick, step);
    return () => clearTimeout(timer);
  }
  return () => undefined;
}
