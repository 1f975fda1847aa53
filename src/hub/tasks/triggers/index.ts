/** Every trigger type. A new one is one file plus one line here. */
import { parse } from '../../validate.js';
import { haEventTrigger } from './ha-event.js';
import { haStateTrigger } from './ha-state.js';
import { mqttTrigger } from './mqtt.js';
import type { Trigger, TriggerDeps, TriggerType } from './types.js';

export const TRIGGER_TYPES = [mqttTrigger, haStateTrigger, haEventTrigger] as unknown as TriggerType[];

export function parseTrigger(value: unknown): { ok: true; value: Trigger } | { ok: false; error: string } {
  const type = (value as { type?: unknown } | null)?.type;
  const t = TRIGGER_TYPES.find((x) => x.type === type);
  if (!t) return { ok: false, error: `trigger.type: must be one of ${TRIGGER_TYPES.map((x) => x.type).join(', ')}` };
  const r = parse(t.schema, value);
  return r.ok ? { ok: true, value: r.value as Trigger } : { ok: false, error: r.error.replace(/^payload/, 'trigger') };
}

export function startTrigger(trigger: Trigger, deps: TriggerDeps, fire: (detail: string) => void): () => void {
  const t = TRIGGER_TYPES.find((x) => x.type === trigger.type);
  if (!t) throw new Error(`unknown trigger type ${trigger.type}`);
  return t.start(trigger as never, deps, fire);
}
