/**
 * What an agent's definition asks beyond its schema: the checks that need more than a type (a cron
 * expression that parses, a cwd to watch), and what the watch fields mean for the file watch.
 */
import { isAbsolute, resolve } from 'node:path';
import { invalid } from '../errors.js';
import type { WatchSpec } from '../supervisor/file-watch.js';
import { checkSchedule } from '../tasks/schedule.js';
import type { AgentDefinition } from './instance.js';

const WATCH_DEBOUNCE_MS = 1000;

/** Throws a HubError (400) saying what is wrong; changes nothing. */
export function checkDefinition(def: AgentDefinition): void {
  if (def.cron_restart) {
    try {
      checkSchedule({ schedule: def.cron_restart });
    } catch (e) {
      throw invalid(`cron_restart: ${(e as Error).message.replace(/^schedule: /, '')}`);
    }
  }
  const relative = def.watch === true || (Array.isArray(def.watch) && def.watch.some((p) => !isAbsolute(p)));
  if (relative && !def.cwd) throw invalid('watch: give the agent a cwd (watch: true watches it, and relative watch paths start there)');
  if (!def.watch && (def.watch_ignore || def.watch_debounce_ms !== undefined)) throw invalid('watch_ignore and watch_debounce_ms only mean something with watch');
  if (def.health_check?.type === 'tcp' && def.health_check.port === undefined && !def.port) {
    throw invalid('health_check: a tcp check needs a port (or the agent port: true, and it checks that one)');
  }
}

/** The file watch an agent asks for, or null. */
export function watchSpec(def: AgentDefinition, logsDir: string): WatchSpec | null {
  if (!def.watch) return null;
  // Without a cwd every path is absolute (checkDefinition).
  const cwd = def.cwd ?? '/';
  return {
    paths: def.watch === true ? [resolve(cwd)] : def.watch.map((p) => resolve(cwd, p)),
    ignore: def.watch_ignore ?? [],
    // PM2's ignore_watch paths start at the cwd.
    ...(def.cwd ? { globBase: resolve(cwd) } : {}),
    ignorePaths: [logsDir],
    debounceMs: def.watch_debounce_ms ?? WATCH_DEBOUNCE_MS,
  };
}
