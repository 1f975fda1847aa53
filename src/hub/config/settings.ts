/** The hub's settings: one table drives flags, environment, hearth.yaml keys and validation. */
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { redactUrl } from '../url-secrets.js';
import { ROLES, type Role } from '../users/types.js';
import { LOG_LEVELS, type LogLevel } from './types.js';

export interface Settings {
  dataDir: string;
  nodeId: string;
  mqttUrl: string;
  mqttUsername: string;
  mqttPassword: string;
  brokerPort: number;
  brokerHost: string;
  brokerUsername: string;
  brokerPassword: string;
  /** Lets clients in without credentials (as operators); warned about at every start. */
  brokerAnonymous: boolean;
  httpPort: number;
  httpHost: string;
  baseTopic: string;
  discoveryPrefix: string;
  databaseUrl: string;
  adminToken: string;
  haUrl: string;
  haToken: string;
  /** Trust Home Assistant ingress headers (the add-on turns it on): the user the Supervisor's proxy names. */
  ingress: boolean;
  /** The only address ingress requests come from (the Supervisor's proxy). */
  ingressProxy: string;
  /** The Hearth role of each Home Assistant user who opens the panel through ingress ("*" for the rest). */
  ingressRoles: Record<string, Role>;
  metricsInterval: number;
  /** Virtual network interfaces (docker0, veth…) counted in the network rate all the same. */
  metricsInterfaces: string[];
  metricsRetentionDays: number;
  agentLogMaxMb: number;
  agentLogFiles: number;
  /** Where `port: true` agents (and apps) get their PORT from, both ends included. */
  portRange: PortRange;
  logLevel: LogLevel;
  /** How the hub's log is written: pretty lines on a terminal, JSON lines otherwise (auto). */
  logFormat: LogFormat;
}

export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface PortRange {
  first: number;
  last: number;
}

type Parser<T> = (raw: string) => T;

/** Throws a message that says what is wrong with the value; the loader adds which setting. */
const text: Parser<string> = (raw) => raw;

const port: Parser<number> = (raw) => {
  if (!/^\d+$/.test(raw) || Number(raw) > 65535) throw new Error(`"${raw}" is not a port number (0-65535)`);
  return Number(raw);
};

const positive: Parser<number> = (raw) => {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n <= 0) throw new Error(`"${raw}" is not a positive number`);
  return n;
};

const count: Parser<number> = (raw) => {
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > 1000) throw new Error(`"${raw}" is not a whole number from 1 to 1000`);
  return Number(raw);
};

const bool: Parser<boolean> = (raw) => {
  const v = raw.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off', ''].includes(v)) return false;
  throw new Error(`"${raw}" is not true or false`);
};

/** A comma-separated list of names. */
const names: Parser<string[]> = (raw) => raw.split(',').map((n) => n.trim()).filter((n) => n !== '');

/** Below 1024 a port needs root; the hub hands ports to programs that may not run as root. */
const portRange: Parser<PortRange> = (raw) => {
  const m = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(raw);
  if (!m) throw new Error(`"${raw}" is not a port range (first-last, like 8100-8999)`);
  const [first, last] = [Number(m[1]), Number(m[2])];
  if (first < 1024 || last > 65535) throw new Error(`"${raw}": ports must be from 1024 to 65535`);
  if (first > last) throw new Error(`"${raw}": the first port must not be above the last`);
  return { first, last };
};

const ipAddress: Parser<string> = (raw) => {
  if (isIP(raw.trim()) === 0) throw new Error(`"${raw}" is not an IP address`);
  return raw.trim();
};

/**
 * "name=role" pairs, comma-separated ("olga=viewer, *=operator"); everyone else is admin. Names
 * are Home Assistant user names, which it keeps in lower case: a name is matched in lower case, so
 * "Olga=viewer" cannot leave olga an admin.
 */
const roleMap: Parser<Record<string, Role>> = (raw) => {
  const pairs: Array<[string, Role]> = [['*', 'admin']];
  for (const pair of names(raw)) {
    const m = /^([^=]+)=([^=]+)$/.exec(pair);
    const role = m ? ROLES.find((r) => r === m[2]!.trim()) : undefined;
    if (!m || !role) throw new Error(`"${pair}" is not name=role (role: ${ROLES.join(', ')})`);
    pairs.push([m[1]!.trim().toLowerCase(), role]);
  }
  // Own properties, whatever the names ("__proto__" included).
  return Object.fromEntries(pairs);
};

const logLevel: Parser<LogLevel> = (raw) => {
  const level = LOG_LEVELS.find((l) => l === raw.toLowerCase());
  if (!level) throw new Error(`"${raw}" is not a log level (${LOG_LEVELS.join(', ')})`);
  return level;
};

const logFormat: Parser<LogFormat> = (raw) => {
  const format = LOG_FORMATS.find((f) => f === raw.toLowerCase());
  if (!format) throw new Error(`"${raw}" is not a log format (${LOG_FORMATS.join(', ')})`);
  return format;
};

const slug: Parser<string> = (raw) => {
  // Home Assistant refuses entity ids with a double or trailing underscore.
  if (!/^[a-z0-9]+(_[a-z0-9]+)*$/.test(raw)) throw new Error(`"${raw}" must be lower-case letters and digits, words joined by single _`);
  return raw;
};

