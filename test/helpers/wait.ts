/** Waits for a condition that an event will make true; bounded, never a fixed sleep. */
import type { EventEmitter } from 'node:events';
import { inspect } from 'node:util';

export interface WaitOptions {
  timeoutMs?: number;
  everyMs?: number;
}

/**
 * Reads a value until `accept` takes it, and returns that value. The predicate is explicit so that
 * a value that merely looks truthy (a pid of 0, a non-empty list of the wrong things) never ends
 * the wait; a timeout says what was read last (or what reading last threw).
 */
export async function until<T>(what: string, read: () => T | Promise<T>, accept: (value: T) => boolean, opts: WaitOptions = {}): Promise<T> {
  const { timeoutMs = 10_000, everyMs = 25 } = opts;
  const deadline = Date.now() + timeoutMs;
  let last = 'nothing yet';
  for (;;) {
    try {
      const value = await read();
      if (accept(value)) return value;
      last = describe(value);
    } catch (e) {
      last = `an error: ${(e as Error).message}`;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last saw ${last}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Waits until `check` holds; for conditions with no value worth returning. */
export async function untilTrue(what: string, check: () => boolean | Promise<boolean>, opts: WaitOptions = {}): Promise<void> {
  await until(what, check, (ok) => ok, opts);
}

/** What an event-driven wait watches: an emitter's event, and what a timeout reports as last seen. */
export interface Watched {
  emitter: EventEmitter;
  event: string;
  seen: () => unknown;
}

/**
 * Returns what `find` returns once that is something (not undefined, null or false), checked now
 * and each time the watched event is emitted; for things whose every change is announced, so no
 * polling. A timeout says what it waited for and what `seen` shows.
 */
export function untilEmitted<T>(what: string, watched: Watched, find: () => T | undefined | null | false, timeoutMs = 10_000): Promise<T> {
  const found = (v: T | undefined | null | false): v is T => v !== undefined && v !== null && v !== false;
  const now = find();
  if (found(now)) return Promise.resolve(now);
  return new Promise<T>((resolve, reject) => {
    const check = () => {
      const v = find();
      if (!found(v)) return;
      done();
      resolve(v);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last saw ${describe(watched.seen())}`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      watched.emitter.off(watched.event, check);
    };
    watched.emitter.on(watched.event, check);
  });
}

function describe(value: unknown): string {
  const text = inspect(value, { depth: 4, breakLength: Infinity, maxArrayLength: 20, maxStringLength: 300 });
  return text.length > 600 ? `${text.slice(0, 600)}…` : text;
}

/** A pid from a pid file: undefined while the file is missing, empty or half-written. */
export function positivePid(text: string | undefined): number | undefined {
  const n = Number(text?.trim());
  return Number.isInteger(n) && n > 0 ? n : undefined;
}
