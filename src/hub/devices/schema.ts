/** What a device is, as users write it (REST, MQTT bridge, hearth.yaml) and as the hub keeps it. */
import { Type, type Static, type TLiteral, type TUnion } from '@sinclair/typebox';

const Host = Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9._:-]+$', description: 'a host name or IP address' });
const Port = Type.Integer({ minimum: 1, maximum: 65535 });
const SerialPath = Type.String({ minLength: 1, maxLength: 4096, pattern: '^/', description: 'an absolute path: /dev/ttyUSB0, /dev/serial/by-id/...' });
const BaudRate = Type.Integer({ minimum: 50, maximum: 4_000_000, description: 'bits per second' });
const UnitId = Type.Integer({ minimum: 0, maximum: 255, description: 'the Modbus unit (slave) id' });
const lit = <T extends string>(values: readonly T[]): TUnion<Array<TLiteral<T>>> => Type.Union(values.map((v) => Type.Literal(v)));

const serialLine = {
  dataBits: Type.Optional(Type.Union([Type.Literal(5), Type.Literal(6), Type.Literal(7), Type.Literal(8)], { description: 'default 8' })),
  parity: Type.Optional(lit(['none', 'even', 'odd', 'mark', 'space'] as const)),
  stopBits: Type.Optional(Type.Union([Type.Literal(1), Type.Literal(1.5), Type.Literal(2)], { description: 'default 1' })),
};

const ConnectionForms = Type.Union([
  Type.Object(
    { transport: Type.Literal('serial'), path: SerialPath, baudRate: BaudRate, ...serialLine, rtscts: Type.Optional(Type.Boolean()) },
    { additionalProperties: false },
  ),
  Type.Object({ transport: Type.Literal('tcp'), host: Host, port: Port }, { additionalProperties: false }),
  Type.Object({ transport: Type.Literal('modbus-tcp'), host: Host, port: Type.Optional(Port), unitId: UnitId }, { additionalProperties: false }),
  Type.Object(
    { transport: Type.Literal('modbus-rtu'), path: SerialPath, baudRate: BaudRate, ...serialLine, unitId: UnitId },
    { additionalProperties: false },
  ),
]);
export type Connection = Static<typeof ConnectionForms>;
export type TransportName = Connection['transport'];

/** One of the forms, chosen by `transport`, so an error speaks of that form. */
export const Connection = Type.Unsafe<Connection>({
  type: 'object',
  required: ['transport'],
  discriminator: { propertyName: 'transport' },
  oneOf: ConnectionForms.anyOf,
});

export const PROTOCOLS = ['line', 'gcode', 'modbus'] as const;
export type ProtocolName = (typeof PROTOCOLS)[number];

const FieldName = Type.String({ pattern: '^[a-z][a-z0-9_]{0,49}$', description: 'lower-case slug; also the Home Assistant field' });
const haMeta = {
  unit: Type.Optional(Type.String({ minLength: 1, maxLength: 20 })),
  device_class: Type.Optional(Type.String({ pattern: '^[a-z_]{1,40}$' })),
  state_class: Type.Optional(lit(['measurement', 'total', 'total_increasing'] as const)),
  icon: Type.Optional(Type.String({ pattern: '^mdi:[a-z0-9-]+$' })),
};

/** A value read from text lines: `pattern` is a regular expression with a named group `(?<name>…)`. */
export const LineField = Type.Object(
  {
    name: FieldName,
    pattern: Type.String({ minLength: 1, maxLength: 1000 }),
    type: Type.Optional(lit(['number', 'string'] as const)),
    ...haMeta,
  },
  { additionalProperties: false },
);
export type LineField = Static<typeof LineField>;

export const REGISTER_FUNCTIONS = ['coil', 'discrete', 'holding', 'input'] as const;
export type RegisterFunction = (typeof REGISTER_FUNCTIONS)[number];
export const REGISTER_TYPES = ['int16', 'uint16', 'int32', 'uint32', 'float32', 'bool'] as const;
export type RegisterType = (typeof REGISTER_TYPES)[number];

