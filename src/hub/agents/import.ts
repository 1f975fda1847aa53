/** A PM2 ecosystem made into agents: new apps created, known ones changed, what cannot be mapped reported. */
import { cpus } from 'node:os';
import { HubError } from '../errors.js';
import { idOf } from '../ids.js';
import type { AgentManager } from './manager.js';
import { mapEcosystem, type Pm2ImportResult } from './pm2-import.js';

export type ImportResult = Omit<Pm2ImportResult, 'agents'> & { created: string[]; updated: string[] };

/** `env`: the environment to apply, as `pm2 start --env NAME`. */
export async function importEcosystem(agents: AgentManager, ecosystem: unknown, o: { env?: string } = {}): Promise<ImportResult> {
  // The CPUs of the machine the agents run on, as PM2 counts them (os.cpus) for instances "max".
  const { agents: mapped, ...report } = mapEcosystem(ecosystem, { env: o.env, cpus: cpus().length });
  const created: string[] = [];
  const updated: string[] = [];
  const errors = [...report.errors];
  // Which of them existed before this import: those are updated, the rest created.
  const existing = new Set(mapped.map((a) => idOf(a.name)).filter((id) => agents.has(id)));
  for (const agent of mapped) {
    const id = idOf(agent.name);
    try {
      if (existing.has(id)) updated.push((await agents.update(id, agent)).id);
      else created.push((await agents.create(agent)).id);
    } catch (e) {
      if (!(e instanceof HubError)) throw e;
      errors.push({ app: agent.name, error: e.message });
    }
  }
  return { created, updated, ...report, errors };
}
