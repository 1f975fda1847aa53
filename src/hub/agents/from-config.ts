/** The `agents:` list of hearth.yaml, validated like any other edge: a bad entry stops the hub (exit 2). */
import { ConfigError } from '../config/load.js';
import { parse } from '../validate.js';
import { AgentCreate } from './schema.js';

export function agentsFromConfig(section: unknown, file: string | null): AgentCreate[] {
  if (section === undefined || section === null) return [];
  const where = `agents in ${file ?? 'hearth.yaml'}`;
  if (!Array.isArray(section)) throw new ConfigError(`${where}: must be a list of agents`);
  return section.map((entry, i) => {
    const r = parse(AgentCreate, entry);
    if (!r.ok) {
      const name = typeof entry === 'object' && entry !== null && 'name' in entry ? ` (${String((entry as { name: unknown }).name)})` : '';
      throw new ConfigError(`${where}, entry ${i + 1}${name}: ${r.error}`);
    }
    return r.value;
  });
}