export const Register = Type.Object(
  {
    name: FieldName,
    address: Type.Integer({ minimum: 0, maximum: 65535 }),
    function: lit(REGISTER_FUNCTIONS),
    type: Type.Optional(lit(REGISTER_TYPES)),
    word_order: Type.Optional(lit(['big', 'little'] as const)),
    scale: Type.Optional(Type.Number({ description: 'value = raw * scale + offset (default 1)' })),
    offset: Type.Optional(Type.Number({ description: 'default 0' })),
    writable: Type.Optional(Type.Boolean({ description: 'coils and holding registers only' })),
    poll_s: Type.Optional(Type.Number({ minimum: 0.1, maximum: 86_400, description: 'default: telemetry.poll_s' })),
    min: Type.Optional(Type.Number()),
    max: Type.Optional(Type.Number()),
    ...haMeta,
  },
  { additionalProperties: false },
);
export type Register = Static<typeof Register>;

export const Telemetry = Type.Object(
  {
    fields: Type.Optional(Type.Array(LineField, { maxItems: 100, description: 'line and gcode: values parsed from received lines' })),
    registers: Type.Optional(Type.Array(Register, { maxItems: 500, description: 'modbus: the register map' })),
    poll_s: Type.Optional(Type.Number({ minimum: 0.1, maximum: 86_400, description: 'modbus: how often registers are read (default 5)' })),
  },
  { additionalProperties: false },
);
export type Telemetry = Static<typeof Telemetry>;

/** How a command of the line protocol ends and how its answer is recognised. */
export const CommandOptions = Type.Object(
  {
    terminator: Type.Optional(Type.String({ maxLength: 8, description: 'appended to each command (default "\\n")' })),
    until: Type.Optional(lit(['line', 'prompt', 'pattern'] as const)),
    prompt: Type.Optional(Type.String({ minLength: 1, maxLength: 50, description: 'until prompt: the text the device shows when ready, e.g. "> "' })),
    pattern: Type.Optional(Type.String({ minLength: 1, maxLength: 1000, description: 'until pattern: a regular expression the last line matches' })),
    timeout_ms: Type.Optional(Type.Integer({ minimum: 10, maximum: 600_000, description: 'default 2000' })),
  },
  { additionalProperties: false },
);
export type CommandOptions = Static<typeof CommandOptions>;

export const UploadOptions = Type.Object(
  {
    chunk_bytes: Type.Optional(Type.Integer({ minimum: 1, maximum: 65536, description: 'line protocol: bytes per chunk (default 256)' })),
    pace_ms: Type.Optional(Type.Integer({ minimum: 0, maximum: 60_000, description: 'line protocol: pause between chunks (default 20)' })),
  },
  { additionalProperties: false },
);
export type UploadOptions = Static<typeof UploadOptions>;

export const GcodeOptions = Type.Object(
  {
    autoreport_s: Type.Optional(Type.Integer({ minimum: 0, maximum: 60, description: 'M155 temperature auto-report period; 0 polls M105 instead (default 2)' })),
    ok_timeout_s: Type.Optional(Type.Number({ minimum: 1, maximum: 3600, description: 'longest wait for an ok, busy: extends it (default 30)' })),
  },
  { additionalProperties: false },
);
export type GcodeOptions = Static<typeof GcodeOptions>;

const fields = {
  type: Type.Optional(Type.String({ minLength: 1, maxLength: 50, description: 'a label: printer, meter, inverter… (default device)' })),
  connection: Connection,
  protocol: lit(PROTOCOLS),
  telemetry: Type.Optional(Telemetry),
  command: Type.Optional(CommandOptions),
  upload: Type.Optional(UploadOptions),
  gcode: Type.Optional(GcodeOptions),
  autoconnect: Type.Optional(Type.Boolean({ description: 'connect with the hub (default true)' })),
  configuration: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
};

export const DeviceCreate = Type.Object({ name: Type.String({ minLength: 1, maxLength: 100 }), ...fields }, { additionalProperties: false });
export type DeviceCreate = Static<typeof DeviceCreate>;

export const DeviceUpdate = Type.Partial(DeviceCreate, { additionalProperties: false });
export type DeviceUpdate = Partial<DeviceCreate>;

/** One command to send (REST, bridge, the Home Assistant text entity). */
export const CommandText = Type.String({ minLength: 1, maxLength: 4096 });

/** `{ "<field>": value }`: new values for writable fields, checked against each field when written. */
export const FieldValues = Type.Record(FieldName, Type.Union([Type.Number(), Type.Boolean(), Type.String({ maxLength: 100 })]), { minProperties: 1 });

export const DEVICE_STATUSES = ['disconnected', 'connecting', 'connected', 'error'] as const;
export type DeviceStatus = (typeof DEVICE_STATUSES)[number];
