/**
 * turn_on / turn_off / toggle for a domain, as Home Assistant's entity services behave towards a
 * caller: a target is required (cv.make_entity_service_schema), entities that do not exist are
 * skipped, the call's data (brightness, ...) becomes attributes on turn_on, and every change carries
 * the call's context.
 */
import type { Core } from './commands.js';
import type { ServiceCall } from './core.js';
import { Invalid } from './schema.js';

const FIELDS = ['entity_id', 'device_id', 'area_id', 'floor_id', 'label_id'];

export function registerToggleServices(core: Core, domain: string): void {
  const schema = (data: Record<string, unknown>) => {
    if (!FIELDS.some((k) => k in data)) throw new Invalid(`must contain at least one of ${FIELDS.join(', ')}.`);
    return data;
  };
  const act = (next: (current: string) => string) => (call: ServiceCall) => {
    const ids = call.data.entity_id === 'all' ? [...core.states.states.keys()].filter((id) => id.startsWith(`${domain}.`)) : ((call.data.entity_id as string[] | undefined) ?? []);
    const extra = Object.fromEntries(Object.entries(call.data).filter(([k]) => !FIELDS.includes(k)));
    for (const id of ids) {
      const cur = core.states.get(id);
      if (!cur) continue;
      const state = next(cur.state);
      call.setState(id, state, state === 'on' ? { ...cur.attributes, ...extra } : cur.attributes);
    }
  };
  core.services.register(domain, 'turn_on', act(() => 'on'), { schema });
  core.services.register(domain, 'turn_off', act(() => 'off'), { schema });
  core.services.register(domain, 'toggle', act((s) => (s === 'on' ? 'off' : 'on')), { schema });
}
