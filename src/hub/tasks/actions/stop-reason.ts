/** Why a job's signal was aborted, in words: "timed out after N s", or "cancelled". */
export function stopReason(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  if (typeof r === 'string' && r !== '') return r;
  if (r instanceof Error && r.name !== 'AbortError' && r.message) return r.message;
  return 'cancelled';
}

/**
 * Waits for work that cannot itself be stopped (a broker's or Home Assistant's answer), unless the
 * job is cancelled or times out first: then 'aborted' at once, and the answer is not waited for.
 */
export async function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T | 'aborted'> {
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<'aborted'>((resolve) => {
    onAbort = () => resolve('aborted');
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work, aborted]);
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}
