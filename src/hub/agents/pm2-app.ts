/**
 * One app of a PM2 ecosystem file -> one agent, with PM2's meaning (lib/Common.js verifyConfs,
 * prepareAppConf, resolveInterpreter, mergeEnvironmentVariables): its program, environment and
 * restarts here, its instances, watch, readiness and scheduled restart in pm2-processes.ts.
 */
import { basename, extname } from 'node:path';
import type { LimitsSpec, RestartSpec } from '../supervisor/spec.js';
import { ALIASES, IGNORED, INTERPRETER_BY_EXT, MAPPED, sizeBytes } from './pm2-fields.js';
import { mapProcesses } from './pm2-processes.js';
import { AppFields, describe, isObj, type AppContext, type AppReport, type Obj } from './pm2-reader.js';
import type { AgentCreate } from './schema.js';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The app's fields once each: aliases folded onto their field's name, other environments set aside, the rest ignored or unknown. */
function fold(raw: Obj, label: string, ctx: AppContext, report: AppReport): Obj {
  const app: Obj = {};
  for (const [key, value] of Object.entries(raw)) {
    // A JS file's `field: undefined` says nothing, and PM2 takes null for not given.
    if (value === undefined || value === null) continue;
    const field = Object.hasOwn(ALIASES, key) ? ALIASES[key]! : key;
    if (MAPPED.has(field)) {
      const other = raw[field] !== undefined && raw[field] !== null;
      if (field !== key && (other || field in app)) report.ignored_fields.push({ app: label, field: key, why: `another name for ${field}, which is also set` });
      else app[field] = value;
    } else if (Object.hasOwn(IGNORED, field)) report.ignored_fields.push({ app: label, field: key, why: IGNORED[field]! });
    else if (/^env_\S+$/.test(key)) {
      if (key === `env_${ctx.env}`) app[key] = value; // the others are other environments: nothing to say
    } else report.unknown_fields.push({ app: label, field: key });
  }
  return app;
}

/** PM2's environment values: objects as JSON (mergeEnvironmentVariables), everything else as text. */
function envBlock(f: AppFields, field: string, v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isObj(v)) {
    f.problems.push(`${field}: must be an object of NAME: value, not ${describe(v)}`);
    return out;
  }
  for (const [k, x] of Object.entries(v)) {
    if (x === undefined) continue;
    if (!ENV_NAME.test(k)) f.problems.push(`${field}.${k}: not a valid variable name (letters, digits and _, not first a digit)`);
    else out[k] = typeof x === 'object' ? JSON.stringify(x) : String(x);
  }
  return out;
}

interface Program {
  command: string;
  args: string[];
  /** The interpreter running the script, if any. */
  interpreter?: string;
}

/** The program: an interpreter and the script, or the script itself; a script with a space PM2 runs with bash -c. */
function program(f: AppFields, script: string): Program | undefined {
  if (script.includes(' ')) {
    for (const field of ['args', 'interpreter', 'node_args']) {
      if (f.app[field] !== undefined && f.app[field] !== '') f.ignore(field, 'PM2 runs a script with a space in it as `bash -c "<script>"`, without these');
    }
    return { command: 'bash', args: ['-c', script] };
  }
  const scriptArgs = f.words('args') ?? [];
  // An empty interpreter is none given (PM2 tests it for truth).
  const given = f.app.interpreter === '' ? undefined : f.str('interpreter');
  const interpreterArgs = f.words('node_args') ?? [];
  if (f.path('script', script) === undefined) return undefined;
  if (given !== undefined && given !== 'none' && f.path('interpreter', given) === undefined) return undefined;
  const interpreter = given !== undefined ? (given === 'none' ? undefined : given) : INTERPRETER_BY_EXT[extname(script).toLowerCase()];
  if (interpreter === undefined) {
    if (f.app.node_args !== undefined) f.ignore('node_args', 'the script runs by itself, without an interpreter to give them to');
    return { command: script, args: scriptArgs };
  }
  return { command: interpreter, args: [...interpreterArgs, script, ...scriptArgs], interpreter };
}

/**
 * The environment as `pm2 start [--env NAME]` gives it: deploy.NAME.env, then env, then port as
 * PORT, then env_NAME, each over the one before. PM2 sets PYTHONUNBUFFERED for a Python interpreter.
 */
function environment(f: AppFields, ctx: AppContext, interpreter: string | undefined): Record<string, string> {
  const own = f.app.env === undefined ? {} : envBlock(f, 'env', f.app.env);
  const env: Record<string, string> = { ...(ctx.deployEnv ? envBlock(f, `deploy.${ctx.env}.env`, ctx.deployEnv) : {}), ...own };
  const port = f.app.port;
  if (port !== undefined) {
    if (!(typeof port === 'number' && Number.isInteger(port) && port > 0) && !(typeof port === 'string' && /^[1-9]\d*$/.test(port))) {
      f.problems.push(`port: must be a port number, not ${describe(port)}`);
    } else {
      if (own.PORT !== undefined && own.PORT !== String(port)) f.note('port', `wins over env.PORT (${own.PORT}), as in PM2`);
      env.PORT = String(port);
    }
  }
  const chosen = `env_${ctx.env}`;
  if (ctx.env !== undefined && f.app[chosen] !== undefined) Object.assign(env, envBlock(f, chosen, f.app[chosen]));
  else if (ctx.env !== undefined) f.note(chosen, `not in this app: its env alone is used (PM2 warns "Environment [${ctx.env}] is not defined" and does the same)`);
  if (interpreter?.includes('python') && env.PYTHONUNBUFFERED === undefined) env.PYTHONUNBUFFERED = '1';
  return env;
}

