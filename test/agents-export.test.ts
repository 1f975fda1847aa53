/**
 * The export (agent/export, `hearth export agents`) and the PM2 import of ecosystem files shaped
 * like public projects' ones, through the real CLI into real hubs: the agents come out as the file
 * meant (instances running, the environment chosen, watch fields), and the export of an import is
 * the import again, as a PM2 ecosystem and as hearth.yaml.
 */
import assert from 'node:assert/strict';
import { chmodSync, cpSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { exportAgents } from '../src/hub/agents/export.js';
import { mapEcosystem } from '../src/hub/agents/pm2-import.js';
import { toEcosystem } from '../src/hub/agents/pm2-export.js';
import type { AgentCreate } from '../src/hub/agents/schema.js';
import { sectionList } from '../src/hub/config/sections.js';
import { AgentCreate as AgentCreateSchema } from '../src/hub/agents/schema.js';
import { api, BASE, cliEnv, runCli, startHub, type HubHandle } from './helpers/hub.js';
import { MqttProbe } from './helpers/mqtt-probe.js';
import { tempDir } from './helpers/tmp.js';
import { until } from './helpers/wait.js';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'pm2');

interface AgentView {
  id: string;
  instances: number;
  instances_running: number;
  instance_states: Array<{ instance: number; pid: number | null; status: string }>;
  definition: Omit<AgentCreate, 'name'>;
}

/** The import of a PM2 file and its export as PM2 again, then the import of that: the same agents. */
function pm2RoundTrip(doc: unknown, env?: string): { first: AgentCreate[]; again: AgentCreate[] } {
  const first = mapEcosystem(doc, { cpus: 4, env });
  assert.deepEqual(first.errors, []);
  const exported = exportAgents(first.agents, { format: 'pm2', withSecrets: true });
  const again = mapEcosystem(JSON.parse(exported.content), { cpus: 4 });
  assert.deepEqual(again.errors, []);
  return { first: first.agents, again: again.agents };
}

