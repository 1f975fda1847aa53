/**
 * Agents -> a PM2 ecosystem: each field under PM2's name (pm2-import.ts read backwards, so that the
 * import of an export is the same agents), what PM2 has no name for left out and listed.
 */
import { extname } from 'node:path';
import { envValue, isSecret } from '../secrets.js';
import { RESTART_DEFAULTS } from '../supervisor/spec.js';
import { INTERPRETER_BY_EXT, WATCH_IGNORED_ALWAYS } from './pm2-fields.js';
import type { AgentCreate } from './schema.js';

export interface Skipped {
  agent: string;
  field: string;
  why: string;
}

type App = Record<string, unknown>;

const ms = (s: number): number => Math.round(s * 1000);

/**
 * PM2's script, interpreter and arguments for the same argv: an interpreter's options, the first
 * argument that is a script PM2 knows by its extension, then its arguments; or the command run by
 * itself (interpreter "none"). PM2 runs a script with a space through bash -c, so such a path cannot be said.
 */
function program(a: AgentCreate): App | null {
  const args = a.args ?? [];
  const at = args.findIndex((x) => !x.startsWith('-'));
  const script = at < 0 ? undefined : args[at]!;
  const implied = script === undefined ? undefined : INTERPRETER_BY_EXT[extname(script).toLowerCase()];
  if (script !== undefined && implied !== undefined && !script.includes(' ')) {
    const app: App = { script };
    // PM2 picks the interpreter for these itself; for .py it prefers `python`, so python3 is said.
    if (a.command !== implied || implied === 'python3') app.interpreter = a.command;
    if (at > 0) app.node_args = args.slice(0, at);
    if (at + 1 < args.length) app.args = args.slice(at + 1);
    return app;
  }
  if (a.command.includes(' ')) return null;
  return { script: a.command, ...(args.length > 0 ? { args } : {}), interpreter: 'none' };
}

function restart(a: AgentCreate, app: App, skip: (field: string, why: string) => void): void {
  const r = a.restart;
  if (!r) return;
  if (r.policy === 'always') app.autorestart = true;
  if (r.policy === 'never') app.autorestart = false;
  if (r.policy === 'on-failure') app.stop_exit_codes = [0];
  if (r.max_restarts !== undefined) app.max_restarts = r.max_restarts;
  if (r.min_uptime_s !== undefined) app.min_uptime = ms(r.min_uptime_s);
  if (r.delay_ms !== undefined || r.backoff !== undefined) {
    // Hearth backs off unless told not to, from its default first delay.
    app[r.backoff === false ? 'restart_delay' : 'exp_backoff_restart_delay'] = r.delay_ms ?? RESTART_DEFAULTS.delay_ms;
  }
  if (r.window_s !== undefined) skip('restart.window_s', 'PM2 counts max_restarts against min_uptime, not in a window');
}

/** One agent as a PM2 app, and what of it PM2 cannot say. */
function toApp(a: AgentCreate, skipped: Skipped[]): App | null {
  const skip = (field: string, why: string): void => void skipped.push({ agent: a.name, field, why });
  const run = program(a);
  if (run === null) {
    skip('command', 'PM2 runs a script with a space in its path through bash -c: the agent is left out');
    return null;
  }
  const app: App = { name: a.name, ...run };
  if (a.cwd !== undefined) app.cwd = a.cwd;
  if (a.instances !== undefined) {
    app.instances = a.instances;
    // Separate processes, as Hearth runs them; PM2 would choose cluster mode for a node app.
    app.exec_mode = 'fork';
  }
  if (a.env !== undefined) {
    app.env = Object.fromEntries(Object.entries(a.env).map(([k, v]) => [k, envValue(v)]));
    for (const [k, v] of Object.entries(a.env)) {
      if (typeof v === 'object' && v.secret && !isSecret(k, v.value)) skip(`env.${k}`, 'marked secret: PM2 has no such mark, the value is written as it is');
    }
  }
  if (a.autostart !== undefined) app.autostart = a.autostart;
  restart(a, app, skip);
  if (a.limits?.memory_mb !== undefined) {
    const mb = a.limits.memory_mb;
    app.max_memory_restart = Number.isInteger(mb) ? `${mb}M` : Math.round(mb * 1024 ** 2);
  }
  if (a.limits?.cpu_percent !== undefined) skip('limits.cpu_percent', 'PM2 has no CPU limit');
  if (a.stop_signal !== undefined && a.stop_signal !== 'SIGINT') skip('stop_signal', 'PM2 always stops with SIGINT');
  if (a.stop_timeout_s !== undefined) app.kill_timeout = ms(a.stop_timeout_s);
  if (a.watch !== undefined) {
    app.watch = a.watch;
    // Said in full: a PM2 ignore_watch replaces PM2's defaults, and Hearth's always hold.
    if (a.watch) app.ignore_watch = [...WATCH_IGNORED_ALWAYS, ...(a.watch_ignore ?? [])];
  }
  if (a.watch_debounce_ms !== undefined) app.watch_delay = a.watch_debounce_ms;
  if (a.ready_signal?.type === 'ipc') app.wait_ready = true;
  if (a.ready_signal?.type === 'stdout') skip('ready_signal', 'PM2 waits for process.send("ready") only, not a line of output');
  if (a.ready_timeout_s !== undefined) app.listen_timeout = ms(a.ready_timeout_s);
  if (a.cron_restart !== undefined) app.cron_restart = a.cron_restart;
  if (a.port) skip('port', "PM2 gives no port; its `port` is a fixed PORT (set env.PORT)");
  if (a.health_check !== undefined) skip('health_check', 'PM2 has no health checks');
  if (a.type !== undefined && a.type !== 'process') skip('type', 'PM2 has no types');
  if (a.configuration !== undefined && Object.keys(a.configuration).length > 0) skip('configuration', 'PM2 has no configuration beside env');
  return app;
}

export function toEcosystem(agents: AgentCreate[]): { apps: App[]; skipped: Skipped[] } {
  const skipped: Skipped[] = [];
  const apps = agents.map((a) => toApp(a, skipped)).filter((app): app is App => app !== null);
  return { apps, skipped };
}
