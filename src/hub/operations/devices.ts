/**
 * The devices' operations: list, ports, get, create, update, delete, connect, disconnect, reconnect,
 * command, write. Uploads (multipart) and the telemetry WebSocket are streams, beside the table.
 */
import { Type } from '@sinclair/typebox';
import type { PortInfo } from '../devices/link.js';
import type { CommandResult } from '../devices/protocol.js';
import { CommandText, DeviceCreate, DeviceUpdate, FieldValues } from '../devices/schema.js';
import type { DeviceView } from '../devices/state.js';
import { ById, deletion, IdText, NoInput, Nullable, thingAction, WithId } from './common.js';
import { operation } from './operation.js';

/** The device as answered; every field is listed in the OpenAPI document, others pass through. */
export const DeviceViewSchema = Type.Unsafe<DeviceView>(
  Type.Object(
    {
      id: Type.String(),
      name: Type.String(),
      type: Type.String(),
      protocol: Type.String(),
      transport: Type.String(),
      status: Type.String(),
      reason: Nullable(Type.String()),
      connected: Type.Boolean(),
      desired: Type.String(),
      last_seen: Nullable(Type.String()),
      firmware_version: Nullable(Type.String()),
      telemetry: Type.Record(Type.String(), Type.Union([Type.Number(), Type.String(), Type.Boolean(), Type.Null()])),
      problem: Type.Boolean(),
    },
    { additionalProperties: true },
  ),
);

const PortSchema = Type.Unsafe<PortInfo>(Type.Object({ path: Type.String() }, { additionalProperties: true }));
const CommandAnswer = Type.Unsafe<CommandResult>(Type.Object({ response: Type.Array(Type.String()), ms: Type.Number() }));

const say = (d: DeviceView): string => `${d.id}: ${d.status}${d.reason ? ` (${d.reason})` : ''}`;

/** connect, disconnect, reconnect: the same shape, each its own operation. */
const connection = (verb: 'connect' | 'disconnect' | 'reconnect', summary: string) =>
  thingAction('device', verb, { summary, role: 'operator', output: DeviceViewSchema, say, act: (hub, id) => hub.devices[verb](id) });

export const DEVICE_OPERATIONS = [
  operation({
    name: 'device/list',
    summary: 'Every device',
    role: 'viewer',
    http: { method: 'GET', path: '/api/devices' },
    input: NoInput,
    output: Type.Array(DeviceViewSchema),
    cli: false,
    handler: (_i, hub) => hub.devices.list(),
  }),
  operation({
    name: 'device/ports',
    summary: 'The serial ports this machine has (works without udev, as in containers)',
    role: 'viewer',
    http: { method: 'GET', path: '/api/devices/ports' },
    input: NoInput,
    output: Type.Array(PortSchema),
    cli: false,
    handler: (_i, hub) => hub.devices.ports(),
  }),
  operation({
    name: 'device/get',
    summary: 'One device',
    role: 'viewer',
    http: { method: 'GET', path: '/api/devices/:id' },
    input: ById,
    output: DeviceViewSchema,
    cli: { verb: 'show' },
    handler: (i, hub) => hub.devices.get(i.id),
  }),
  operation({
    name: 'device/create',
    summary: 'Create a device (it connects unless autoconnect is false)',
    role: 'admin',
    http: { method: 'POST', path: '/api/devices', status: 201 },
    input: DeviceCreate,
    output: DeviceViewSchema,
    cli: { say: (d) => `created device ${d.id} (${d.status})` },
    handler: (i, hub) => hub.devices.create(i as DeviceCreate),
  }),
  operation({
    name: 'device/update',
    summary: 'Change a device (a connected one reconnects to take it)',
    role: 'admin',
    http: { method: 'PUT', path: '/api/devices/:id' },
    input: WithId(DeviceUpdate),
    output: DeviceViewSchema,
    handler: ({ id, ...changes }, hub) => hub.devices.update(id, changes as DeviceUpdate),
  }),
  deletion('device', 'Disconnect and delete a device', (hub, id) => hub.devices.delete(id)),
  connection('connect', 'Connect a device'),
  connection('disconnect', 'Disconnect a device'),
  connection('reconnect', 'Connect a device again (after a change of cable or firmware)'),
  operation({
    name: 'device/command',
    summary: 'Send one command and wait for its answer (line: until a line, prompt or pattern; gcode: until ok); 503 when it does not answer in time',
    role: 'operator',
    http: { method: 'POST', path: '/api/devices/:id/command' },
    input: Type.Object({ id: IdText, command: CommandText }, { additionalProperties: false }),
    output: CommandAnswer,
    cli: false,
    handler: (i, hub) => hub.devices.command(i.id, i.command),
  }),
  operation({
    name: 'device/write',
    summary: 'Write writable fields (Modbus coils and holding registers): { "<field>": value }, all checked before the first is written',
    role: 'operator',
    http: { method: 'POST', path: '/api/devices/:id/write', body: 'values' },
    input: Type.Object({ id: IdText, values: FieldValues }, { additionalProperties: false }),
    output: DeviceViewSchema,
    cli: false,
    handler: (i, hub) => hub.devices.write(i.id, i.values),
  }),
];
