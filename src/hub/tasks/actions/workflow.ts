/**
 * Steps run in order, each any action (workflows included), stopping at the first that fails. Each
 * step owns an equal share of the job's progress, and what a step reports maps into its share.
 */
import { Type } from '@sinclair/typebox';
import type { JobHandle } from '../../jobs/types.js';
import type { Action, ActionOutcome, ActionType } from './types.js';
import { stopReason } from './stop-reason.js';

/** A step is any action; its own fields are checked against its type by check() (checkNested). */
const Step = Type.Object({ type: Type.String({ minLength: 1 }) }, { additionalProperties: true });

export const WorkflowAction = Type.Object(
  {
    type: Type.Literal('workflow'),
    steps: Type.Array(Step, { minItems: 1, maxItems: 50 }),
  },
  { additionalProperties: false },
);

/** Step i (0-based) of n: the same job, with progress mapped into the step's share. */
function stepHandle(job: JobHandle, i: number, n: number): JobHandle {
  return {
    id: job.id,
    signal: job.signal,
    step: (message) => job.step(message),
    progress: (percent) => job.progress(((i + Math.min(100, Math.max(0, percent)) / 100) / n) * 100),
    output: (stream, chunk) => job.output(stream, chunk),
    process: (pid) => job.process(pid),
  };
}

export const workflow: ActionType<typeof WorkflowAction> = {
  type: 'workflow',
  schema: WorkflowAction,

  /** Each step's error, told from the action down: "action.steps.2: …" (steps count from 0, as paths do). */
  check(a, _deps, checkNested) {
    for (const [i, step] of a.steps.entries()) {
      const e = checkNested(step);
      if (e === null) continue;
      const at = `action.steps.${i}`;
      return e.startsWith('action.') || e.startsWith('action:') ? at + e.slice('action'.length) : `${at}: ${e}`;
    }
    return null;
  },

  async run(a, job, deps): Promise<ActionOutcome> {
    const n = a.steps.length;
    for (const [i, step] of (a.steps as Action[]).entries()) {
      if (job.signal.aborted) return { ok: false, error: stopReason(job.signal) };
      job.step(`step ${i + 1}/${n}: ${step.type}`);
      const outcome = await deps.run(step, stepHandle(job, i, n));
      if (!outcome.ok) return { ...outcome, error: `step ${i + 1} (${step.type}): ${outcome.error ?? 'failed'}` };
      job.progress(((i + 1) / n) * 100);
    }
    return { ok: true };
  },
};
