/** Starts, stops or restarts an agent, through the agent manager the hub lends (never imported). */
import { Type } from '@sinclair/typebox';
import { HubError } from '../../errors.js';
import type { ActionOutcome, ActionType } from './types.js';

const VERBS = ['start', 'stop', 'restart'] as const;
type Verb = (typeof VERBS)[number];

export const AgentAction = Type.Object(
  {
    type: Type.Literal('agent'),
    agent: Type.String({ minLength: 1, maxLength: 200, description: 'the agent\'s id' }),
    // An enum rather than a union of literals, so a wrong value is told as "must be one of …".
    do: Type.Unsafe<Verb>(Type.String({ enum: [...VERBS] })),
  },
  { additionalProperties: false },
);

export const agent: ActionType<typeof AgentAction> = {
  type: 'agent',
  schema: AgentAction,

  check(a, deps) {
    return deps.agents.exists(a.agent) ? null : `no agent "${a.agent}"`;
  },

  async run(a, job, deps): Promise<ActionOutcome> {
    job.step(`${a.do} agent "${a.agent}"`);
    try {
      await deps.agents[a.do](a.agent);
    } catch (e) {
      // A refusal (the agent was deleted since, it is already stopping…) is the action failing.
      if (e instanceof HubError) return { ok: false, error: e.message };
      throw e;
    }
    return { ok: true };
  },
};
