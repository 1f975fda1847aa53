/**
 * The devices' bridge request paths (`device/...`) and their MQTT commands: `<base>/device/<id>/set`
 * (`connect`, `disconnect`, `reconnect`, `{ "action": "command", "command": … }`, or
 * `{ "<field>": value, … }` to write fields) and `<base>/device/<id>/<field>/set` (a bare value).
 */
import { Type } from '@sinclair/typebox';
import type { CommandRegistry } from '../commands.js';
import { invalid } from '../errors.js';
import type { RequestRegistry } from '../requests.js';
import { parse } from '../validate.js';
import type { DeviceManager } from './manager.js';
import { CommandText, DeviceCreate, DeviceUpdate, FieldValues } from './schema.js';

const Id = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false });

export const DeviceAction = Type.Union([
  Type.Object({ action: Type.Union([Type.Literal('connect'), Type.Literal('disconnect'), Type.Literal('reconnect')]) }, { additionalProperties: false }),
  Type.Object({ action: Type.Literal('command'), command: CommandText }, { additionalProperties: false }),
]);

/** An action, or field values (no `action` key): told apart before either is checked, so errors speak of the right one. */
const DeviceSet = Type.Record(Type.String(), Type.Unknown());

export function registerDeviceInterfaces(devices: DeviceManager, requests: RequestRegistry, commands: CommandRegistry): void {
  const none = Type.Object({}, { additionalProperties: false });
  requests.register('device/list', none, () => devices.list());
  requests.register('device/ports', none, () => devices.ports());
  requests.register('device/get', Id, (b) => devices.get(b.id));
  requests.register('device/create', DeviceCreate, (b) => devices.create(b as DeviceCreate));
  requests.register('device/update', Type.Composite([Id, DeviceUpdate], { additionalProperties: false }), ({ id, ...changes }) =>
    devices.update(id, changes as DeviceUpdate),
  );
  requests.register('device/delete', Id, async (b) => {
    await devices.delete(b.id);
    return { id: b.id, deleted: true };
  });
  requests.register('device/connect', Id, (b) => devices.connect(b.id));
  requests.register('device/disconnect', Id, (b) => devices.disconnect(b.id));
  requests.register('device/command', Type.Composite([Id, Type.Object({ command: CommandText })], { additionalProperties: false }), (b) =>
    devices.command(b.id, b.command),
  );
  requests.register('device/write', Type.Composite([Id, Type.Object({ values: FieldValues })], { additionalProperties: false }), (b) =>
    devices.write(b.id, b.values),
  );
  commands.register('device', DeviceSet, (id, c) => {
    if (!('action' in c)) return devices.write(id, c);
    const a = parse(DeviceAction, c);
    if (!a.ok) throw invalid(`${a.error} (actions: connect, disconnect, reconnect, or { "action": "command", "command": "…" })`);
    const v = a.value;
    if (v.action === 'command') return devices.command(id, v.command);
    if (v.action === 'connect') return devices.connect(id);
    if (v.action === 'disconnect') return devices.disconnect(id);
    return devices.reconnect(id);
  });
  commands.registerField('device', (id, field, value) => devices.write(id, { [field]: value }));
}
