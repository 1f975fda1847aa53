/** Agents in and out of Hearth: the PM2 import, and the export as hearth.yaml or a PM2 ecosystem. */
import { Type } from '@sinclair/typebox';
import { HubError } from '../errors.js';
import { ExportAnswer, ExportFormat, exportAgents } from '../agents/export.js';
import { importEcosystem } from '../agents/import.js';
import { refusal, roleAllows } from '../users/types.js';
import { operation } from './operation.js';

const ImportField = Type.Object({ app: Type.String(), field: Type.String() });
const ImportAnswer = Type.Object({
  created: Type.Array(Type.String()),
  updated: Type.Array(Type.String()),
  unknown_fields: Type.Array(ImportField),
  ignored_fields: Type.Array(Type.Object({ app: Type.String(), field: Type.String(), why: Type.String() })),
  notes: Type.Array(Type.Object({ app: Type.String(), field: Type.String(), note: Type.String() }), { description: 'mapped, where the meaning differs from PM2\'s' }),
  errors: Type.Array(Type.Object({ app: Type.String(), error: Type.String() })),
  environments: Type.Array(Type.String(), { description: 'the env_NAME blocks the file has, for env' }),
});

const EXPORT = 'agent/export';

export const AGENT_TRANSFER_OPERATIONS = [
  operation({
    name: 'import/pm2',
    summary: 'Import a PM2 ecosystem file (its JSON form; `hearth import pm2 FILE` also reads .js) as agents',
    role: 'admin',
    http: { method: 'POST', path: '/api/import/pm2', body: 'ecosystem' },
    input: Type.Object(
      {
        ecosystem: Type.Unknown({ description: '{ "apps": [...] }, a list of apps, or one app' }),
        env: Type.Optional(Type.String({ pattern: '^\\S+$', maxLength: 100, description: 'merge each app\'s env_<env> over its env, as `pm2 start --env <env>`' })),
      },
      { additionalProperties: false },
    ),
    output: ImportAnswer,
    cli: false,
    handler: (i, hub) => importEcosystem(hub.agents, i.ecosystem, { env: i.env }),
  }),
  operation({
    name: EXPORT,
    summary: "The agents as hearth.yaml's agents list or a PM2 ecosystem file; secret env values masked unless with_secrets (admin)",
    role: 'viewer',
    // With secrets the answer is one; without, it still names every agent's command and env: HTTP only.
    secret: true,
    http: { method: 'GET', path: '/api/agents/export' },
    input: Type.Object(
      { format: Type.Optional(ExportFormat), with_secrets: Type.Optional(Type.Boolean({ description: 'the secret env values as they are (admin role)' })) },
      { additionalProperties: false },
    ),
    output: ExportAnswer,
    cli: false,
    handler: async (i, hub, caller) => {
      if (i.with_secrets) {
        const allowed = roleAllows(caller.principal.role, 'admin');
        const message = allowed ? undefined : refusal(`${EXPORT} with_secrets`, 'admin', caller.principal);
        // Who took the secrets is worth the audit, as a refusal is.
        await hub.audit.record(caller, EXPORT, null, allowed ? 'ok' : 'refused', message);
        if (message) throw new HubError('forbidden', message);
      }
      return exportAgents(hub.agents.bodies(), { format: i.format ?? 'hearth', withSecrets: i.with_secrets === true });
    },
  }),
];
