/** The agents' bridge request paths (`agent/...`) and their `<base>/agent/<id>/set` commands. */
import { Type } from '@sinclair/typebox';
import type { CommandRegistry } from '../commands.js';
import type { RequestRegistry } from '../requests.js';
import type { AgentManager } from './manager.js';
import { AgentCreate, AgentUpdate } from './schema.js';

const Id = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false });

export const AgentCommand = Type.Object(
  { action: Type.Union([Type.Literal('start'), Type.Literal('stop'), Type.Literal('restart')]) },
  { additionalProperties: false },
);

export function registerAgentInterfaces(agents: AgentManager, requests: RequestRegistry, commands: CommandRegistry): void {
  requests.register('agent/list', Type.Object({}, { additionalProperties: false }), () => agents.list());
  requests.register('agent/get', Id, (b) => agents.get(b.id));
  requests.register('agent/create', AgentCreate, (b) => agents.create(b));
  requests.register(
    'agent/update',
    Type.Composite([Id, AgentUpdate], { additionalProperties: false }),
    ({ id, ...changes }) => agents.update(id, changes),
  );
  requests.register('agent/delete', Id, async (b) => {
    await agents.delete(b.id);
    return { id: b.id, deleted: true };
  });
  requests.register('agent/start', Id, (b) => agents.startAgent(b.id));
  requests.register('agent/stop', Id, (b) => agents.stopAgent(b.id));
  requests.register('agent/restart', Id, (b) => agents.restartAgent(b.id));
  commands.register('agent', AgentCommand, (id, c) => {
    if (c.action === 'start') return agents.startAgent(id);
    if (c.action === 'stop') return agents.stopAgent(id);
    return agents.restartAgent(id);
  });
}
