/** Waits for a condition that an event will make true; bounded, never a fixed sleep. */
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

function describe(value: unknown): string {
  const text = inspect(value, { depth: 4, breakLength: Infinity, maxArrayLength: 20, maxStringLength: 300 });
  return text.length > 600 ? `${text.slice(0, 600)}…` : text;
}

/** A pid from a pid file: undefined while the file is missing, empty or half-written. */
export function positivePid(text: string | undefined): number | undefined {
  const n = Number(text?.trim());
  return Number.isInteger(n) && n > 0 ? n : undefined;
}