describe('the export mapping', () => {
  it('writes every field under PM2\'s name, and lists what PM2 has no name for', () => {
    const { apps, skipped } = toEcosystem([
      {
        name: 'api',
        type: 'server',
        command: 'node',
        args: ['--max-old-space-size=256', 'dist/server.js', '--port', '8080'],
        cwd: '/srv/api',
        env: { NODE_ENV: 'production', MARKED: { value: 'x', secret: true } },
        autostart: false,
        restart: { policy: 'on-failure', max_restarts: 5, min_uptime_s: 1.5, delay_ms: 100, window_s: 30 },
        health_check: { type: 'tcp', port: 8080 },
        limits: { memory_mb: 200, cpu_percent: 50 },
        stop_signal: 'SIGTERM',
        stop_timeout_s: 1.6,
        instances: 4,
        port: true,
        watch: ['dist'],
        watch_ignore: ['*.map'],
        watch_debounce_ms: 500,
        ready_signal: { type: 'ipc' },
        ready_timeout_s: 8,
        cron_restart: '0 3 * * *',
        configuration: { colour: 'blue' },
      },
      { name: 'bot', command: '/usr/bin/python3', args: ['-u', 'bot.py'], restart: { policy: 'never' }, limits: { memory_mb: 0.5 }, ready_signal: { type: 'stdout', contains: 'up' } },
      { name: 'caddy', command: '/usr/local/bin/caddy', args: ['run', '--config', 'Caddyfile'], restart: { backoff: false } },
      { name: 'tool', command: './tool.py', stop_signal: 'SIGINT' },
      { name: 'spaced', command: '/opt/my app/run' },
    ]);
    assert.deepEqual(apps, [
      {
        name: 'api',
        script: 'dist/server.js',
        node_args: ['--max-old-space-size=256'],
        args: ['--port', '8080'],
        cwd: '/srv/api',
        instances: 4,
        exec_mode: 'fork',
        env: { NODE_ENV: 'production', MARKED: 'x' },
        autostart: false,
        stop_exit_codes: [0],
        max_restarts: 5,
        min_uptime: 1500,
        exp_backoff_restart_delay: 100,
        max_memory_restart: '200M',
        kill_timeout: 1600,
        watch: ['dist'],
        ignore_watch: ['node_modules', '.git', '*.map'],
        watch_delay: 500,
        wait_ready: true,
        listen_timeout: 8000,
        cron_restart: '0 3 * * *',
      },
      { name: 'bot', script: 'bot.py', interpreter: '/usr/bin/python3', node_args: ['-u'], autorestart: false, max_memory_restart: 524288 },
      { name: 'caddy', script: '/usr/local/bin/caddy', args: ['run', '--config', 'Caddyfile'], interpreter: 'none', restart_delay: 1000 },
      { name: 'tool', script: './tool.py', interpreter: 'none' },
    ]);
    assert.deepEqual(
      skipped.map((s) => `${s.agent}.${s.field}`),
      [
        'api.env.MARKED',
        'api.restart.window_s',
        'api.limits.cpu_percent',
        'api.stop_signal',
        'api.port',
        'api.health_check',
        'api.type',
        'api.configuration',
        'bot.ready_signal',
        'spaced.command',
      ],
    );
    for (const s of skipped) assert.ok(s.why.length > 10, `${s.agent}.${s.field} says why`);
  });

  it('keeps the program exactly: the argv PM2 runs is the agent\'s', () => {
    for (const [command, args] of [
      ['node', ['--env-file', '.env', 'server.js']],
      ['node', ['-e', "console.log('x.js')"]],
      ['bash', ['-c', 'npm run start']],
      ['python3', ['-m', 'jbot', '--verbose']],
      ['cp', ['a.js', 'b.js']],
      ['bun', ['--smol', 'src/index.ts', '--x']],
      ['npm', []],
    ] as Array<[string, string[]]>) {
      const { again } = pm2RoundTrip({ name: 'x', script: command, args, interpreter: 'none' });
      assert.deepEqual([again[0]!.command, again[0]!.args ?? []], [command, args], `${command} ${args.join(' ')}`);
    }
  });

  it('the PM2 export of an import is the import again, for each fixture and environment', async () => {
    for (const [file, env] of [
      ['node-cluster/ecosystem.config.js', undefined],
      ['node-cluster/ecosystem.config.js', 'production'],
      ['home-lab/ecosystem.config.js', 'production'],
    ] as const) {
      const { createRequire } = await import('node:module');
      const doc: unknown = createRequire(import.meta.url)(join(FIXTURES, file));
      const { first, again } = pm2RoundTrip(doc, env);
      assert.equal(first.length, 2);
      assert.deepEqual(again, first, `${file} --env ${env}`);
    }
  });

  it('hearth.yaml\'s agents list reads back as the same agents; secrets masked unless asked for', () => {
    const agents: AgentCreate[] = [
      { name: 'api', command: 'node', args: ['server.js', 'true', '0755'], env: { API_TOKEN: 's3cret', MODE: '1e3', MARKED: { value: 'v', secret: true } }, instances: 2, watch: true, watch_ignore: ['.*'] },
      { name: 'bot', type: 'bot', command: 'python3', configuration: { room: 'kitchen' } },
    ];
    const full = exportAgents(agents, { format: 'hearth', withSecrets: true });
    assert.equal(full.skipped, undefined);
    const doc = parseYaml(full.content) as { agents: unknown };
    assert.deepEqual(sectionList('agents', AgentCreateSchema, doc.agents, 'hearth.yaml'), agents);
    const masked = exportAgents(agents, { format: 'hearth', withSecrets: false });
    assert.deepEqual((parseYaml(masked.content) as { agents: AgentCreate[] }).agents[0]!.env, { API_TOKEN: '********', MODE: '1e3', MARKED: { value: '********', secret: true } });
    const pm2 = JSON.parse(exportAgents(agents, { format: 'pm2', withSecrets: false }).content) as { apps: Array<{ env?: Record<string, string> }> };
    assert.deepEqual(pm2.apps[0]!.env, { API_TOKEN: '********', MODE: '1e3', MARKED: '********' });
    assert.equal(exportAgents([], { format: 'hearth', withSecrets: false }).content, 'agents: []\n');
  });
});

