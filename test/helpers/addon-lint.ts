/**
 * Home Assistant's add-on (app) linter, frenck/action-addon-linter's src/lint.py, in TypeScript:
 * its JSON schema (test/fixtures/addon/config.schema.json), its "a key at its default value should
 * be removed", and its errors beyond the schema. Its warnings (deprecated architectures,
 * full_access, advanced, a map of `config`) fail nothing there, so nothing here either.
 */
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { describeError } from '../../src/hub/validate.js';

const addFormats = addFormatsModule as unknown as (a: Ajv) => void;

type Config = Record<string, unknown>;
interface Schema {
  properties?: Record<string, Schema & { default?: unknown }>;
  items?: Schema;
}

const SCHEMA_FILE = new URL('../fixtures/addon/config.schema.json', import.meta.url);

/** The linter's schema, its Python named groups (`(?P<service>`) written as JavaScript's. */
export function linterSchema(): Schema {
  return JSON.parse(readFileSync(SCHEMA_FILE, 'utf8').replaceAll('(?P<', '(?<')) as Schema;
}

/** jsonschema, extended by the linter: every `properties` also refuses a value equal to its default. */
function defaultsUsed(schema: Schema, value: unknown, out: string[]): void {
  if (Array.isArray(value)) {
    if (schema.items) for (const item of value) defaultsUsed(schema.items, item, out);
    return;
  }
  if (typeof value !== 'object' || value === null || !schema.properties) return;
  for (const [key, sub] of Object.entries(schema.properties)) {
    const field = (value as Config)[key];
    if ('default' in sub && isDeepStrictEqual(field, sub.default)) out.push(`'${key}' should be removed, it uses a default value`);
    if (field !== undefined) defaultsUsed(sub, field, out);
  }
}

const mapsFolder = (map: unknown, folder: string): boolean => Array.isArray(map) && [folder, `${folder}:rw`, `${folder}:ro`].some((m) => map.includes(m));

/** The rules lint.py checks after the schema (errors only). */
function beyondSchema(c: Config): string[] {
  const out: string[] = [];
  if (c.ingress) {
    if (c.webui) out.push("'webui' should be removed, Ingress is enabled.");
    if (!c.host_network && c.ingress_port === 0) out.push("'ingress_port' this does not run on the host network. In Ingress port doesn't have to be randomized (not 0).");
  }
  if (c.full_access && ['devices', 'gpio', 'uart', 'usb'].some((k) => k in c)) out.push("'full_access', don't add 'devices', 'uart', 'usb' or 'gpio' this is not needed");
  if ('auto_uart' in c) out.push("'auto_uart' is deprecated, use 'uart' instead.");
  if (Array.isArray(c.devices) && c.devices.some((d) => String(d).includes(':'))) out.push("'devices' uses a deprecated format, the new format uses a list of paths only.");
  if ('tmpfs' in c && typeof c.tmpfs !== 'boolean') out.push("'tmpfs' use a deprecated format, it is a boolean now.");
  if (c.backup === 'cold') for (const k of ['backup_pre', 'backup_post']) if (k in c) out.push(`'${k}' is not valid when using cold backups.`);
  if (c.watchdog) out.push("'watchdog', is obsolete. Use the native Docker HEALTHCHECK directive instead.");
  if ('codenotary' in c) out.push("'codenotary' is deprecated and no longer used. Please remove this field.");
  if (mapsFolder(c.map, 'config') && mapsFolder(c.map, 'homeassistant_config')) out.push("'map' contains both the 'config' and 'homeassistant_config' folder, which are conflicting.");
  if (mapsFolder(c.map, 'config') && mapsFolder(c.map, 'addon_config')) out.push("'map' contains both the 'config' and 'addon_config' folder, which are conflicting.");
  return out;
}

/** A linter for config.yaml documents: the list of its errors, empty when it passes. */
export function addonLinter(): (config: Config) => string[] {
  const ajv = new Ajv({ allErrors: true, allowUnionTypes: true });
  addFormats(ajv);
  const schema = linterSchema();
  const check = ajv.compile(schema);
  return (config) => {
    const out = check(config) ? [] : (check.errors ?? []).map((e) => describeError(e, 'config.yaml'));
    defaultsUsed(schema, config, out);
    return [...out, ...beyondSchema(config)];
  };
}
