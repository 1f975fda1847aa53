/** What every benchmark returns, and the few helpers they share. Measurements, never assertions. */
import { setTimeout as sleep } from 'node:timers/promises';

export interface Row {
  metric: string;
  unit: string;
  hearth: number;
  /** What a user would pick instead, measured the same way; null when there is nothing comparable. */
  baseline: number | null;
  /** hearth / baseline. */
  ratio: number | null;
  /** Human-readable goal, e.g. "<= 1.5x"; "-" when there is none. */
  goal: string;
  /** Whether the goal is met; null when there is no goal. */
  met: boolean | null;
}

export interface Result {
  name: string;
  rows: Row[];
  /** Raw samples and context, written to results/latest.json. */
  details: Record<string, unknown>;
  /** Short notes printed under the table. */
  notes?: string[];
}

export interface Bench {
  name: string;
  run: () => Promise<Result>;
}

/** A row compared with a baseline: the goal is a maximum ratio hearth / baseline. */
export function ratioRow(metric: string, unit: string, hearth: number, baseline: number, maxRatio: number): Row {
  const ratio = hearth / baseline;
  return { metric, unit, hearth, baseline, ratio, goal: `<= ${maxRatio}x`, met: ratio <= maxRatio };
}

/** A row with no baseline: an absolute figure, optionally with a maximum. */
export function absoluteRow(metric: string, unit: string, hearth: number, max?: number): Row {
  return {
    metric,
    unit,
    hearth,
    baseline: null,
    ratio: null,
    goal: max === undefined ? '-' : `<= ${max} ${unit}`,
    met: max === undefined ? null : hearth <= max,
  };
}

export function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Rejects with a clear message when `p` takes longer than `ms`; leaves no timer behind. */
export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  const ac = new AbortController();
  const timeout = sleep(ms, undefined, { signal: ac.signal }).then(() => {
    throw new Error(`timed out after ${ms} ms waiting for ${what}`);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    ac.abort();
    timeout.catch(() => undefined);
  }
}

export const round = (x: number, digits = 2): number => Math.round(x * 10 ** digits) / 10 ** digits;