function restarts(f: AppFields): RestartSpec {
  const restart: RestartSpec = {};
  const autorestart = f.bool('autorestart');
  if (autorestart !== undefined) restart.policy = autorestart ? 'always' : 'never';
  if (f.app.stop_exit_codes !== undefined) {
    const codes = Array.isArray(f.app.stop_exit_codes) ? f.app.stop_exit_codes : [f.app.stop_exit_codes];
    if (!codes.every((c) => typeof c === 'number' && Number.isInteger(c))) {
      f.problems.push(`stop_exit_codes: must be an exit code or an array of them, not ${describe(f.app.stop_exit_codes)}`);
    } else if (codes.length === 1 && codes[0] === 0) {
      if (restart.policy !== 'never') restart.policy = 'on-failure';
      else f.ignore('stop_exit_codes', 'autorestart is false: the agent never restarts');
    } else {
      f.ignore('stop_exit_codes', 'Hearth can only spare exit code 0 (restart policy on-failure), not a list of codes');
    }
  }
  if (f.app.max_restarts !== undefined) {
    const v = f.app.max_restarts;
    if (typeof v !== 'number' || !Number.isInteger(v)) f.problems.push(`max_restarts: must be a whole number, not ${describe(v)}`);
    else restart.max_restarts = v;
  }
  const minUptime = f.ms('min_uptime');
  if (minUptime !== undefined) restart.min_uptime_s = minUptime / 1000;
  const expDelay = f.ms('exp_backoff_restart_delay');
  const delay = f.ms('restart_delay');
  if (expDelay !== undefined) {
    restart.delay_ms = Math.round(expDelay);
    restart.backoff = true;
    if (delay !== undefined) f.ignore('restart_delay', 'exp_backoff_restart_delay is also set and wins');
  } else if (delay !== undefined) {
    restart.delay_ms = Math.round(delay);
    restart.backoff = false;
  }
  return restart;
}

/** One app as an agent, or what is wrong with it. */
export function mapApp(raw: Obj, label: string, ctx: AppContext, report: AppReport): { agent: AgentCreate } | { error: string } {
  const f = new AppFields(fold(raw, label, ctx, report), label, report);
  const app = f.app;

  const script = f.str('script');
  if (app.script === undefined) f.problems.push('script: missing');
  let name = f.str('name');
  if (app.name === undefined && script !== undefined) {
    // PM2 names an app after its script (renderApplicationName).
    const base = basename(script);
    name = base.lastIndexOf('.') > 0 ? base.slice(0, base.lastIndexOf('.')) : base;
    f.note('name', `none given: named "${name}" after its script, as PM2 does`);
  }
  if (f.bool('append_env_to_name') && ctx.env !== undefined && name !== undefined) name = `${name}-${ctx.env}`;
  const run = script === undefined ? undefined : program(f, script);
  const cwd = f.str('cwd');
  if (cwd !== undefined) f.path('cwd', cwd);
  const env = environment(f, ctx, run?.interpreter);
  const restart = restarts(f);
  let limits: LimitsSpec | undefined;
  if (app.max_memory_restart !== undefined) {
    const bytes = sizeBytes(app.max_memory_restart);
    if (bytes === undefined) f.problems.push(`max_memory_restart: must be bytes or a size like "500K", "150M", "1G", not ${describe(app.max_memory_restart)}`);
    else limits = { memory_mb: bytes / 1024 ** 2 };
  }
  const killTimeout = f.ms('kill_timeout');
  const autostart = f.bool('autostart');
  const processes = mapProcesses(f, ctx, run?.interpreter);

  if (f.problems.length > 0 || name === undefined || run === undefined) return { error: f.problems.join('; ') };
  const agent: AgentCreate = { name, command: run.command };
  if (run.args.length > 0) agent.args = run.args;
  if (cwd !== undefined) agent.cwd = cwd;
  if (Object.keys(env).length > 0) agent.env = env;
  if (autostart !== undefined) agent.autostart = autostart;
  if (Object.keys(restart).length > 0) agent.restart = restart;
  if (limits !== undefined) agent.limits = limits;
  // PM2 stops a process with SIGINT, then SIGKILL after kill_timeout: programs written for it
  // clean up on SIGINT.
  agent.stop_signal = 'SIGINT';
  if (killTimeout !== undefined) agent.stop_timeout_s = killTimeout / 1000;
  return { agent: { ...agent, ...processes } };
}
