/** A list section of hearth.yaml (agents:, tasks:), validated like any other edge: a bad entry stops the hub (exit 2). */
import type { Static, TSchema } from '@sinclair/typebox';
import { parse } from '../validate.js';
import { ConfigError } from './load.js';

export function sectionList<S extends TSchema>(what: string, schema: S, section: unknown, file: string | null): Array<Static<S>> {
  if (section === undefined || section === null) return [];
  const where = `${what} in ${file ?? 'hearth.yaml'}`;
  if (!Array.isArray(section)) throw new ConfigError(`${where}: must be a list`);
  return section.map((entry, i) => {
    const r = parse(schema, entry);
    if (!r.ok) {
      const name = typeof entry === 'object' && entry !== null && 'name' in entry ? ` (${String((entry as { name: unknown }).name)})` : '';
      throw new ConfigError(`${where}, entry ${i + 1}${name}: ${r.error}`);
    }
    return r.value;
  });
}
