/**
 * PM2 ecosystem files -> agents. Pure: the CLI loads the file, the hub creates the agents.
 *
 * Every field of every app is accounted for: mapped, reported as ignored (known to PM2, no meaning
 * here, with why) or reported as unknown. Nothing is dropped silently.
 */
import { parse } from '../validate.js';
import { ALIASES, FILE_IGNORED, IGNORED, MAPPED, durationMs, sizeBytes } from './pm2-fields.js';
import type { LimitsSpec, RestartSpec } from '../supervisor/spec.js';
import { AgentCreate } from './schema.js';
import { splitArgs } from './shell-words.js';

export { durationMs, sizeBytes, splitArgs };

export interface Pm2ImportResult {
  agents: AgentCreate[];
  unknown_fields: Array<{ app: string; field: string }>;
  ignored_fields: Array<{ app: string; field: string; why: string }>;
  errors: Array<{ app: string; error: string }>;
}

/** The name used in reports for the file itself (top-level fields, a document of the wrong shape). */
export const FILE_LABEL = '(ecosystem file)';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A string, number or boolean as text; undefined for anything else. */
const scalarText = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : (typeof v === 'number' && Number.isFinite(v)) || typeof v === 'boolean' ? String(v) : undefined;

const describe = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : `${typeof v} ${JSON.stringify(v)}`);

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const INTERPRETER_BY_EXT: Array<[RegExp, string]> = [
  [/\.[cm]?js$/i, 'node'],
  [/\.py$/i, 'python3'],
  [/\.sh$/i, 'bash'],
];

export function mapEcosystem(doc: unknown): Pm2ImportResult {
  const out: Pm2ImportResult = { agents: [], unknown_fields: [], ignored_fields: [], errors: [] };
  let apps: unknown[];
  if (Array.isArray(doc)) {
    apps = doc;
  } else if (isObj(doc) && 'apps' in doc) {
    for (const key of Object.keys(doc)) {
      if (key === 'apps') continue;
      if (Object.hasOwn(FILE_IGNORED, key)) out.ignored_fields.push({ app: FILE_LABEL, field: key, why: FILE_IGNORED[key]! });
      else out.unknown_fields.push({ app: FILE_LABEL, field: key });
    }
    if (Array.isArray(doc.apps)) apps = doc.apps;
    else if (isObj(doc.apps)) apps = [doc.apps];
    else {
      out.errors.push({ app: FILE_LABEL, error: `apps: must be an array of apps, not ${describe(doc.apps)}` });
      return out;
    }
  } else if (isObj(doc)) {
    apps = [doc];
  } else {
    out.errors.push({ app: FILE_LABEL, error: `expected { apps: [...] }, an array of apps or one app, not ${describe(doc)}` });
    return out;
  }

  const seen = new Set<string>();
  apps.forEach((app, i) => {
    const label = isObj(app) && typeof app.name === 'string' && app.name !== '' ? app.name : `app #${i + 1}`;
    if (!isObj(app)) {
      out.errors.push({ app: label, error: `an app must be an object, not ${describe(app)}` });
      return;
    }
    const r = mapApp(app, label, out);
    if ('error' in r) {
      out.errors.push({ app: label, error: r.error });
      return;
    }
    if (seen.has(r.agent.name)) {
      out.errors.push({ app: label, error: `name: "${r.agent.name}" is used by an earlier app in this file` });
      return;
    }
    // Checked on a copy: Ajv fills in defaults, and the agent should say only what the file said.
    const checked = parse(AgentCreate, structuredClone(r.agent));
    if (!checked.ok) {
      out.errors.push({ app: label, error: checked.error });
      return;
    }
    seen.add(r.agent.name);
    out.agents.push(r.agent);
  });
  return out;
}

