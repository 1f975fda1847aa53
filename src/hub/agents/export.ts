/**
 * The agents written out, so nobody is locked in: as hearth.yaml's `agents:` list (every field, read
 * back exactly as the hub reads hearth.yaml) or as a PM2 ecosystem file (pm2-export.ts). Secret env
 * values are masked unless the caller asked for them (and may have them: the operation checks).
 */
import { Type, type Static } from '@sinclair/typebox';
import { stringify } from 'yaml';
import { toEcosystem } from './pm2-export.js';
import { AgentCreate } from './schema.js';
import { maskEnv } from './state.js';

export const ExportFormat = Type.Union([Type.Literal('hearth'), Type.Literal('pm2')], { description: 'hearth (default): hearth.yaml\'s agents list; pm2: an ecosystem file (JSON)' });
export type ExportFormat = Static<typeof ExportFormat>;

export const ExportAnswer = Type.Object({
  format: ExportFormat,
  content: Type.String({ description: 'the file: YAML for hearth, JSON for pm2' }),
  skipped: Type.Optional(Type.Array(Type.Object({ agent: Type.String(), field: Type.String(), why: Type.String() }), { description: 'pm2: what PM2 has no name for, left out' })),
});
export type ExportAnswer = Static<typeof ExportAnswer>;

/** The fields in the order the schema declares them: name, type, command, args, cwd, env… */
const ORDER = Object.keys(AgentCreate.properties);
const ordered = (a: AgentCreate): AgentCreate =>
  Object.fromEntries(ORDER.filter((k) => a[k as keyof AgentCreate] !== undefined).map((k) => [k, a[k as keyof AgentCreate]])) as AgentCreate;

/** `agents`: each agent as the body that creates it, secrets as they are. */
export function exportAgents(agents: AgentCreate[], o: { format: ExportFormat; withSecrets: boolean }): ExportAnswer {
  const shown = agents.map((a) => ordered(o.withSecrets || a.env === undefined ? a : { ...a, env: maskEnv(a.env) }));
  if (o.format === 'hearth') return { format: 'hearth', content: stringify({ agents: shown }) };
  const { apps, skipped } = toEcosystem(shown);
  return { format: 'pm2', content: `${JSON.stringify({ apps }, null, 2)}\n`, skipped };
}
