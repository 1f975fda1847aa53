/** A PM2 ecosystem made into agents: new apps created, known ones changed, what cannot be mapped reported. */
import { HubError } from '../errors.js';
import { idOf } from '../ids.js';
import type { AgentManager } from './manager.js';
import { mapEcosystem, type Pm2ImportResult } from './pm2-import.js';

export interface ImportResult {
  created: string[];
  updated: string[];
  unknown_fields: Pm2ImportResult['unknown_fields'];
  ignored_fields: Pm2ImportResult['ignored_fields'];
  errors: Pm2ImportResult['errors'];
}

export async function importEcosystem(agents: AgentManager, ecosystem: unknown): Promise<ImportResult> {
  const mapped = mapEcosystem(ecosystem);
  const created: string[] = [];
  const updated: string[] = [];
  const errors = [...mapped.errors];
  // Which of them existed before this import: those are updated, the rest created.
  const existing = new Set(mapped.agents.map((a) => idOf(a.name)).filter((id) => agents.has(id)));
  for (const agent of mapped.agents) {
    const id = idOf(agent.name);
    try {
      if (existing.has(id)) updated.push((await agents.update(id, agent)).id);
      else created.push((await agents.create(agent)).id);
    } catch (e) {
      if (!(e instanceof HubError)) throw e;
      errors.push({ app: agent.name, error: e.message });
    }
  }
  return { created, updated, unknown_fields: mapped.unknown_fields, ignored_fields: mapped.ignored_fields, errors };
}
