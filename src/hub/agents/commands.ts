/**
 * `<base>/agent/<id>/set`: start, stop, restart, reload, or `{ "action": "scale", "instances": N }`;
 * `<base>/agent/<id>/instances/set`: the count, bare (Home Assistant's number entity). Carried out
 * through the operations of the same names.
 */
import { Type } from '@sinclair/typebox';
import type { CommandRegistry } from '../commands.js';
import { invalid } from '../errors.js';
import type { OperationTable } from '../operations/table.js';
import { parse } from '../validate.js';
import { MAX_INSTANCES } from './schema.js';

const Instances = Type.Integer({ minimum: 1, maximum: MAX_INSTANCES });

export const AgentCommand = Type.Object(
  { action: Type.Union([Type.Literal('start'), Type.Literal('stop'), Type.Literal('restart'), Type.Literal('reload'), Type.Literal('scale')]) },
  { additionalProperties: true },
);
const Plain = Type.Object({ action: Type.String() }, { additionalProperties: false });
const Scale = Type.Object({ action: Type.Literal('scale'), instances: Instances }, { additionalProperties: false });

export function registerAgentCommands(commands: CommandRegistry, operations: OperationTable): void {
  // The action first, then its own fields: an error names what is wrong with them (not another action's).
  commands.register('agent', AgentCommand, (id, c, caller) => {
    if (c.action === 'scale') {
      const scale = parse(Scale, c);
      if (!scale.ok) throw invalid(scale.error);
      return operations.run('agent/scale', { id, instances: scale.value.instances }, caller);
    }
    const plain = parse(Plain, c);
    if (!plain.ok) throw invalid(plain.error);
    return operations.run(`agent/${c.action}`, { id }, caller);
  });
  commands.registerField('agent', (id, field, value, caller) => {
    if (field !== 'instances') throw invalid(`agents have one settable field, instances, not "${field}"`);
    // Home Assistant's number entity may send "3.0"; nothing else than digits (not 1e1, 0x3).
    const text = value.trim();
    if (!/^\d{1,3}(\.0*)?$/.test(text)) throw invalid(`instances: "${value.slice(0, 40)}" is not a whole number`);
    const n = Number(text);
    return operations.run('agent/scale', { id, instances: n }, caller);
  });
}