const topicLevels: Parser<string> = (raw) => {
  if (raw === '' || /[+#\0]/.test(raw) || raw.startsWith('/') || raw.endsWith('/')) {
    throw new Error(`"${raw}" is not a topic prefix (no wildcards, no leading or trailing /)`);
  }
  return raw;
};

const urlOf = (schemes: string[]): Parser<string> => (raw) => {
  if (raw === '') return raw;
  let scheme: string;
  try {
    scheme = new URL(raw).protocol.replace(/:$/, '');
  } catch {
    throw new Error(`"${redactUrl(raw)}" is not a URL`);
  }
  if (!schemes.includes(scheme)) throw new Error(`"${redactUrl(raw)}" must start with ${schemes.map((s) => s + '://').join(' or ')}`);
  return raw;
};

export function slugify(name: string): string {
  const s = name.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '');
  return s === '' ? 'hearth' : s;
}

interface SettingSpec<K extends keyof Settings> {
  key: K;
  /** hearth.yaml key and the base of the env name (HEARTH_ + upper case). */
  name: string;
  flag?: string;
  env?: string;
  secret?: boolean;
  parse: Parser<Settings[K]>;
  fallback: () => Settings[K];
}

type AnySpec = { [K in keyof Settings]: SettingSpec<K> }[keyof Settings];

function spec<K extends keyof Settings>(s: SettingSpec<K>): AnySpec {
  return s as unknown as AnySpec;
}

export const SETTINGS: AnySpec[] = [
  spec({ key: 'dataDir', name: 'data_dir', flag: '--data-dir', parse: text, fallback: () => './data' }),
  spec({ key: 'nodeId', name: 'node_id', flag: '--node-id', parse: slug, fallback: () => slugify(hostname()) }),
  spec({ key: 'mqttUrl', name: 'mqtt_url', flag: '--mqtt-url', parse: urlOf(['mqtt', 'mqtts', 'ws', 'wss']), fallback: () => '' }),
  spec({ key: 'mqttUsername', name: 'mqtt_username', parse: text, fallback: () => '' }),
  spec({ key: 'mqttPassword', name: 'mqtt_password', secret: true, parse: text, fallback: () => '' }),
  spec({ key: 'brokerPort', name: 'broker_port', flag: '--broker-port', parse: port, fallback: () => 1883 }),
  spec({ key: 'brokerHost', name: 'broker_host', parse: text, fallback: () => '0.0.0.0' }),
  spec({ key: 'brokerUsername', name: 'broker_username', parse: text, fallback: () => '' }),
  spec({ key: 'brokerPassword', name: 'broker_password', secret: true, parse: text, fallback: () => '' }),
  spec({ key: 'brokerAnonymous', name: 'broker_anonymous', parse: bool, fallback: () => false }),
  spec({ key: 'httpPort', name: 'http_port', flag: '--http-port', parse: port, fallback: () => 8099 }),
  spec({ key: 'httpHost', name: 'http_host', flag: '--http-host', parse: text, fallback: () => '0.0.0.0' }),
  spec({ key: 'baseTopic', name: 'base_topic', flag: '--base-topic', parse: topicLevels, fallback: () => 'hearth' }),
  spec({ key: 'discoveryPrefix', name: 'discovery_prefix', parse: topicLevels, fallback: () => 'homeassistant' }),
  spec({ key: 'databaseUrl', name: 'database_url', secret: true, parse: urlOf(['postgres', 'postgresql']), fallback: () => '' }),
  spec({ key: 'adminToken', name: 'admin_token', secret: true, parse: text, fallback: () => '' }),
  spec({ key: 'haUrl', name: 'ha_url', parse: urlOf(['ws', 'wss', 'http', 'https']), fallback: () => '' }),
  spec({ key: 'haToken', name: 'ha_token', secret: true, parse: text, fallback: () => '' }),
  spec({ key: 'ingress', name: 'ingress', parse: bool, fallback: () => false }),
  spec({ key: 'ingressProxy', name: 'ingress_proxy', parse: ipAddress, fallback: () => '172.30.32.2' }),
  spec({ key: 'ingressRoles', name: 'ingress_roles', parse: roleMap, fallback: () => ({ '*': 'admin' }) }),
  spec({ key: 'metricsInterval', name: 'metrics_interval', parse: positive, fallback: () => 10 }),
  spec({ key: 'metricsInterfaces', name: 'metrics_interfaces', parse: names, fallback: () => [] }),
  spec({ key: 'metricsRetentionDays', name: 'metrics_retention_days', parse: positive, fallback: () => 7 }),
  spec({ key: 'agentLogMaxMb', name: 'agent_log_max_mb', parse: positive, fallback: () => 10 }),
  spec({ key: 'agentLogFiles', name: 'agent_log_files', parse: count, fallback: () => 5 }),
  spec({ key: 'portRange', name: 'port_range', flag: '--port-range', parse: portRange, fallback: () => ({ first: 8100, last: 8999 }) }),
  spec({ key: 'logLevel', name: 'log_level', flag: '--log-level', parse: logLevel, fallback: () => 'info' }),
  spec({ key: 'logFormat', name: 'log_format', parse: logFormat, fallback: () => 'auto' }),
];

export const envName = (s: AnySpec): string => s.env ?? `HEARTH_${s.name.toUpperCase()}`;
