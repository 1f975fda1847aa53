/**
 * The Home Assistant add-on (app) as the Supervisor and its linter see it: addon/config.yaml
 * passes the linter (its schema, its no-defaults rule, its rules beyond the schema) and says what
 * Hearth needs; the options' defaults pass their own schema and every option is translated; the
 * Dockerfile builds from a pinned base with a liveness HEALTHCHECK; and no other file in the
 * repository looks like an add-on to the Supervisor.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import Fastify from 'fastify';
import { parse as parseYaml } from 'yaml';
import { livenessRoutes } from '../src/bridges/http/routes/liveness.js';
import { addonLinter } from './helpers/addon-lint.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ADDON = join(ROOT, 'addon');
const RUN = join(ADDON, 'rootfs/etc/services.d/hearth/run');
type Config = Record<string, unknown>;
const readYaml = (file: string): Config => parseYaml(readFileSync(file, 'utf8')) as Config;
const config = readYaml(join(ADDON, 'config.yaml'));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; bin: Record<string, string> };
const dockerfile = readFileSync(join(ADDON, 'Dockerfile'), 'utf8');
const lint = addonLinter();

/**
 * The Supervisor's check of one option against its schema type (supervisor/apps/options.py), for
 * the types this app uses: str, bool, int(min,max), list(a|b), match(regex), lists and mappings.
 * Returns what is wrong, or null.
 */
function optionError(type: unknown, value: unknown, where: string): string | null {
  if (Array.isArray(type)) {
    if (!Array.isArray(value)) return `${where}: not a list`;
    for (const [i, item] of value.entries()) {
      const e = optionError(type[0], item, `${where}.${i}`);
      if (e) return e;
    }
    return null;
  }
  if (typeof type === 'object' && type !== null) {
    if (typeof value !== 'object' || value === null) return `${where}: not a mapping`;
    for (const [k, t] of Object.entries(type)) {
      const e = optionError(t, (value as Config)[k], `${where}.${k}`);
      if (e) return e;
    }
    return null;
  }
  const m = /^(\w+)(?:\((.*)\))?$/.exec(String(type));
  if (!m) return `${where}: unknown type ${String(type)}`;
  const [, kind, arg = ''] = m;
  switch (kind) {
    case 'str':
      return typeof value === 'string' ? null : `${where}: not a string`;
    case 'bool':
      return typeof value === 'boolean' ? null : `${where}: not a boolean`;
    case 'int': {
      const [min, max] = arg.split(',').map((n) => (n === '' ? undefined : Number(n)));
      const ok = Number.isInteger(value) && (min === undefined || (value as number) >= min) && (max === undefined || (value as number) <= max);
      return ok ? null : `${where}: not a whole number in (${arg})`;
    }
    case 'list':
      return arg.split('|').includes(String(value)) ? null : `${where}: not one of ${arg}`;
    case 'match':
      return typeof value === 'string' && new RegExp(`^(?:${arg})$`).test(value) ? null : `${where}: does not match ${arg}`;
    default:
      return `${where}: unknown type ${kind}`;
  }
}