/** A home the home-lab fixture builds its paths from: the bot's package, a stand-in for the bun binary that records its arguments, the service's folder. */
function homeLab(): string {
  const home = tempDir('hearth-home-');
  mkdirSync(join(home, 'records'));
  mkdirSync(join(home, 'bots', 'jbot'), { recursive: true });
  // `python3 -m jbot`: a namespace package's __main__, which writes no bytecode into the watched folder.
  writeFileSync(
    join(home, 'bots', 'jbot', '__main__.py'),
    [
      'import json, os, sys, time',
      "record = {'argv': sys.argv[1:], 'mode': os.environ.get('BOT_MODE')}",
      "with open(os.path.join(os.getcwd(), '..', 'records', 'jbot.json'), 'w') as f: json.dump(record, f)",
      'time.sleep(3600)',
      '',
    ].join('\n'),
  );
  mkdirSync(join(home, '.bun', 'bin'), { recursive: true });
  const bun = join(home, '.bun', 'bin', 'bun');
  writeFileSync(bun, '#!/bin/sh\nprintf "%s\\n" "$@" "NODE_ENV=$NODE_ENV" > "$(dirname "$0")/../../records/bun-args"\nexec sleep 3600\n');
  chmodSync(bun, 0o755);
  mkdirSync(join(home, 'sensor-service', 'src'), { recursive: true });
  writeFileSync(join(home, 'sensor-service', 'src', 'index.ts'), 'console.log("sensors");\n');
  return home;
}

