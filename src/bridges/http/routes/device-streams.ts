/**
 * POST /api/devices/{id}/upload: a file for a device (multipart, streamed to disk), sent as a job;
 * and the device telemetry WebSocket. Streams, beside the operation table.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import multipart from '@fastify/multipart';
import { type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { HubError, invalid } from '../../../hub/errors.js';
import { ById } from '../../../hub/operations/common.js';
import { JobViewSchema } from '../../../hub/operations/jobs.js';
import type { ApiContext } from '../context.js';
import { ErrorBody } from '../errors.js';
import { deviceTelemetrySocket } from './device-telemetry.js';

/** The largest file an upload may carry. */
export const MAX_UPLOAD_BYTES = 512 * 1024 * 1024;

const ONE_FILE = 'an upload is multipart/form-data with exactly one part: the file (a field named "file", as `hearth device upload` and `curl -F file=@part.gcode` send it)';
/** The plugin's limits on parts, files and fields: more in the form than the one file. */
const BEYOND_ONE_FILE = new Set(['FST_PARTS_LIMIT', 'FST_FILES_LIMIT', 'FST_FIELDS_LIMIT']);

/** A form with more than the file is the client's mistake (400), not a body too large (the plugin's 413). */
function onlyTheFile(e: unknown): unknown {
  return BEYOND_ONE_FILE.has((e as { code?: unknown }).code as string) ? invalid(`${ONE_FILE}; this one has more parts`) : e;
}

export async function deviceStreamRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  // Only this plugin reads multipart bodies (Fastify's encapsulation), and only one file each.
  await app.register(multipart, { limits: { fileSize: MAX_UPLOAD_BYTES, files: 1, fields: 0, parts: 1 } });
  app.post<{ Params: Static<typeof ById> }>(
    '/api/devices/:id/upload',
    {
      // A file that a device will carry out (G-code moves a machine): the admin's.
      config: { role: 'admin' },
      schema: {
        tags: ['device'],
        summary: 'Send a file (multipart, one part): G-code streamed with flow control, or paced chunks. Answers the job (kind upload) at once. Role admin',
        params: ById,
        consumes: ['multipart/form-data'],
        response: { 202: JobViewSchema, 400: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 413: ErrorBody },
      },
    },
    async (req, reply) => {
      const id = req.params.id;
      // Refused before the file is read, and again once it is (things change meanwhile).
      ctx.devices.checkUpload(id);
      if (!req.isMultipart()) throw invalid(ONE_FILE);
      const parts = req.parts();
      let first;
      try {
        first = await parts.next();
      } catch (e) {
        throw onlyTheFile(e);
      }
      const part = first.value;
      if (!part || part.type !== 'file') throw invalid(`${ONE_FILE}; this one has none`);
      // Private, as the files in it: an upload may be anything the user sends.
      await mkdir(ctx.uploadsDir, { recursive: true, mode: 0o700 });
      const path = join(ctx.uploadsDir, `${id}-${randomBytes(6).toString('hex')}`);
      try {
        await pipeline(part.file, createWriteStream(path, { mode: 0o600 }));
        if (part.file.truncated) throw new HubError('too_large', `the file is larger than ${MAX_UPLOAD_BYTES / 1024 / 1024} MiB`);
        // A part after the file ends the form with the plugin's limit error.
        await parts.next();
      } catch (e) {
        await rm(path, { force: true });
        throw onlyTheFile(e);
      }
      const name = basename(part.filename || 'upload').replace(/[\x00-\x1f]/g, '').slice(0, 200) || 'upload';
      const job = await ctx.devices.upload(id, { path, size: (await stat(path)).size, name });
      return reply.code(202).send(job);
    },
  );
  deviceTelemetrySocket(app, ctx);
}