describe('the add-on config.yaml', () => {
  it("passes Home Assistant's add-on linter", () => {
    assert.deepEqual(lint(config), []);
  });

  it('would fail the linter with an arch outside its list, a key at its default, a missing field, a bad service or a watchdog', () => {
    const without = (key: string): Config => Object.fromEntries(Object.entries(config).filter(([k]) => k !== key));
    const cases: Array<[Config, string]> = [
      [{ ...config, arch: ['amd64', 'mips'] }, 'arch.1: must be one of aarch64, amd64, armhf, armv7, i386'],
      [{ ...config, ingress_port: 8099 }, "'ingress_port' should be removed, it uses a default value"],
      [{ ...config, panel_admin: true }, "'panel_admin' should be removed, it uses a default value"],
      [without('slug'), 'config.yaml: missing field "slug"'],
      [{ ...config, services: ['mqtt:maybe'] }, 'services.0: must match pattern "^(?<service>mqtt|mysql):(?<rights>provide|want|need)$"'],
      [{ ...config, watchdog: 'http://[HOST]:[PORT:8099]/api/health/live' }, "'watchdog', is obsolete. Use the native Docker HEALTHCHECK directive instead."],
      [{ ...config, map: ['addon_config:rw', 'config:rw'] }, "'map' contains both the 'config' and 'addon_config' folder, which are conflicting."],
      [{ ...config, ingress_entry_point: '/' }, 'config.yaml: unknown field "ingress_entry_point"'],
    ];
    for (const [bad, error] of cases) assert.ok(lint(bad).includes(error), `expected "${error}" in ${JSON.stringify(lint(bad))}`);
  });

  it("declares what Hearth needs: the package's version, ingress on 8099, MQTT, the Home Assistant API, serial and USB devices, folders, the broker port off", () => {
    assert.equal(config.version, pkg.version, 'config.yaml version must be package.json version (the Dockerfile installs that package version)');
    assert.equal(config.slug, 'hearth');
    for (const key of ['name', 'description', 'panel_icon', 'panel_title']) assert.equal(typeof config[key], 'string', key);
    // Home Assistant supports only these two since 2025.12.
    assert.deepEqual([...(config.arch as string[])].sort(), ['aarch64', 'amd64']);
    assert.equal(config.ingress, true);
    assert.ok(!('ingress_port' in config), 'the hub listens on 8099, the default ingress port');
    assert.ok((config.services as string[]).includes('mqtt:want'));
    assert.equal(config.homeassistant_api, true);
    assert.equal(config.uart, true);
    assert.equal(config.usb, true);
    assert.deepEqual([...(config.map as string[])].sort(), ['addon_config:rw', 'share:rw']);
    assert.deepEqual(config.ports, { '1883/tcp': null }, 'the embedded broker port, off until the user maps it');
    assert.equal(typeof (config.ports_description as Config)['1883/tcp'], 'string');
    assert.ok(!('watchdog' in config));
  });

  it('gives every option a default its schema accepts, refuses what the hub would refuse, and translates it', () => {
    const options = config.options as Config;
    const schema = config.schema as Config;
    assert.deepEqual(Object.keys(options).sort(), Object.keys(schema).sort());
    for (const [key, value] of Object.entries(options)) assert.equal(optionError(schema[key], value, key), null);

    const refused: Array<[string, unknown]> = [
      ['log_level', 'verbose'],
      ['mqtt_broker', 'mosquitto'],
      ['metrics_interval', 0],
      ['base_topic', 'home/#'],
      ['base_topic', '/hearth'],
      ['base_topic', 'hearth/'],
      ['ingress_roles', [{ user: 'olga,kim', role: 'admin' }]],
      ['ingress_roles', [{ user: 'olga', role: 'owner' }]],
    ];
    for (const [key, value] of refused) assert.notEqual(optionError(schema[key], value, key), null, `${key}: ${JSON.stringify(value)} should be refused`);
    assert.equal(optionError(schema.ingress_roles, [{ user: 'kid room', role: 'viewer' }, { user: '*', role: 'operator' }], 'ingress_roles'), null);

    const en = readYaml(join(ADDON, 'translations/en.yaml')) as { configuration: Record<string, { name?: string; description?: string; fields?: Record<string, { name?: string }> }>; network: Config };
    for (const key of Object.keys(schema)) {
      assert.ok(en.configuration[key]?.name && en.configuration[key]?.description, `translations/en.yaml: ${key}`);
    }
    for (const field of Object.keys((schema.ingress_roles as Config[])[0]!)) assert.ok(en.configuration.ingress_roles?.fields?.[field]?.name, field);
    assert.deepEqual(Object.keys(en.network), Object.keys(config.ports as Config));
  });
});

describe('the add-on store page', () => {
  it('has a square icon.png (128x128) and a logo.png about 250x100, both real PNGs', () => {
    const size = (file: string): [number, number] => {
      const png = readFileSync(join(ADDON, file));
      assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], `${file}: PNG signature`);
      assert.equal(png.toString('latin1', 12, 16), 'IHDR', `${file}: IHDR first`);
      return [png.readUInt32BE(16), png.readUInt32BE(20)];
    };
    assert.deepEqual(size('icon.png'), [128, 128]);
    assert.deepEqual(size('logo.png'), [250, 100]);
    for (const doc of ['README.md', 'DOCS.md', 'CHANGELOG.md']) assert.ok(readFileSync(join(ADDON, doc), 'utf8').trim() !== '', doc);
    assert.match(readFileSync(join(ADDON, 'CHANGELOG.md'), 'utf8'), new RegExp(`^## ${pkg.version.replaceAll('.', '\\.')}\\b`, 'm'), 'CHANGELOG.md names this version');
  });
});

