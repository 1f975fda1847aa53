/** Resolves settings from flags, environment, hearth.yaml and defaults, highest first. */
import { accessSync, constants, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { SETTINGS, envName, type Settings } from './settings.js';

/** A setting that cannot be used: the hub stops with exit code 2 and this message. */
export class ConfigError extends Error {}

export interface ConfigSources {
  /** Flag values keyed by setting name (data_dir, http_port, ...), as given on the command line. */
  flags: Record<string, string | undefined>;
  env: NodeJS.ProcessEnv;
  /** --config FILE; otherwise $data_dir/hearth.yaml when it exists. */
  configFile?: string;
}

export interface LoadedConfig {
  settings: Settings;
  /** Where each setting came from, for the log line and error messages. */
  origin: Record<keyof Settings, string>;
  configFile: string | null;
  /** The parts of hearth.yaml that are not settings (agents, tasks, ...), for the managers. */
  sections: Record<string, unknown>;
}

const SECTION_KEYS = new Set(['agents', 'apps', 'tasks', 'devices']);

function readYaml(file: string): Record<string, unknown> {
  let raw: string;
  try {
    raw = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`config file ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(raw);
  } catch (e) {
    throw new ConfigError(`config file ${file}: not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`config file ${file}: must be a mapping of settings`);
  return doc as Record<string, unknown>;
}

function yamlScalar(file: string, key: string, v: unknown): string {
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new ConfigError(`setting ${key} (in ${file}): must be a single value, not ${Array.isArray(v) ? 'a list' : typeof v}`);
}

export function loadConfig(src: ConfigSources): LoadedConfig {
  const values: Partial<Record<keyof Settings, unknown>> = {};
  const origin = {} as Record<keyof Settings, string>;
  const byName = new Map(SETTINGS.map((s) => [s.name, s]));

  const pick = (name: string, fromYaml?: Record<string, unknown>, file?: string): [string, string] | undefined => {
    const s = byName.get(name)!;
    const flag = src.flags[name];
    if (flag !== undefined && s.flag) return [flag, `${s.flag}`];
    const env = src.env[envName(s)];
    if (env !== undefined && env !== '') return [env, envName(s)];
    if (fromYaml && name in fromYaml && fromYaml[name] !== null) return [yamlScalar(file!, name, fromYaml[name]), `${name} in ${file}`];
    return undefined;
  };

  // data_dir decides where hearth.yaml is, so it is resolved from flags and env first.
  const dataDirPick = pick('data_dir') ?? systemdStateDir(src.env);
  const dataDir = resolve(dataDirPick?.[0] ?? './data');
  const configFile = src.configFile ? resolve(src.configFile) : join(dataDir, 'hearth.yaml');
  if (src.configFile && !existsSync(configFile)) throw new ConfigError(`--config ${src.configFile}: no such file`);
  const yaml = existsSync(configFile) ? readYaml(configFile) : {};
  const sections: Record<string, unknown> = {};
  for (const key of Object.keys(yaml)) {
    if (SECTION_KEYS.has(key)) sections[key] = yaml[key];
    else if (!byName.has(key)) {
      throw new ConfigError(`config file ${configFile}: unknown setting "${key}" (known: ${[...byName.keys(), ...SECTION_KEYS].join(', ')})`);
    }
  }

  for (const s of SETTINGS) {
    const got = pick(s.name, yaml, configFile) ?? (s.key === 'dataDir' ? systemdStateDir(src.env) : undefined);
    if (!got) {
      values[s.key] = s.fallback();
      origin[s.key] = 'default';
      continue;
    }
    const [raw, from] = got;
    try {
      values[s.key] = s.parse(raw);
    } catch (e) {
      throw new ConfigError(`setting ${s.name} (from ${from}): ${(e as Error).message}`);
    }
    origin[s.key] = from;
  }
  const settings = values as Settings;
  settings.dataDir = resolve(settings.dataDir);
  ensureWritableDir(settings.dataDir, origin.dataDir);
  return { settings, origin, configFile: existsSync(configFile) ? configFile : null, sections };
}

/**
 * systemd's StateDirectory= (the unit's private, persistent directory) as the data directory when
 * nothing else names one. It may list several, separated by colons: the first is Hearth's.
 */
function systemdStateDir(env: NodeJS.ProcessEnv): [string, string] | undefined {
  const first = env.STATE_DIRECTORY?.split(':')[0];
  return first ? [first, 'STATE_DIRECTORY (systemd)'] : undefined;
}

function ensureWritableDir(dir: string, from: string): void {
  try {
    // Private from the start: it holds the tokens, the database and the logs.
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    accessSync(dir, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new ConfigError(`setting data_dir (from ${from}): ${dir} is not a writable directory (${code})`);
  }
}
