/**
 * The PM2 fields about how an app's processes run, as an agent's: instances and exec_mode, watch,
 * wait_ready and listen_timeout, cron_restart (lib/God.js, lib/Watcher.js, lib/God/Reload.js).
 */
import { basename } from 'node:path';
import { MAX_INSTANCES, type AgentCreate } from './schema.js';
import { PM2_WATCH_IGNORES, WATCH_IGNORED_ALWAYS, instanceCount } from './pm2-fields.js';
import { describe, type AppContext, type AppFields } from './pm2-reader.js';

type Processes = Pick<AgentCreate, 'instances' | 'watch' | 'watch_ignore' | 'watch_debounce_ms' | 'ready_signal' | 'ready_timeout_s' | 'cron_restart'>;

const EXEC_MODE = /^(fork|cluster)(_mode)?$/;

/** PM2 runs node and bun apps that have `instances` in cluster mode unless exec_mode says fork (determineExecMode). */
function clusterMode(f: AppFields, interpreter: string | undefined): boolean {
  const mode = f.app.exec_mode;
  if (mode !== undefined) return typeof mode === 'string' && mode.startsWith('cluster');
  const name = basename(interpreter ?? '');
  return f.app.instances !== undefined && (name.endsWith('node') || name.endsWith('bun'));
}

function instances(f: AppFields, ctx: AppContext, interpreter: string | undefined, out: Processes): void {
  const mode = f.app.exec_mode;
  if (mode !== undefined && !(typeof mode === 'string' && EXEC_MODE.test(mode))) f.problems.push(`exec_mode: must be fork or cluster (or fork_mode, cluster_mode), not ${describe(mode)}`);
  const v = f.app.instances;
  if (v === undefined) return;
  const n = instanceCount(v, ctx.cpus);
  if (n === undefined) {
    f.problems.push(`instances: must be a whole number, a numeric string or "max", not ${describe(v)}`);
    return;
  }
  out.instances = Math.min(n, MAX_INSTANCES);
  if (v === 'max' || Number(v) <= 0) f.note('instances', `${JSON.stringify(v)} is ${n} on the hub's machine (${ctx.cpus} CPUs); PM2 counts them at each start`);
  if (n > MAX_INSTANCES) f.note('instances', `${n} is more than Hearth runs of one agent: ${MAX_INSTANCES}`);
  if (out.instances > 1 && clusterMode(f, interpreter)) {
    f.note(
      'exec_mode',
      `cluster: Hearth runs ${out.instances} separate processes, which do not share one listening socket as PM2's cluster does; give each its own port (port: true sets PORT per instance)`,
    );
  }
}

/** A list of paths or globs: one string, or an array of strings. */
function texts(f: AppFields, field: string): string[] | undefined {
  const v = f.app[field];
  const list = typeof v === 'string' ? [v] : v;
  if (Array.isArray(list) && list.every((x) => typeof x === 'string' && x !== '')) return list as string[];
  f.problems.push(`${field}: must be a path or an array of paths, not ${describe(v)}${Array.isArray(list) ? ' (globs as text; a regular expression cannot be sent)' : ''}`);
  return undefined;
}

/** watch: true (the cwd) or paths; PM2 watches the cwd for an empty list too. ignore_watch and watch_delay only with it. */
function watch(f: AppFields, out: Processes): void {
  const v = f.app.watch;
  const on = v === true || typeof v === 'string' || Array.isArray(v);
  if (v !== undefined && v !== false && !on) f.problems.push(`watch: must be true, false, a path or an array of paths, not ${describe(v)}`);
  if (!on) {
    for (const field of ['ignore_watch', 'watch_delay']) if (f.app[field] !== undefined) f.ignore(field, 'watch is off');
    return;
  }
  if (v === true || (Array.isArray(v) && v.length === 0)) out.watch = true;
  else {
    const paths = texts(f, 'watch');
    if (paths?.every((p) => f.path('watch', p) !== undefined)) out.watch = paths;
  }
  // PM2's ignore_watch replaces its default; Hearth's own defaults hold whatever is said.
  if (f.app.ignore_watch === undefined) out.watch_ignore = [...PM2_WATCH_IGNORES];
  else {
    const globs = texts(f, 'ignore_watch')?.filter((g) => !WATCH_IGNORED_ALWAYS.includes(g));
    if (globs !== undefined && globs.length > 0) out.watch_ignore = globs;
  }
  const delay = f.ms('watch_delay');
  if (delay !== undefined) out.watch_debounce_ms = Math.round(delay);
}

function readiness(f: AppFields, out: Processes): void {
  if (f.bool('wait_ready')) out.ready_signal = { type: 'ipc' };
  const timeout = f.ms('listen_timeout');
  if (timeout !== undefined) {
    out.ready_timeout_s = timeout / 1000;
    f.note('listen_timeout', 'when it runs out, PM2 replaces the old process anyway; Hearth keeps the old one and says the reload failed');
  }
}

/** cron_restart: PM2 takes 0 for none. */
function cron(f: AppFields, out: Processes): void {
  const v = f.app.cron_restart;
  if (v === undefined) return;
  if (v === 0 || v === '0') f.ignore('cron_restart', '0 means no scheduled restart');
  else if (typeof v === 'string' && v.trim() !== '') out.cron_restart = v.trim();
  else f.problems.push(`cron_restart: must be a cron expression, not ${describe(v)}`);
}

/** `interpreter`: what runs the script, if anything does. */
export function mapProcesses(f: AppFields, ctx: AppContext, interpreter: string | undefined): Processes {
  const out: Processes = {};
  instances(f, ctx, interpreter, out);
  watch(f, out);
  readiness(f, out);
  cron(f, out);
  return out;
}
