/**
 * /api/devices: create, read, change, delete, connect, disconnect, command, write, upload (multipart,
 * a job), the serial ports there are, and the telemetry WebSocket.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import multipart from '@fastify/multipart';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { CommandText, DeviceCreate, DeviceUpdate, FieldValues } from '../../devices/schema.js';
import { HubError, invalid } from '../../errors.js';
import type { ApiContext } from '../context.js';
import { ErrorBody } from '../errors.js';
import { JobViewSchema, Nullable } from './jobs.js';
import { deviceTelemetrySocket } from './device-telemetry.js';

const Params = Type.Object({ id: Type.String({ pattern: '^[a-z0-9_]+$', maxLength: 100 }) });
type Params = Static<typeof Params>;

/** The device as answered; every field is listed in the OpenAPI document, others pass through. */
export const DeviceViewSchema = Type.Object(
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
);

const CommandBody = Type.Object({ command: CommandText }, { additionalProperties: false });
const CommandAnswer = Type.Object({ response: Type.Array(Type.String()), ms: Type.Number() });
const PortSchema = Type.Object({ path: Type.String() }, { additionalProperties: true });

/** The largest file an upload may carry. */
export const MAX_UPLOAD_BYTES = 512 * 1024 * 1024;

const errors = { 400: ErrorBody, 404: ErrorBody, 409: ErrorBody };

export async function deviceRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  const tags = ['devices'];
  // Only this plugin reads multipart bodies (Fastify's encapsulation), and only one file each.
  await app.register(multipart, { limits: { fileSize: MAX_UPLOAD_BYTES, files: 1, fields: 0, parts: 1 } });
  app.get('/api/devices', { schema: { tags, summary: 'Every device', response: { 200: Type.Array(DeviceViewSchema) } } }, async () => ctx.devices.list());
  app.get(
    '/api/devices/ports',
    { schema: { tags, summary: 'The serial ports this machine has (works without udev, as in containers)', response: { 200: Type.Array(PortSchema) } } },
    async () => ctx.devices.ports(),
  );
  app.post<{ Body: DeviceCreate }>(
    '/api/devices',
    { schema: { tags, summary: 'Create a device (it connects unless autoconnect is false)', body: DeviceCreate, response: { 201: DeviceViewSchema, ...errors } } },
    async (req, reply) => reply.code(201).send(await ctx.devices.create(req.body)),
  );
  app.get<{ Params: Params }>(
    '/api/devices/:id',
    { schema: { tags, summary: 'One device', params: Params, response: { 200: DeviceViewSchema, ...errors } } },
    async (req) => ctx.devices.get(req.params.id),
  );
  app.put<{ Params: Params; Body: DeviceUpdate }>(
    '/api/devices/:id',
    { schema: { tags, summary: 'Change a device (a connected one reconnects to take it)', params: Params, body: DeviceUpdate, response: { 200: DeviceViewSchema, ...errors } } },
    async (req) => ctx.devices.update(req.params.id, req.body),
  );
  app.delete<{ Params: Params }>(
    '/api/devices/:id',
    { schema: { tags, summary: 'Disconnect and delete a device', params: Params, response: { 200: Type.Object({ id: Type.String(), deleted: Type.Boolean() }), ...errors } } },
    async (req) => {
      await ctx.devices.delete(req.params.id);
      return { id: req.params.id, deleted: true };
    },
  );
  for (const action of ['connect', 'disconnect', 'reconnect'] as const) {
    app.post<{ Params: Params }>(
      `/api/devices/:id/${action}`,
      { schema: { tags, summary: `${action[0]!.toUpperCase()}${action.slice(1)} a device`, params: Params, response: { 200: DeviceViewSchema, ...errors } } },
      async (req) => ctx.devices[action](req.params.id),
    );
  }
  app.post<{ Params: Params; Body: Static<typeof CommandBody> }>(
    '/api/devices/:id/command',
    {
      schema: {
        tags,
        summary: 'Send one command and wait for its answer (line: until a line, prompt or pattern; gcode: until ok)',
        params: Params,
        body: CommandBody,
        response: { 200: CommandAnswer, 503: ErrorBody, ...errors },
      },
    },
    async (req) => ctx.devices.command(req.params.id, req.body.command),
  );
  app.post<{ Params: Params; Body: Static<typeof FieldValues> }>(
    '/api/devices/:id/write',
    { schema: { tags, summary: 'Write writable fields (Modbus coils and holding registers): { "<field>": value }', params: Params, body: FieldValues, response: { 200: DeviceViewSchema, 503: ErrorBody, ...errors } } },
    async (req) => ctx.devices.write(req.params.id, req.body),
  );
  app.post<{ Params: Params }>(
    '/api/devices/:id/upload',
    {
      schema: {
        tags,
        summary: 'Send a file (multipart, one part): G-code streamed with flow control, or paced chunks. Answers the job (kind upload) at once',
        params: Params,
        consumes: ['multipart/form-data'],
        response: { 202: JobViewSchema, 413: ErrorBody, ...errors },
      },
    },
    async (req, reply) => {
      const id = req.params.id;
      // Refused before the file is read, and again once it is (things change meanwhile).
      ctx.devices.checkUpload(id);
      if (!req.isMultipart()) throw invalid('an upload is multipart/form-data with one file part');
      const part = await req.file();
      if (!part) throw invalid('the upload has no file part');
      await mkdir(ctx.uploadsDir, { recursive: true });
      const path = join(ctx.uploadsDir, `${id}-${randomBytes(6).toString('hex')}`);
      try {
        await pipeline(part.file, createWriteStream(path, { mode: 0o600 }));
        if (part.file.truncated) throw new HubError('too_large', `the file is larger than ${MAX_UPLOAD_BYTES / 1024 / 1024} MiB`);
      } catch (e) {
        await rm(path, { force: true });
        throw e;
      }
      const name = basename(part.filename || 'upload').replace(/[\x00-\x1f]/g, '').slice(0, 200) || 'upload';
      const job = await ctx.devices.upload(id, { path, size: (await stat(path)).size, name });
      return reply.code(202).send(job);
    },
  );
  deviceTelemetrySocket(app, ctx);
}
