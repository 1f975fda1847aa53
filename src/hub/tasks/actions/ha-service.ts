/**
 * Calls a Home Assistant service through the Home Assistant bridge (lent as HaAccess, never
 * imported). With `return_response`, the service's response is the job's output (stdout, JSON),
 * where the API and the CLI find it.
 */
import { Type } from '@sinclair/typebox';
import type { ActionOutcome, ActionType } from './types.js';
import { stopReason, untilAborted } from './stop-reason.js';

const Ids = Type.Union([Type.String({ minLength: 1, maxLength: 255 }), Type.Array(Type.String({ minLength: 1, maxLength: 255 }), { minItems: 1, maxItems: 500 })]);

export const HaServiceAction = Type.Object(
  {
    type: Type.Literal('ha_service'),
    service: Type.String({ pattern: '^[a-z0-9_]+\\.[a-z0-9_]+$', maxLength: 255, description: 'domain.service, as light.turn_on' }),
    target: Type.Optional(
      Type.Object(
        { entity_id: Type.Optional(Ids), device_id: Type.Optional(Ids), area_id: Type.Optional(Ids), floor_id: Type.Optional(Ids), label_id: Type.Optional(Ids) },
        { additionalProperties: false, description: 'what the service acts on' },
      ),
    ),
    data: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'the service data, as in a Home Assistant action' })),
    return_response: Type.Optional(Type.Boolean({ description: "keep the service's response in the job (services that give one)" })),
  },
  { additionalProperties: false },
);

export const haService: ActionType<typeof HaServiceAction> = {
  type: 'ha_service',
  schema: HaServiceAction,

  async run(a, job, deps): Promise<ActionOutcome> {
    if (job.signal.aborted) return { ok: false, error: stopReason(job.signal) };
    const [domain, service] = a.service.split('.') as [string, string];
    job.step(`calling ${a.service}`);
    let response: unknown;
    try {
      const r = await untilAborted(
        deps.ha.callService({
          domain,
          service,
          ...(a.data ? { service_data: a.data } : {}),
          ...(a.target ? { target: a.target } : {}),
          ...(a.return_response ? { return_response: true } : {}),
        }),
        job.signal,
      );
      if (r === 'aborted') return { ok: false, error: stopReason(job.signal) };
      response = r;
    } catch (e) {
      return { ok: false, error: `${a.service} failed: ${e instanceof Error ? e.message : String(e)}` };
    }
    if (a.return_response && response !== undefined) job.output('stdout', Buffer.from(JSON.stringify(response, null, 2) + '\n'));
    job.step(`${a.service} done`);
    return { ok: true };
  },
};