/** The environment of a running process. */
function environOf(pid: number): Record<string, string> {
  const raw = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
  return Object.fromEntries(raw.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

describe('hearth import pm2 and hearth export agents, through the CLI into real hubs', () => {
  it('imports the fixtures with --env production as PM2 would run them, and the exports give the same agents on fresh hubs', async () => {
    const home = homeLab();
    const out = tempDir();
    const cpuCount = Math.min(cpus().length, 64);
    let hearthExport: string;
    {
      const h = await startHub();
      const env = { ...cliEnv(h), HOME: home };
      const cluster = await runCli(['import', 'pm2', join(FIXTURES, 'node-cluster', 'ecosystem.config.js'), '--env', 'production'], env);
      assert.equal(cluster.code, 0, cluster.stderr);
      assert.match(cluster.stdout, /^Created +api, worker$/m);
      assert.match(cluster.stdout, /^Environment +production$/m);
      assert.match(cluster.stdout, /^ +api: exec_mode: cluster: Hearth runs \d+ separate processes/m);
      assert.match(cluster.stdout, /^ +\(ecosystem file\): deploy \(deployment is not part of Hearth; deploy\.production\.env is merged/m);
      const lab = await runCli(['import', 'pm2', join(FIXTURES, 'home-lab', 'ecosystem.config.js'), '--env', 'production'], env);
      assert.equal(lab.code, 0, lab.stderr);
      assert.match(lab.stdout, /^Created +jbot, sensor_service$/m);

      // api: as many processes as CPUs, each with the production environment and its instance number.
      const apiAgent = await until(`api's ${cpuCount} instances running`, async () => (await h.api<AgentView>('GET', '/api/agents/api')).body, (a) => a.instances_running === cpuCount);
      assert.equal(apiAgent.definition.instances, cpuCount);
      assert.deepEqual(apiAgent.definition.ready_signal, { type: 'ipc' });
      assert.equal(apiAgent.definition.ready_timeout_s, 8);
      const envs = apiAgent.instance_states.map((i) => environOf(i.pid!));
      assert.deepEqual(
        envs.map((e) => [e.NODE_ENV, e.PORT, e.API_TOKEN, e.LOG_LEVEL, e.NODE_APP_INSTANCE]),
        apiAgent.instance_states.map((i) => ['production', '8080', 'prod-token', 'info', String(i.instance)]),
      );
      const worker = await until('worker\'s 2 instances running', async () => (await h.api<AgentView>('GET', '/api/agents/worker')).body, (a) => a.instances_running === 2);
      assert.deepEqual([worker.definition.cron_restart, worker.definition.env], ['0 3 * * *', { LOG_LEVEL: 'info', NODE_ENV: 'production-deploy', QUEUE: 'jobs-prod', RETRY: '{"attempts":3,"backoff":"exponential"}' }]);

      // jbot: python3 -m jbot in its folder, with the production environment, watched.
      const record = await until('jbot to run', () => JSON.parse(readFileSync(join(home, 'records', 'jbot.json'), 'utf8')) as unknown, () => true);
      assert.deepEqual(record, { argv: ['--verbose'], mode: 'live' });
      const jbot = (await h.api<AgentView>('GET', '/api/agents/jbot')).body;
      assert.deepEqual([jbot.definition.command, jbot.definition.cwd, jbot.definition.watch, jbot.definition.watch_ignore, jbot.definition.watch_debounce_ms], [
        'python3',
        join(home, 'bots'),
        ['jbot'],
        ['jbot/__pycache__', '*.log', 'jbot/*.pyc'],
        1500,
      ]);
      // sensor-service: the interpreter under $HOME with its arguments, then the script.
      const args = await until('the bun stand-in to run', () => readFileSync(join(home, 'records', 'bun-args'), 'utf8'), (t) => t.endsWith('\n'));
      assert.equal(args, '--smol\nsrc/index.ts\nNODE_ENV=production\n');
      const sensors = (await h.api<AgentView>('GET', '/api/agents/sensor_service')).body;
      assert.deepEqual([sensors.definition.command, sensors.definition.watch, sensors.definition.watch_ignore, sensors.definition.instances], [join(home, '.bun', 'bin', 'bun'), true, ['.*'], 1]);

      // The exports: PM2 (secrets masked unless asked), hearth.yaml with secrets in a private file.
      const masked = await runCli(['export', 'agents', '--format', 'pm2'], env);
      assert.equal(masked.code, 0, masked.stderr);
      assert.match(masked.stdout, /"API_TOKEN": "\*\*\*\*\*\*\*\*"/);
      const pm2 = await runCli(['export', 'agents', '--format', 'pm2', '--with-secrets', '--output', join(out, 'ecosystem.json')], env);
      assert.equal(pm2.code, 0, pm2.stderr);
      assert.equal(pm2.stdout, '');
      assert.equal(statSync(join(out, 'ecosystem.json')).mode & 0o777, 0o600);
      const yaml = await runCli(['export', 'agents', '--with-secrets', '-o', join(out, 'hearth.yaml')], env);
      assert.equal(yaml.code, 0, yaml.stderr);
      assert.equal(statSync(join(out, 'hearth.yaml')).mode & 0o777, 0o600);
      hearthExport = readFileSync(join(out, 'hearth.yaml'), 'utf8');
      assert.match(hearthExport, /API_TOKEN: prod-token/);
      await h.stop();
    }
    {
      // A fresh hub: the PM2 export imported is the same agents.
      const h = await startHub();
      const env = { ...cliEnv(h), HOME: home };
      const again = await runCli(['import', 'pm2', join(out, 'ecosystem.json')], env);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /^Created +api, worker, jbot, sensor_service$/m);
      const r = await h.api<{ content: string }>('GET', '/api/agents/export?with_secrets=true');
      assert.equal(r.body.content, hearthExport);
      await h.stop();
    }
    {
      // And hearth.yaml as a hub reads it at start.
      const dataDir = tempDir();
      cpSync(join(out, 'hearth.yaml'), join(dataDir, 'hearth.yaml'));
      const h = await startHub({}, dataDir);
      const r = await h.api<{ content: string }>('GET', '/api/agents/export?format=hearth&with_secrets=true');
      assert.equal(r.body.content, hearthExport);
      await h.stop();
    }
  });

  it('says what PM2 cannot say on stderr, and refuses a file it cannot write', async () => {
    const h = await startHub();
    const env = cliEnv(h);
    const made = await h.api('POST', '/api/agents', { name: 'checked', command: 'sleep', args: ['600'], autostart: false, health_check: { type: 'command', command: 'true' } });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const r = await runCli(['export', 'agents', '--format', 'pm2'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { apps: [{ name: 'checked', script: 'sleep', args: ['600'], interpreter: 'none', autostart: false }] });
    assert.equal(r.stderr, 'Left out 1 field PM2 has no name for:\n  checked: health_check (PM2 has no health checks)\n');
    const bad = await runCli(['export', 'agents', '-o', join(tempDir(), 'no', 'such', 'dir.yaml')], env);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^hearth: cannot write .*dir\.yaml: ENOENT/);
    const format = await runCli(['export', 'agents', '--format', 'json'], env);
    assert.equal(format.code, 2);
    assert.match(format.stderr, /argument 'json' is invalid\. Allowed choices are hearth, pm2/);
    await h.stop();
  });
});

describe('agent/export: who may have it', () => {
  const PASSWORD = 'correct horse battery';

  async function signedIn(h: HubHandle, role: string): Promise<string> {
    const made = await h.api('POST', '/api/users', { username: `${role}1`, password: PASSWORD, role });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    return (await api<{ token: string }>(h.http, null, 'POST', '/api/auth/login', { username: `${role}1`, password: PASSWORD })).body.token;
  }

  it('a viewer gets it masked; its secrets only for an admin, refused to others as the table refuses, and audited; never over MQTT', async () => {
    const h = await startHub();
    const made = await h.api('POST', '/api/agents', { name: 'keeper', command: 'sleep', args: ['600'], autostart: false, env: { API_TOKEN: 's3cret' } });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const viewer = await signedIn(h, 'viewer');
    const operator = await signedIn(h, 'operator');

    const seen = await api<{ format: string; content: string }>(h.http, viewer, 'GET', '/api/agents/export?format=pm2');
    assert.equal(seen.status, 200, JSON.stringify(seen.body));
    assert.equal(seen.body.format, 'pm2');
    assert.match(seen.body.content, /"API_TOKEN": "\*\*\*\*\*\*\*\*"/);
    assert.doesNotMatch(seen.body.content, /s3cret/);
    for (const [token, who] of [
      [viewer, 'viewer1 is a viewer'],
      [operator, 'operator1 is an operator'],
    ] as const) {
      const refused = await api<{ error: string }>(h.http, token, 'GET', '/api/agents/export?with_secrets=true');
      assert.equal(refused.status, 403);
      assert.equal(refused.body.error, `agent/export with_secrets needs the admin role; ${who}`);
    }
    const admin = await h.api<{ format: string; content: string }>('GET', '/api/agents/export?with_secrets=true');
    assert.equal(admin.status, 200);
    assert.equal(admin.body.format, 'hearth');
    assert.match(admin.body.content, /API_TOKEN: s3cret/);

    const audit = (await h.api<Array<{ operation: string; outcome: string; username: string }>>('GET', '/api/audit')).body.filter((e) => e.operation === 'agent/export');
    assert.deepEqual(audit.map((e) => [e.username, e.outcome]).sort(), [
      ['admin', 'ok'],
      ['operator1', 'refused'],
      ['viewer1', 'refused'],
    ]);

    const probe = await MqttProbe.connect(h.brokerUrl, [`${BASE}/bridge/response/#`]);
    const mqtt = await probe.ask(BASE, 'agent/export', {});
    await probe.close();
    assert.equal(mqtt.status, 'error');
    assert.match(mqtt.error!, /HTTP/);
    await h.stop();
  });

  it('GET /api/agents/export is the export; no agent may be named "export" (its id would be the route)', async () => {
    const h = await startHub();
    const made = await h.api<{ error: string }>('POST', '/api/agents', { name: 'export', command: 'sleep', args: ['600'], autostart: false });
    assert.equal(made.status, 400);
    assert.match(made.body.error, /name: "export" cannot be used: its id "export" is a word of the API \(\/api\/agents\/export\)/);
    assert.equal((await h.api('POST', '/api/agents', { name: 'exporter', command: 'sleep', args: ['600'], autostart: false })).status, 201);
    const exp = await h.api<{ format: string; content: string }>('GET', '/api/agents/export');
    assert.equal(exp.body.format, 'hearth');
    assert.match(exp.body.content, /name: exporter\n/);
    await h.stop();
  });
});
