/** POST /api/import/pm2: a PM2 ecosystem (JSON) becomes agents; what cannot be mapped is reported. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { mapEcosystem } from '../../agents/pm2-import.js';
import { idOf } from '../../ids.js';
import { HubError } from '../../errors.js';
import type { ApiContext } from '../context.js';
import { ErrorBody } from '../errors.js';

const Field = Type.Object({ app: Type.String(), field: Type.String() });
const Answer = Type.Object({
  created: Type.Array(Type.String()),
  updated: Type.Array(Type.String()),
  unknown_fields: Type.Array(Field),
  ignored_fields: Type.Array(Type.Object({ app: Type.String(), field: Type.String(), why: Type.String() })),
  errors: Type.Array(Type.Object({ app: Type.String(), error: Type.String() })),
});

export async function importRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  app.post(
    '/api/import/pm2',
    {
      schema: {
        tags: ['agents'],
        summary: 'Import a PM2 ecosystem file (its JSON form; `hearth import pm2 FILE` also reads .js) as agents',
        body: Type.Unknown({ description: '{ "apps": [...] }, a list of apps, or one app' }),
        response: { 200: Answer, 400: ErrorBody },
      },
    },
    async (req) => {
      const mapped = mapEcosystem(req.body);
      const created: string[] = [];
      const updated: string[] = [];
      const errors = [...mapped.errors];
      // Which of them existed before this import: those are updated, the rest created.
      const existing = new Set(mapped.agents.map((a) => idOf(a.name)).filter((id) => ctx.agents.has(id)));
      for (const agent of mapped.agents) {
        const id = idOf(agent.name);
        try {
          if (existing.has(id)) updated.push((await ctx.agents.update(id, agent)).id);
          else created.push((await ctx.agents.create(agent)).id);
        } catch (e) {
          if (!(e instanceof HubError)) throw e;
          errors.push({ app: agent.name, error: e.message });
        }
      }
      return { created, updated, unknown_fields: mapped.unknown_fields, ignored_fields: mapped.ignored_fields, errors };
    },
  );
}
