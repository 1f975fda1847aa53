/**
 * The devices' MQTT commands, carried out through the operations: `<base>/device/<id>/set`
 * (`connect`, `disconnect`, `reconnect`, `{ "action": "command", "command": … }`, or
 * `{ "<field>": value, … }` to write fields) and `<base>/device/<id>/<field>/set` (a bare value).
 */
import { Type } from '@sinclair/typebox';
import type { CommandRegistry } from '../commands.js';
import { invalid } from '../errors.js';
import type { OperationTable } from '../operations/table.js';
import { parse } from '../validate.js';
import { CommandText } from './schema.js';

export const DeviceAction = Type.Union([
  Type.Object({ action: Type.Union([Type.Literal('connect'), Type.Literal('disconnect'), Type.Literal('reconnect')]) }, { additionalProperties: false }),
  Type.Object({ action: Type.Literal('command'), command: CommandText }, { additionalProperties: false }),
]);

/** An action, or field values (no `action` key): told apart before either is checked, so errors speak of the right one. */
const DeviceSet = Type.Record(Type.String(), Type.Unknown());

export function registerDeviceCommands(commands: CommandRegistry, operations: OperationTable): void {
  commands.register('device', DeviceSet, (id, c, caller) => {
    if (!('action' in c)) return operations.run('device/write', { id, values: c }, caller);
    const a = parse(DeviceAction, c);
    if (!a.ok) throw invalid(`${a.error} (actions: connect, disconnect, reconnect, or { "action": "command", "command": "…" })`);
    const v = a.value;
    if (v.action === 'command') return operations.run('device/command', { id, command: v.command }, caller);
    return operations.run(`device/${v.action}`, { id }, caller);
  });
  commands.registerField('device', (id, field, value, caller) => operations.run('device/write', { id, values: { [field]: value } }, caller));
}
