/** The tasks' bridge request paths (`task/...`) and their `<base>/task/<id>/set` commands. */
import { Type } from '@sinclair/typebox';
import type { CommandRegistry } from '../commands.js';
import type { RequestRegistry } from '../requests.js';
import type { TaskManager } from './manager.js';
import { TaskCreate, TaskUpdate } from './schema.js';

const Id = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false });

export const TaskCommand = Type.Object(
  { action: Type.Union([Type.Literal('run'), Type.Literal('enable'), Type.Literal('disable')]) },
  { additionalProperties: false },
);

export function registerTaskInterfaces(tasks: TaskManager, requests: RequestRegistry, commands: CommandRegistry): void {
  requests.register('task/list', Type.Object({}, { additionalProperties: false }), () => tasks.list());
  requests.register('task/get', Id, (b) => tasks.get(b.id));
  requests.register('task/create', TaskCreate, (b) => tasks.create(b));
  requests.register('task/update', Type.Composite([Id, TaskUpdate], { additionalProperties: false }), ({ id, ...changes }) => tasks.update(id, changes));
  requests.register('task/delete', Id, async (b) => {
    await tasks.delete(b.id);
    return { id: b.id, deleted: true };
  });
  requests.register('task/run', Id, (b) => tasks.runNow(b.id, 'mqtt'));
  requests.register('task/enable', Id, (b) => tasks.setEnabled(b.id, true));
  requests.register('task/disable', Id, (b) => tasks.setEnabled(b.id, false));
  commands.register('task', TaskCommand, (id, c) => {
    if (c.action === 'run') return tasks.runNow(id, 'mqtt');
    return tasks.setEnabled(id, c.action === 'enable');
  });
}
