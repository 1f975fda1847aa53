/** `<base>/task/<id>/set`: run, enable, disable; carried out through the operations of the same names. */
import { Type } from '@sinclair/typebox';
import type { CommandRegistry } from '../commands.js';
import type { OperationTable } from '../operations/table.js';

export const TaskCommand = Type.Object(
  { action: Type.Union([Type.Literal('run'), Type.Literal('enable'), Type.Literal('disable')]) },
  { additionalProperties: false },
);

export function registerTaskCommands(commands: CommandRegistry, operations: OperationTable): void {
  commands.register('task', TaskCommand, (id, c, caller) => operations.run(`task/${c.action}`, { id }, caller));
}
