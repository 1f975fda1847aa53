/**
 * An agent's health, 0-100:
 *   0 when it is not running;
 *   otherwise 100, minus 100 × (consecutive failed checks ÷ the failures that make it unhealthy),
 *   minus 10 for each restart within the crash-loop window (at most 50), never below 0.
 * So a running agent that passes its checks and has not restarted lately is 100; one check short
 * of unhealthy with failures 3 is 33; a flapping one sinks even while its checks pass.
 */
export interface HealthInputs {
  running: boolean;
  consecutiveFailures: number;
  /** The check's `failures`; null without a health check. */
  failuresThreshold: number | null;
  recentRestarts: number;
}

export function healthScore(i: HealthInputs): number {
  if (!i.running) return 0;
  const checks = i.failuresThreshold ? (100 * Math.min(i.consecutiveFailures, i.failuresThreshold)) / i.failuresThreshold : 0;
  const restarts = Math.min(10 * i.recentRestarts, 50);
  return Math.max(0, Math.round(100 - checks - restarts));
}