describe('the add-on image', () => {
  it('builds from a pinned Home Assistant base image, without build.yaml', () => {
    for (const ext of ['yaml', 'yml', 'json']) assert.ok(!existsSync(join(ADDON, `build.${ext}`)), `build.${ext} is deprecated`);
    const instructions = dockerfile.split('\n').filter((l) => /^[A-Z]+ /.test(l));
    assert.match(instructions[0] ?? '', /^ARG BUILD_FROM=ghcr\.io\/home-assistant\/base:[0-9][\w.-]*$/, 'first line: ARG BUILD_FROM=<pinned base image>');
    const froms = instructions.filter((l) => l.startsWith('FROM '));
    assert.ok(froms.length > 0 && froms.every((l) => /^FROM \$\{BUILD_FROM\}( AS \w+)?$/.test(l)), froms.join('\n'));
  });

  it("installs the package at the app's version where the run script starts it", () => {
    assert.match(dockerfile, new RegExp(`"${pkg.name}@\\$\\{BUILD_VERSION\\}"`));
    const prefix = /--prefix (\S+)/.exec(dockerfile)?.[1];
    const runScript = readFileSync(RUN, 'utf8');
    assert.ok(runScript.includes(`readonly HEARTH_APP=${prefix}/lib/node_modules/${pkg.name}\n`), `the run script must start ${prefix}/lib/node_modules/${pkg.name}`);
    assert.ok(runScript.includes('exec node "${HEARTH_APP}/' + pkg.bin.hearth + '"'), 'the run script starts the package bin');
    for (const script of ['run', 'finish']) accessSync(join(ADDON, 'rootfs/etc/services.d/hearth', script), constants.X_OK);
    assert.ok(runScript.startsWith('#!/usr/bin/with-contenv bashio\n'));
  });

  it("checks health on the hub's liveness route, on the port the run script gives the hub", async () => {
    const url = /^HEALTHCHECK [^\n]*(?:\\\n[^\n]*)*?(http:\/\/127\.0\.0\.1:\d+\/\S+)/m.exec(dockerfile)?.[1];
    assert.ok(url, 'HEALTHCHECK with an http URL');
    const { port, pathname } = new URL(url);
    assert.ok(readFileSync(RUN, 'utf8').includes(`export HEARTH_HTTP_PORT=${port}\n`), `the hub must listen on ${port}`);
    const app = Fastify();
    await app.register(livenessRoutes);
    const r = await app.inject({ method: 'GET', url: pathname });
    await app.close();
    assert.deepEqual([r.statusCode, r.json()], [200, { alive: true }]);
  });
});

describe('the repository', () => {
  it('holds no other file the Supervisor would read as an add-on (config.yaml, .yml or .json)', () => {
    // The Supervisor globs **/config.{yaml,yml,json}, skipping dot folders and rootfs (store/data.py).
    const looksLikeAddon = (path: string): boolean => {
      const parts = path.split('/');
      return /^config\.(ya?ml|json)$/.test(parts.at(-1)!) && !parts.some((p) => p.startsWith('.') || p === 'rootfs');
    };
    const tracked = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter((p) => p !== '');
    const tree: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.name === 'node_modules' || e.name === '.git') continue;
        if (e.isDirectory()) walk(join(dir, e.name));
        else tree.push(relative(ROOT, join(dir, e.name)));
      }
    };
    walk(ROOT);
    assert.deepEqual([...new Set([...tracked, ...tree].filter(looksLikeAddon))].sort(), ['addon/config.yaml']);
    assert.ok(existsSync(join(ROOT, 'repository.yaml')), 'repository.yaml makes the repository an add-on repository');
    assert.equal(typeof readYaml(join(ROOT, 'repository.yaml')).name, 'string');
  });
});
