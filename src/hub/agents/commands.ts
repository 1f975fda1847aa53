/**
 * `<base>/agent/<id>/set`: start, stop, restart, reload, or `{ "action": "scale", "instances": N }`;
 * `<base>/agent/<id>/instances/set`: the count, bare (Home Assistant's number entity). Carried out
 * through the operations of the same names.
 */
import { Type } from '@sinclair/typebox';
import type { CommandRegistry } from '../commands.js';
import { invalid } from '../errors.js';
import type { OperationTable } from '../operations/table.js';
import { MAX_INSTANCES } from './schema.js';

const Instances = Type.Integer({ minimum: 1, maximum: MAX_INSTANCES });

export const AgentCommand = Type.Union([
  Type.Object({ action: Type.Union([Type.Literal('start'), Type.Literal('stop'), Type.Literal('restart'), Type.Literal('reload')]) }, { additionalProperties: false }),
  Type.Object({ action: Type.Literal('scale'), instances: Instances }, { additionalProperties: false }),
]);

export function registerAgentCommands(commands: CommandRegistry, operations: OperationTable): void {
  commands.register('agent', AgentCommand, (id, c, caller) =>
    c.action === 'scale' ? operations.run('agent/scale', { id, instances: c.instances }, caller) : operations.run(`agent/${c.action}`, { id }, caller),
  );
  commands.registerField('agent', (id, field, value, caller) => {
    if (field !== 'instances') throw invalid(`agents have one settable field, instances, not "${field}"`);
    // Home Assistant's number entity may send "3.0".
    const n = Number(value.trim());
    if (!Number.isInteger(n)) throw invalid(`instances: "${value.slice(0, 40)}" is not a whole number`);
    return operations.run('agent/scale', { id, instances: n }, caller);
  });
}
