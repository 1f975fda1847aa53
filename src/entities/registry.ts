/** Which entity module maps which kind of thing. A new kind is one line here (the compiler insists). */
import type { ThingChange, ThingStates } from '../hub/thing-types.js';
import { agentEntities } from './agent.js';
import { deviceEntities } from './device.js';
import { hubEntities } from './hub.js';
import { taskEntities } from './task.js';
import type { EntityContext, EntityModule, ThingView } from './types.js';

export const ENTITY_MODULES: { [K in keyof ThingStates]: EntityModule<ThingStates[K]> } = {
  hub: hubEntities,
  agent: agentEntities,
  task: taskEntities,
  device: deviceEntities,
};

export function viewOf(ctx: EntityContext, thing: ThingChange): ThingView {
  const map = ENTITY_MODULES[thing.kind] as EntityModule<typeof thing.state>;
  return map(ctx, thing.id, thing.state);
}