function mapApp(raw: Obj, label: string, out: Pm2ImportResult): { agent: AgentCreate } | { error: string } {
  const problems: string[] = [];
  const ignore = (field: string, why: string): void => void out.ignored_fields.push({ app: label, field, why });

  // Every key once: aliases folded onto their field's name, the rest ignored or unknown.
  const app: Obj = {};
  for (const [key, value] of Object.entries(raw)) {
    if (value === undefined) continue; // a JS file's `field: undefined` says nothing
    const field = Object.hasOwn(ALIASES, key) ? ALIASES[key]! : key;
    if (MAPPED.has(field)) {
      if (field !== key && (raw[field] !== undefined || field in app)) ignore(key, `another name for ${field}, which is also set`);
      else app[field] = value;
    } else if (Object.hasOwn(IGNORED, field)) ignore(key, IGNORED[field]!);
    else if (/^env_\S+$/.test(key)) ignore(key, `environment for \`pm2 --env ${key.slice(4)}\`; merge the one you want into env`);
    else out.unknown_fields.push({ app: label, field: key });
  }

  const str = (field: string): string | undefined => {
    const v = app[field];
    if (v === undefined) return undefined;
    if (typeof v === 'string' && v !== '') return v;
    problems.push(`${field}: must be a non-empty string, not ${describe(v)}`);
    return undefined;
  };
  const words = (field: string): string[] | undefined => {
    const v = app[field];
    if (v === undefined) return undefined;
    if (typeof v === 'string') {
      try {
        return splitArgs(v);
      } catch (e) {
        problems.push(`${field}: ${(e as Error).message} in ${JSON.stringify(v)}`);
        return undefined;
      }
    }
    if (Array.isArray(v)) {
      const texts = v.map(scalarText);
      const bad = texts.findIndex((t) => t === undefined);
      if (bad < 0) return texts as string[];
      problems.push(`${field}[${bad}]: must be a string, not ${describe(v[bad])}`);
      return undefined;
    }
    problems.push(`${field}: must be a string or an array of strings, not ${describe(v)}`);
    return undefined;
  };
  const ms = (field: string): number | undefined => {
    const v = app[field];
    if (v === undefined) return undefined;
    const n = durationMs(v);
    if (n === undefined) problems.push(`${field}: must be milliseconds or a duration like "10s", "5m", "1h", not ${describe(v)}`);
    return n;
  };

  const name = str('name');
  if (app.name === undefined) problems.push('name: missing (Hearth needs a name for every agent)');
  const script = str('script');
  if (app.script === undefined) problems.push('script: missing');
  const scriptArgs = words('args') ?? [];
  const explicit = str('interpreter');
  const interpreterArgs = words('node_args') ?? [];
  const cwd = str('cwd');

  // The program: an interpreter and the script, or the script itself.
  let command: string | undefined;
  let args: string[] = scriptArgs;
  if (script !== undefined) {
    const interpreter =
      explicit !== undefined ? (explicit === 'none' ? undefined : explicit) : INTERPRETER_BY_EXT.find(([re]) => re.test(script))?.[1];
    if (interpreter !== undefined) {
      command = interpreter;
      args = [...interpreterArgs, script, ...scriptArgs];
    } else {
      command = script;
      if (app.node_args !== undefined) ignore('node_args', 'the script runs by itself, without an interpreter to give them to');
    }
  }

  // Environment: every value as text.
  let env: Record<string, string> | undefined;
  if (app.env !== undefined) {
    if (!isObj(app.env)) problems.push(`env: must be an object of NAME: value, not ${describe(app.env)}`);
    else {
      env = {};
      for (const [k, v] of Object.entries(app.env)) {
        if (v === undefined) continue;
        const t = scalarText(v);
        if (!ENV_NAME.test(k)) problems.push(`env.${k}: not a valid variable name (letters, digits and _, not first a digit)`);
        else if (t === undefined) problems.push(`env.${k}: must be a string, number or boolean, not ${describe(v)}`);
        else env[k] = t;
      }
    }
  }
  if (app.port !== undefined) {
    const port = app.port;
    if (!(typeof port === 'number' && Number.isInteger(port)) && !(typeof port === 'string' && /^\d+$/.test(port))) {
      problems.push(`port: must be a port number, not ${describe(port)}`);
    } else if (env?.PORT !== undefined) {
      ignore('port', 'env.PORT is also set and wins');
    } else {
      env = { ...env, PORT: String(port) };
    }
  }

  // Restarts.
  const restart: RestartSpec = {};
  if (app.autorestart !== undefined) {
    if (typeof app.autorestart !== 'boolean') problems.push(`autorestart: must be true or false, not ${describe(app.autorestart)}`);
    else restart.policy = app.autorestart ? 'always' : 'never';
  }
  if (app.stop_exit_codes !== undefined) {
    const codes = Array.isArray(app.stop_exit_codes) ? app.stop_exit_codes : [app.stop_exit_codes];
    if (!codes.every((c) => typeof c === 'number' && Number.isInteger(c))) {
      problems.push(`stop_exit_codes: must be an exit code or an array of them, not ${describe(app.stop_exit_codes)}`);
    } else if (codes.length === 1 && codes[0] === 0) {
      if (restart.policy !== 'never') restart.policy = 'on-failure';
      else ignore('stop_exit_codes', 'autorestart is false: the agent never restarts');
    } else {
      ignore('stop_exit_codes', 'Hearth can only spare exit code 0 (restart policy on-failure), not a list of codes');
    }
  }
  if (app.max_restarts !== undefined) {
    const v = app.max_restarts;
    if (typeof v !== 'number' || !Number.isInteger(v)) problems.push(`max_restarts: must be a whole number, not ${describe(v)}`);
    else restart.max_restarts = v;
  }
  const minUptime = ms('min_uptime');
  if (minUptime !== undefined) restart.min_uptime_s = minUptime / 1000;
  const expDelay = ms('exp_backoff_restart_delay');
  const delay = ms('restart_delay');
  if (expDelay !== undefined) {
    restart.delay_ms = Math.round(expDelay);
    restart.backoff = true;
    if (delay !== undefined) ignore('restart_delay', 'exp_backoff_restart_delay is also set and wins');
  } else if (delay !== undefined) {
    restart.delay_ms = Math.round(delay);
    restart.backoff = false;
  }

  // Limits and stopping.
  let limits: LimitsSpec | undefined;
  if (app.max_memory_restart !== undefined) {
    const bytes = sizeBytes(app.max_memory_restart);
    if (bytes === undefined) problems.push(`max_memory_restart: must be bytes or a size like "500K", "150M", "1G", not ${describe(app.max_memory_restart)}`);
    else limits = { memory_mb: bytes / 1024 ** 2 };
  }
  const killTimeout = ms('kill_timeout');

  if (problems.length > 0 || name === undefined || command === undefined) return { error: problems.join('; ') };
  const agent: AgentCreate = { name, command };
  if (args.length > 0) agent.args = args;
  if (cwd !== undefined) agent.cwd = cwd;
  if (env !== undefined && Object.keys(env).length > 0) agent.env = env;
  if (Object.keys(restart).length > 0) agent.restart = restart;
  if (limits !== undefined) agent.limits = limits;
  // PM2 stops a process with SIGINT, then SIGKILL after kill_timeout: programs written for it
  // clean up on SIGINT.
  agent.stop_signal = 'SIGINT';
  if (killTimeout !== undefined) agent.stop_timeout_s = killTimeout / 1000;
  return { agent };
}
