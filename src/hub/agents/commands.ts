/** `<base>/agent/<id>/set`: start, stop, restart; carried out through the operations of the same names. */
import { Type } from '@sinclair/typebox';
import type { CommandRegistry } from '../commands.js';
import type { OperationTable } from '../operations/table.js';

export const AgentCommand = Type.Object(
  { action: Type.Union([Type.Literal('start'), Type.Literal('stop'), Type.Literal('restart')]) },
  { additionalProperties: false },
);

export function registerAgentCommands(commands: CommandRegistry, operations: OperationTable): void {
  commands.register('agent', AgentCommand, (id, c, caller) => operations.run(`agent/${c.action}`, { id }, caller));
}
