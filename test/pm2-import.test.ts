/** PM2 ecosystem files -> agents: the pure mapping, and the CLI's loading of the file. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Command } from 'commander';
import { CliError, type ApiClient } from '../src/cli/api-client.js';
import type { ImportResult } from '../src/hub/agents/import.js';
import { anchorCwd, formatImport, loadEcosystemFile, registerImport } from '../src/cli/commands/import.js';
import { AgentCreate } from '../src/hub/agents/schema.js';
import { FILE_LABEL, durationMs, mapEcosystem as mapWith, sizeBytes, splitArgs, type Pm2ImportOptions } from '../src/hub/agents/pm2-import.js';
import { parse } from '../src/hub/validate.js';
import { tempDir } from './helpers/tmp.js';

/** The mapping on a machine of 8 CPUs (what instances "max" counts), unless told otherwise. */
const mapEcosystem = (doc: unknown, o: Partial<Pm2ImportOptions> = {}) => mapWith(doc, { cpus: 8, ...o });

const ECOSYSTEM = {
  apps: [
    {
      name: 'api',
      script: './dist/server.js',
      cwd: '/srv/api',
      node_args: '--max-old-space-size=256',
      env: { NODE_ENV: 'production', PORT: 3000, DEBUG: false },
      env_production: { NODE_ENV: 'production' },
      max_memory_restart: '200M',
      instances: 1,
      exec_mode: 'fork',
      out_file: './logs/api.out.log',
      error_file: './logs/api.err.log',
      log_date_format: 'YYYY-MM-DD HH:mm Z',
      merge_logs: true,
    },
    {
      name: 'scraper',
      script: 'scrape.py',
      interpreter: '/usr/bin/python3',
      interpreter_args: '-u',
      args: `--city "New York" --tag 'a b' --msg "say \\"hi\\"" plain\\ word`,
      min_uptime: '10s',
      max_restarts: 5,
      restart_delay: 2000,
      watch: true,
    },
    {
      name: 'backup',
      script: './backup.sh',
      args: ['--target', '/mnt/backup', 7],
      autorestart: false,
      kill_timeout: 3000,
      cron_restart: '0 3 * * *',
    },
  ],
  deploy: { production: { user: 'node', host: 'example.com' } },
};

describe('mapEcosystem', () => {
  it('maps a realistic ecosystem of three apps, each a valid AgentCreate', () => {
    const r = mapEcosystem(ECOSYSTEM);
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.unknown_fields, []);
    assert.deepEqual(r.agents, [
      {
        name: 'api',
        command: 'node',
        args: ['--max-old-space-size=256', './dist/server.js'],
        cwd: '/srv/api',
        env: { NODE_ENV: 'production', PORT: '3000', DEBUG: 'false' },
        limits: { memory_mb: 200 },
        stop_signal: 'SIGINT',
        instances: 1,
      },
      {
        name: 'scraper',
        command: '/usr/bin/python3',
        args: ['-u', 'scrape.py', '--city', 'New York', '--tag', 'a b', '--msg', 'say "hi"', 'plain word'],
        // PM2 sets it for a Python interpreter, so that output is not held back.
        env: { PYTHONUNBUFFERED: '1' },
        restart: { max_restarts: 5, min_uptime_s: 10, delay_ms: 2000, backoff: false },
        stop_signal: 'SIGINT',
        // Without ignore_watch PM2 ignores every dot file and folder.
        watch: true,
        watch_ignore: ['.*'],
      },
      {
        name: 'backup',
        command: 'bash',
        args: ['./backup.sh', '--target', '/mnt/backup', '7'],
        restart: { policy: 'never' },
        stop_signal: 'SIGINT',
        stop_timeout_s: 3,
        cron_restart: '0 3 * * *',
      },
    ]);
    for (const a of r.agents) assert.equal(parse(AgentCreate, structuredClone(a)).ok, true, a.name);
    // Reported as ignored, with why; nothing dropped silently. env_production is another environment.
    const ignored = r.ignored_fields.map((f) => `${f.app}.${f.field}`).sort();
    assert.deepEqual(ignored, [`${FILE_LABEL}.deploy`, 'api.error_file', 'api.log_date_format', 'api.merge_logs', 'api.out_file']);
    for (const f of r.ignored_fields) assert.ok(f.why.length > 5, `${f.field} has a why`);
    assert.deepEqual(r.notes, []);
    assert.deepEqual(r.environments, ['production']);
  });

  it('picks the interpreter from the extension, an explicit one, or none', () => {
    const cmd = (app: Record<string, unknown>): [string, string[] | undefined] => {
      const r = mapEcosystem({ name: 'x', ...app });
      assert.deepEqual(r.errors, []);
      return [r.agents[0]!.command, r.agents[0]!.args];
    };
    assert.deepEqual(cmd({ script: 'a.mjs' }), ['node', ['a.mjs']]);
    assert.deepEqual(cmd({ script: 'a.cjs', args: '--x' }), ['node', ['a.cjs', '--x']]);
    assert.deepEqual(cmd({ script: 'job.py' }), ['python3', ['job.py']]);
    assert.deepEqual(cmd({ script: 'run.sh' }), ['bash', ['run.sh']]);
    assert.deepEqual(cmd({ script: '/usr/local/bin/caddy', args: ['run'] }), ['/usr/local/bin/caddy', ['run']]);
    assert.deepEqual(cmd({ script: './bin/server' }), ['./bin/server', undefined]);
    assert.deepEqual(cmd({ script: 'app.ts', interpreter: 'bun' }), ['bun', ['app.ts']]);
    assert.deepEqual(cmd({ script: 'tool.js', exec_interpreter: 'node', node_args: ['--inspect'] }), ['node', ['--inspect', 'tool.js']]);
    // interpreter 'none': the script runs by itself; interpreter arguments have nowhere to go.
    const none = mapEcosystem({ name: 'x', script: './x.js', interpreter: 'none', interpreter_args: '--harmony' });
    assert.equal(none.agents[0]!.command, './x.js');
    assert.equal(none.agents[0]!.args, undefined);
    assert.deepEqual(
      none.ignored_fields.map((f) => f.field),
      ['node_args'],
    );
    // `exec` is PM2's other name for script.
    assert.deepEqual(cmd({ exec: 'w.py' }), ['python3', ['w.py']]);
  });

  it('converts PM2 units: durations, memory sizes, kill_timeout', () => {
    const one = (app: Record<string, unknown>): AgentCreate => {
      const r = mapEcosystem({ name: 'x', script: 'x.js', ...app });
      assert.deepEqual(r.errors, []);
      return r.agents[0]!;
    };
    assert.equal(one({ min_uptime: 1500 }).restart?.min_uptime_s, 1.5);
    assert.equal(one({ min_uptime: '1500' }).restart?.min_uptime_s, 1.5);
    assert.equal(one({ min_uptime: '10s' }).restart?.min_uptime_s, 10);
    assert.equal(one({ min_uptime: '2m' }).restart?.min_uptime_s, 120);
    assert.equal(one({ min_uptime: '1h' }).restart?.min_uptime_s, 3600);
    assert.equal(one({ max_memory_restart: '150M' }).limits?.memory_mb, 150);
    assert.equal(one({ max_memory_restart: '1G' }).limits?.memory_mb, 1024);
    assert.equal(one({ max_memory_restart: '512K' }).limits?.memory_mb, 0.5);
    assert.equal(one({ max_memory_restart: 104_857_600 }).limits?.memory_mb, 100);
    assert.equal(one({ max_memory_restart: '300m' }).limits?.memory_mb, 300);
    assert.equal(one({ kill_timeout: 1600 }).stop_timeout_s, 1.6);
    assert.equal(one({ kill_timeout: '5s' }).stop_timeout_s, 5);
    assert.deepEqual(one({ autorestart: true }).restart, { policy: 'always' });
    assert.deepEqual(one({ stop_exit_codes: [0] }).restart, { policy: 'on-failure' });

    assert.equal(durationMs('250ms'), 250);
    assert.equal(durationMs('ten'), undefined);
    assert.equal(durationMs(-1), undefined);
    assert.equal(sizeBytes('1K'), 1024);
    assert.equal(sizeBytes('1T'), undefined);
    assert.equal(sizeBytes(0), undefined);
  });

  it('maps exp_backoff_restart_delay to a backing-off delay, which wins over restart_delay', () => {
    const r = mapEcosystem({ name: 'x', script: 'x.js', exp_backoff_restart_delay: 100, restart_delay: 5000 });
    assert.deepEqual(r.agents[0]!.restart, { delay_ms: 100, backoff: true });
    assert.deepEqual(r.ignored_fields, [{ app: 'x', field: 'restart_delay', why: 'exp_backoff_restart_delay is also set and wins' }]);
    const plain = mapEcosystem({ name: 'y', script: 'y.js', restart_delay: 0 });
    assert.deepEqual(plain.agents[0]!.restart, { delay_ms: 0, backoff: false });
  });

  it('maps port to env.PORT, over env.PORT as PM2 does', () => {
    assert.deepEqual(mapEcosystem({ name: 'x', script: 'x.js', port: 8080 }).agents[0]!.env, { PORT: '8080' });
    const both = mapEcosystem({ name: 'x', script: 'x.js', port: 8080, env: { PORT: '9090' } });
    assert.deepEqual(both.agents[0]!.env, { PORT: '8080' });
    assert.deepEqual(both.notes, [{ app: 'x', field: 'port', note: 'wins over env.PORT (9090), as in PM2' }]);
  });

  it('reports unknown fields, never dropping them silently, and still imports the app', () => {
    const r = mapEcosystem({ apps: [{ name: 'x', script: 'x.js', colour: 'blue', restartDelay: 5 }], extra: 1 });
    assert.equal(r.agents.length, 1);
    assert.deepEqual(r.unknown_fields, [
      { app: FILE_LABEL, field: 'extra' },
      { app: 'x', field: 'colour' },
      { app: 'x', field: 'restartDelay' },
    ]);
  });

  it('reports wrong types as errors for that app, and imports the others', () => {
    const r = mapEcosystem({
      apps: [
        { script: 42 },
        { name: 'good', script: 'good.js' },
        { name: 'greedy', script: 'g.js', max_restarts: 'many', autorestart: 'yes', min_uptime: 'forever', max_memory_restart: 'lots' },
        { name: 'badenv', script: 'b.js', env: { OK: 'y', 'NOT-A-NAME': 1 } },
        { name: 'noscript' },
        { name: 'quotes', script: 'q.js', args: 'say "unterminated' },
        { name: 'zero', script: 'z.js', max_restarts: 0 },
        { name: 'good', script: 'again.js' },
        'not an app',
      ],
    });
    assert.deepEqual(
      r.agents.map((a) => a.name),
      ['good'],
    );
    const err = (app: string): string => r.errors.find((e) => e.app === app)?.error ?? '(no error)';
    assert.match(err('app #1'), /script: must be a non-empty string, not number 42/);
    assert.match(err('greedy'), /max_restarts: must be a whole number, not string "many"/);
    assert.match(err('greedy'), /autorestart: must be true or false/);
    assert.match(err('greedy'), /min_uptime: must be milliseconds or a duration/);
    assert.match(err('greedy'), /max_memory_restart: must be bytes or a size/);
    assert.match(err('badenv'), /env\.NOT-A-NAME: not a valid variable name/);
    assert.match(err('noscript'), /script: missing/);
    assert.match(err('quotes'), /args: unterminated double quote/);
    // Type-correct but refused by Hearth's own schema: the validation message.
    assert.match(err('zero'), /restart\.max_restarts: must be >= 1/);
    assert.match(r.errors.find((e) => /earlier app/.test(e.error))!.error, /name: "good" is used by an earlier app/);
    assert.match(err('app #9'), /an app must be an object/);
    assert.equal(r.errors.length, 8);
  });

  it('accepts one app object, a bare array, and refuses other shapes', () => {
    const single = mapEcosystem({ name: 'solo', script: 'solo.js' });
    assert.deepEqual(single.agents, [{ name: 'solo', command: 'node', args: ['solo.js'], stop_signal: 'SIGINT' }]);
    const bare = mapEcosystem([
      { name: 'a', script: 'a.js' },
      { name: 'b', script: 'b.py' },
    ]);
    assert.deepEqual(
      bare.agents.map((a) => [a.name, a.command]),
      [
        ['a', 'node'],
        ['b', 'python3'],
      ],
    );
    assert.deepEqual(mapEcosystem({ apps: [] }), { agents: [], unknown_fields: [], ignored_fields: [], notes: [], errors: [], environments: [] });
    assert.match(mapEcosystem('apps').errors[0]!.error, /expected \{ apps: \[\.\.\.\] \}/);
    assert.match(mapEcosystem(null).errors[0]!.error, /not null/);
    assert.match(mapEcosystem({ apps: 3 }).errors[0]!.error, /apps: must be an array/);
  });

  it('does not mistake inherited object keys for PM2 fields', () => {
    const r = mapEcosystem({ name: 'x', script: 'x.js', constructor: 1, toString: 2 });
    assert.deepEqual(
      r.unknown_fields.map((f) => f.field),
      ['constructor', 'toString'],
    );
  });
});

describe('mapEcosystem: what PM2 users bring with them', () => {
  const one = (app: Record<string, unknown>, o: Partial<Pm2ImportOptions> = {}) => {
    const r = mapEcosystem({ name: 'x', script: 'x.js', ...app }, o);
    assert.deepEqual(r.errors, []);
    return { agent: r.agents[0]!, r };
  };
  const error = (app: Record<string, unknown>, o: Partial<Pm2ImportOptions> = {}): string => {
    const r = mapEcosystem({ name: 'x', script: 'x.js', ...app }, o);
    assert.equal(r.agents.length, 0, 'the app is not imported');
    return r.errors[0]!.error;
  };

  it('counts instances as PM2 does: numbers, numeric strings, "max" and 0 (the CPUs), -N (the CPUs less N), at least 1, at most 64', () => {
    const count = (v: unknown, cpus = 8): number | undefined => one({ instances: v, exec_mode: 'fork' }, { cpus }).agent.instances;
    assert.equal(count(3), 3);
    assert.equal(count('2'), 2);
    assert.equal(count('max'), 8);
    assert.equal(count(0), 8);
    assert.equal(count('0', 4), 4);
    assert.equal(count(-1), 7);
    assert.equal(count('-1', 2), 1);
    assert.equal(count(-10, 2), 1);
    assert.equal(count(1), 1);
    assert.equal(count('max', 128), 64);
    const max = one({ instances: 'max' }, { cpus: 6 }).r;
    assert.match(max.notes.find((n) => n.field === 'instances')!.note, /^"max" is 6 on the hub's machine \(6 CPUs\); PM2 counts them at each start$/);
    assert.match(one({ instances: 100 }).r.notes.map((n) => n.note).join('\n'), /100 is more than Hearth runs of one agent: 64/);
    assert.match(error({ instances: 'many' }), /^instances: must be a whole number, a numeric string or "max", not string "many"$/);
    assert.match(error({ instances: 2.5 }), /^instances: must be a whole number/);
  });

  it('accepts cluster mode, saying that the instances are separate processes; refuses other exec modes', () => {
    const cluster = (app: Record<string, unknown>): string[] => one(app).r.notes.filter((n) => n.field === 'exec_mode').map((n) => n.note);
    const note = cluster({ instances: 4, exec_mode: 'cluster' });
    assert.equal(note.length, 1);
    assert.match(note[0]!, /^cluster: Hearth runs 4 separate processes, which do not share one listening socket as PM2's cluster does; give each its own port \(port: true/);
    assert.equal(cluster({ instances: 4, exec_mode: 'cluster_mode' }).length, 1);
    // PM2 runs a node (or bun) app with instances in cluster mode when exec_mode is not given.
    assert.equal(cluster({ instances: 'max' }).length, 1);
    assert.equal(cluster({ script: 'app.ts', instances: 2 }).length, 1);
    assert.equal(cluster({ script: 'bot.py', instances: 2 }).length, 0, 'python: fork mode');
    assert.equal(cluster({ instances: 4, exec_mode: 'fork' }).length, 0);
    assert.equal(cluster({ instances: 1, exec_mode: 'cluster' }).length, 0, 'one process shares nothing');
    assert.deepEqual(one({ exec_mode: 'fork_mode' }).r.notes, []);
    assert.equal(one({ exec_mode: 'cluster' }).agent.instances, undefined);
    assert.match(error({ exec_mode: 'threads' }), /^exec_mode: must be fork or cluster \(or fork_mode, cluster_mode\), not string "threads"$/);
  });

  it('merges env_<name> over env for --env, with deploy.<name>.env under them, as `pm2 start --env` does', () => {
    const doc = {
      apps: [
        { name: 'api', script: 'api.js', port: 3000, env: { NODE_ENV: 'development', A: 'env' }, env_production: { NODE_ENV: 'production', PORT: 80 }, env_staging: { NODE_ENV: 'staging' } },
        { name: 'worker', script: 'w.js', env: { NODE_ENV: 'development' }, env_staging: { NODE_ENV: 'staging' }, append_env_to_name: true },
      ],
      deploy: { production: { host: 'example.com', env: { NODE_ENV: 'deploy', LOG: 'info', A: 'deploy' } } },
    };
    const none = mapEcosystem(doc);
    assert.deepEqual(
      none.agents.map((a) => [a.name, a.env]),
      [
        ['api', { NODE_ENV: 'development', A: 'env', PORT: '3000' }],
        ['worker', { NODE_ENV: 'development' }],
      ],
    );
    assert.deepEqual(none.environments, ['production', 'staging']);
    // Other environments are not fields to report.
    assert.deepEqual([...none.ignored_fields.map((f) => f.field), ...none.unknown_fields.map((f) => f.field), ...none.notes.map((n) => n.field)], ['deploy']);

    const prod = mapEcosystem(doc, { env: 'production' });
    assert.deepEqual(prod.errors, []);
    // deploy.production.env, then env, then port, then env_production.
    assert.deepEqual(prod.agents[0]!.env, { NODE_ENV: 'production', LOG: 'info', A: 'env', PORT: '80' });
    assert.deepEqual(prod.agents[1]!.env, { NODE_ENV: 'development', LOG: 'info', A: 'deploy' });
    assert.equal(prod.agents[1]!.name, 'worker-production', 'append_env_to_name');
    assert.match(prod.ignored_fields.find((f) => f.field === 'deploy')!.why, /deploy\.production\.env is merged under each app's env/);
    // An app without the block: PM2 warns and uses env alone; so does the import.
    assert.deepEqual(prod.notes, [{ app: 'worker', field: 'env_production', note: 'not in this app: its env alone is used (PM2 warns "Environment [production] is not defined" and does the same)' }]);

    const staging = mapEcosystem(doc, { env: 'staging' });
    assert.deepEqual(staging.agents.map((a) => [a.name, a.env?.NODE_ENV]), [['api', 'staging'], ['worker-staging', 'staging']]);
    assert.deepEqual(staging.notes, []);
    assert.match(mapEcosystem({ name: 'x', script: 'x.js', env_production: 'prod' }, { env: 'production' }).errors[0]!.error, /^env_production: must be an object of NAME: value/);
  });

  it('gives environment values as PM2 does: objects as JSON, the rest as text', () => {
    assert.deepEqual(one({ env: { RETRY: { attempts: 3 }, HOSTS: ['a', 'b'], N: 1, B: false, NONE: null } }).agent.env, {
      RETRY: '{"attempts":3}',
      HOSTS: '["a","b"]',
      N: '1',
      B: 'false',
      NONE: 'null',
    });
  });

  it('maps watch, ignore_watch and watch_delay; PM2\'s default ignores become globs, Hearth\'s own are not repeated', () => {
    assert.deepEqual(pick(one({ cwd: '/srv', watch: true }).agent), { watch: true, watch_ignore: ['.*'] });
    assert.deepEqual(pick(one({ cwd: '/srv', watch: [] }).agent), { watch: true, watch_ignore: ['.*'] }, 'PM2 watches the cwd for an empty list');
    assert.deepEqual(pick(one({ cwd: '/srv', watch: 'src' }).agent), { watch: ['src'], watch_ignore: ['.*'] });
    assert.deepEqual(pick(one({ cwd: '/srv', watch: ['src', 'config'], ignore_watch: ['node_modules', '.git', 'logs', '*.log'], watch_delay: 1500 }).agent), {
      watch: ['src', 'config'],
      watch_ignore: ['logs', '*.log'],
      watch_debounce_ms: 1500,
    });
    assert.deepEqual(pick(one({ cwd: '/srv', watch: true, ignore_watch: 'tmp' }).agent), { watch: true, watch_ignore: ['tmp'] });
    assert.deepEqual(pick(one({ cwd: '/srv', watch: true, ignore_watch: ['node_modules'] }).agent), { watch: true });
    // Watch off: its companions mean nothing (Hearth refuses them without watch).
    const off = one({ watch: false, ignore_watch: ['.git'], watch_delay: 1000 });
    assert.deepEqual(pick(off.agent), {});
    assert.deepEqual(
      off.r.ignored_fields.map((f) => [f.field, f.why]),
      [
        ['ignore_watch', 'watch is off'],
        ['watch_delay', 'watch is off'],
      ],
    );
    assert.match(error({ watch: 1 }), /^watch: must be true, false, a path or an array of paths, not number 1$/);
    // A regular expression of a .js file arrives as {} once sent as JSON.
    assert.match(error({ watch: true, ignore_watch: [{}] }), /^ignore_watch: must be a path or an array of paths, not an array \(globs as text; a regular expression cannot be sent\)$/);
  });

  it('maps wait_ready and listen_timeout to the ready signal, and cron_restart', () => {
    const r = one({ wait_ready: true, listen_timeout: 8000, cron_restart: '0 3 * * *' });
    assert.deepEqual([r.agent.ready_signal, r.agent.ready_timeout_s, r.agent.cron_restart], [{ type: 'ipc' }, 8, '0 3 * * *']);
    assert.match(r.r.notes.find((n) => n.field === 'listen_timeout')!.note, /PM2 replaces the old process anyway; Hearth keeps the old one/);
    assert.equal(one({ wait_ready: false }).agent.ready_signal, undefined);
    assert.equal(one({ cron: '*/5 * * * *' }).agent.cron_restart, '*/5 * * * *', 'cron is its other name');
    const zero = one({ cron_restart: 0 });
    assert.equal(zero.agent.cron_restart, undefined);
    assert.deepEqual(zero.r.ignored_fields, [{ app: 'x', field: 'cron_restart', why: '0 means no scheduled restart' }]);
    assert.match(error({ wait_ready: 'yes' }), /^wait_ready: must be true or false/);
  });

  it('leaves ~ and $HOME in paths unexpanded as PM2 does, which fails the app there too, and says so', () => {
    assert.match(error({ cwd: '~/app' }), /^cwd: "~\/app": PM2 expands neither ~ nor \$VARIABLES here/);
    assert.match(error({ script: '$HOME/app/server.js' }), /^script: "\$HOME\/app\/server\.js": PM2 expands neither/);
    assert.match(error({ interpreter: '~/.bun/bin/bun' }), /^interpreter: "~\/\.bun\/bin\/bun"/);
    assert.match(error({ cwd: '/srv', watch: ['${HOME}/conf'] }), /^watch: "\$\{HOME\}\/conf"/);
    // Arguments and environment values reach the program as they are, as under PM2.
    assert.deepEqual(one({ args: '--data ~/data --home $HOME', env: { DATA: '$HOME/data' } }).agent, {
      name: 'x',
      command: 'node',
      args: ['x.js', '--data', '~/data', '--home', '$HOME'],
      env: { DATA: '$HOME/data' },
      stop_signal: 'SIGINT',
    });
  });

  it('runs a script with a space through bash -c, as PM2 does (where the shell expands $HOME)', () => {
    const r = one({ script: '$HOME/bin/backup.sh --all', args: '--ignored', interpreter: 'node' });
    assert.deepEqual([r.agent.command, r.agent.args], ['bash', ['-c', '$HOME/bin/backup.sh --all']]);
    assert.deepEqual(
      r.r.ignored_fields.map((f) => f.field),
      ['args', 'interpreter'],
    );
  });

  it('reads PM2\'s other habits: no name (named after the script), cmd and command, an empty interpreter, null fields, .ts with bun, autostart', () => {
    const named = mapEcosystem({ script: './dist/main.service.js' });
    assert.equal(named.agents[0]!.name, 'main.service');
    assert.deepEqual(named.notes, [{ app: 'app #1', field: 'name', note: 'none given: named "main.service" after its script, as PM2 does' }]);
    assert.deepEqual(one({ script: undefined, cmd: 'hello.py' }).agent.command, 'python3');
    assert.deepEqual(one({ script: undefined, command: 'run.sh' }).agent.args, ['run.sh']);
    assert.deepEqual([one({ script: 'python3', args: '-m jbot', interpreter: '' }).agent.command, one({ script: 'python3', interpreter: '' }).agent.env], ['python3', undefined]);
    assert.deepEqual(one({ interpreter: null, env: null, watch: null }).agent, { name: 'x', command: 'node', args: ['x.js'], stop_signal: 'SIGINT' });
    assert.deepEqual(one({ script: 'src/index.ts' }).agent.command, 'bun');
    assert.equal(one({ autostart: false }).agent.autostart, false);
  });
});

/** The watch fields of an agent. */
function pick(a: AgentCreate): Partial<AgentCreate> {
  const { watch, watch_ignore, watch_debounce_ms } = a;
  return Object.fromEntries(Object.entries({ watch, watch_ignore, watch_debounce_ms }).filter(([, v]) => v !== undefined));
}

describe('the ecosystem files of test/fixtures/pm2, shaped like public projects\' ones', () => {
  const FIXTURES = join(import.meta.dirname, 'fixtures', 'pm2');

  it('ecosystem.json: read as JavaScript as PM2 does (comments, trailing commas); ~ and $HOME refused, a script with spaces through bash -c, no name', async () => {
    const doc = await loadEcosystemFile(join(FIXTURES, 'ecosystem.json'));
    const r = mapEcosystem(doc, { cpus: 4 });
    assert.deepEqual(
      r.agents.map((a) => [a.name, a.command, a.args, a.instances]),
      [
        ['www', 'node', ['./bin/www.js'], 3],
        ['docs', 'bash', ['-c', 'npx serve -s build -l 5000'], undefined],
      ],
    );
    assert.deepEqual(
      r.errors.map((e) => e.app),
      ['home-cwd', 'home-script'],
    );
    assert.deepEqual(
      r.notes.map((n) => `${n.app}.${n.field}`),
      ['app #1.name', 'app #1.instances', 'app #1.exec_mode'],
    );
  });
});

describe('splitArgs', () => {
  it('splits like a shell without running one', () => {
    assert.deepEqual(splitArgs(''), []);
    assert.deepEqual(splitArgs('   '), []);
    assert.deepEqual(splitArgs('-a 13   -b 12'), ['-a', '13', '-b', '12']);
    assert.deepEqual(splitArgs(`'single quoted' "double quoted"`), ['single quoted', 'double quoted']);
    assert.deepEqual(splitArgs(`a'b'"c"d`), ['abcd']);
    assert.deepEqual(splitArgs(`'' ""`), ['', '']);
    assert.deepEqual(splitArgs(`'it'\\''s'`), ["it's"]);
    assert.deepEqual(splitArgs(`"a \\"b\\" \\\\ \\$x \\n"`), ['a "b" \\ $x \\n']);
    assert.deepEqual(splitArgs(`'no \\escapes "here"'`), ['no \\escapes "here"']);
    assert.deepEqual(splitArgs('one\\ word two'), ['one word', 'two']);
    assert.deepEqual(splitArgs('line\\\ncontinued'), ['linecontinued']);
    assert.deepEqual(splitArgs('trailing\\'), ['trailing\\']);
    assert.deepEqual(splitArgs('$HOME ~ *.js; rm -rf / | cat'), ['$HOME', '~', '*.js;', 'rm', '-rf', '/', '|', 'cat']);
    assert.deepEqual(splitArgs('tab\tand\nnewline'), ['tab', 'and', 'newline']);
    assert.throws(() => splitArgs(`'open`), /unterminated single quote/);
    assert.throws(() => splitArgs(`"open`), /unterminated double quote/);
    assert.throws(() => splitArgs(`"ends in escape\\"`), /unterminated double quote/);
  });
});

describe('hearth import pm2: loading the file', () => {
  it('reads .json', async () => {
    const dir = tempDir();
    const file = join(dir, 'ecosystem.json');
    writeFileSync(file, JSON.stringify(ECOSYSTEM));
    assert.deepEqual(await loadEcosystemFile(file), ECOSYSTEM);
  });

  it('evaluates .js (module.exports) and .cjs, and imports .mjs', async () => {
    const dir = tempDir();
    const js = join(dir, 'ecosystem.config.js');
    writeFileSync(js, `const port = 3000;\nmodule.exports = { apps: [{ name: 'api', script: 'server.js', env: { PORT: port } }] };\n`);
    assert.deepEqual(await loadEcosystemFile(js), { apps: [{ name: 'api', script: 'server.js', env: { PORT: 3000 } }] });
    const cjs = join(dir, 'eco.cjs');
    writeFileSync(cjs, `module.exports = [{ name: 'c', script: 'c.sh' }];\n`);
    assert.deepEqual(await loadEcosystemFile(cjs), [{ name: 'c', script: 'c.sh' }]);
    const mjs = join(dir, 'eco.mjs');
    writeFileSync(mjs, `export default { apps: [{ name: 'm', script: 'm.py' }] };\n`);
    assert.deepEqual(await loadEcosystemFile(mjs), { apps: [{ name: 'm', script: 'm.py' }] });
  });

  it('loads a .js ES module from a "type": "module" package', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }');
    const js = join(dir, 'ecosystem.config.js');
    writeFileSync(js, `export default { apps: [{ name: 'esm', script: 'e.js' }] };\n`);
    assert.deepEqual(await loadEcosystemFile(js), { apps: [{ name: 'esm', script: 'e.js' }] });
    const named = join(dir, 'named.js');
    writeFileSync(named, `export const apps = [{ name: 'n', script: 'n.js' }];\n`);
    assert.deepEqual(await loadEcosystemFile(named), { apps: [{ name: 'n', script: 'n.js' }] });
  });

  it('reads .yaml', async () => {
    const dir = tempDir();
    const file = join(dir, 'ecosystem.yml');
    writeFileSync(file, 'apps:\n  - name: y\n    script: y.js\n    max_memory_restart: 100M\n');
    assert.deepEqual(await loadEcosystemFile(file), { apps: [{ name: 'y', script: 'y.js', max_memory_restart: '100M' }] });
  });

  it('says clearly what is wrong with a bad, missing, throwing or unsupported file', async () => {
    const dir = tempDir();
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{ "apps": [ { "name": "x" ] }');
    await assert.rejects(loadEcosystemFile(bad), (e: unknown) => e instanceof CliError && /bad\.json is not valid JSON: /.test(e.message));
    await assert.rejects(
      loadEcosystemFile(join(dir, 'missing.json')),
      (e: unknown) => e instanceof CliError && /cannot read .*missing\.json: no such file/.test(e.message),
    );
    await assert.rejects(
      loadEcosystemFile(join(dir, 'missing.config.js')),
      (e: unknown) => e instanceof CliError && /cannot read .*missing\.config\.js: no such file/.test(e.message),
    );
    const throwing = join(dir, 'throws.js');
    writeFileSync(throwing, `throw new Error('boom');\n`);
    await assert.rejects(loadEcosystemFile(throwing), (e: unknown) => e instanceof CliError && /cannot load .*throws\.js: boom/.test(e.message));
    const syntax = join(dir, 'syntax.cjs');
    writeFileSync(syntax, `module.exports = {;\n`);
    await assert.rejects(loadEcosystemFile(syntax), (e: unknown) => e instanceof CliError && /cannot load .*syntax\.cjs/.test(e.message));
    const txt = join(dir, 'eco.txt');
    writeFileSync(txt, '{}');
    await assert.rejects(loadEcosystemFile(txt), (e: unknown) => e instanceof CliError && /not an ecosystem file/.test(e.message));
  });
});

describe('hearth import pm2: the command', () => {
  it('anchors each app\'s cwd where the command runs, as PM2 does', () => {
    assert.deepEqual(anchorCwd({ apps: [{ name: 'a' }, { name: 'b', cwd: 'sub' }, { name: 'c', cwd: '/abs' }], deploy: {} }, '/home/me'), {
      apps: [
        { name: 'a', cwd: '/home/me' },
        { name: 'b', cwd: '/home/me/sub' },
        { name: 'c', cwd: '/abs' },
      ],
      deploy: {},
    });
    assert.deepEqual(anchorCwd([{ name: 'a', cwd: 7 }], '/x'), [{ name: 'a', cwd: 7 }]);
    assert.deepEqual(anchorCwd({ name: 'solo' }, '/x'), { name: 'solo', cwd: '/x' });
  });

  async function run(answer: ImportResult, file: string): Promise<{ sent: unknown[]; stdout: string; error: unknown }> {
    const sent: unknown[] = [];
    const fake = {
      request: async (method: string, path: string, body: unknown) => {
        sent.push({ method, path, body });
        return answer;
      },
    } as unknown as ApiClient;
    const program = new Command('hearth').exitOverride();
    let stdout = '';
    registerImport(program, () => fake, (t) => (stdout += t));
    let error: unknown;
    try {
      await program.parseAsync(['import', 'pm2', file], { from: 'user' });
    } catch (e) {
      error = e;
    }
    return { sent, stdout, error };
  }

  it('posts the document and prints the answer; exit 1 (CliError) when some apps failed', async () => {
    const dir = tempDir();
    const file = join(dir, 'ecosystem.json');
    writeFileSync(file, JSON.stringify({ apps: [{ name: 'api', script: 'a.js', cwd: '/srv' }] }));
    const ok = await run(
      {
        created: ['api'],
        updated: [],
        unknown_fields: [{ app: 'api', field: 'colour' }],
        ignored_fields: [{ app: 'api', field: 'log_type', why: 'Hearth keeps the output of its agents itself' }],
        notes: [],
        errors: [],
        environments: [],
      },
      file,
    );
    assert.equal(ok.error, undefined);
    assert.deepEqual(ok.sent, [{ method: 'POST', path: '/api/import/pm2', body: { apps: [{ name: 'api', script: 'a.js', cwd: '/srv' }] } }]);
    assert.match(ok.stdout, /^Created +api$/m);
    assert.match(ok.stdout, /^Updated +none$/m);
    assert.match(ok.stdout, /^ +api: log_type \(Hearth keeps the output of its agents itself\)$/m);
    assert.match(ok.stdout, /^Unknown +1 field, not imported:\n +api: colour$/m);

    const failed = await run({ created: [], updated: ['api'], unknown_fields: [], ignored_fields: [], notes: [], errors: [{ app: 'w', error: 'name: missing' }], environments: [] }, file);
    assert.ok(failed.error instanceof CliError);
    assert.match((failed.error as Error).message, /1 app of .*ecosystem\.json not imported/);
    assert.match(failed.stdout, /^Errors +1 app not imported:\n +w: name: missing$/m);

    const unreadable = await run({ created: [], updated: [], unknown_fields: [], ignored_fields: [], notes: [], errors: [], environments: [] }, join(dir, 'nope.json'));
    assert.ok(unreadable.error instanceof CliError);
    assert.deepEqual(unreadable.sent, []);
  });

  it('formats an empty answer', () => {
    assert.equal(formatImport({ created: [], updated: [], unknown_fields: [], ignored_fields: [], notes: [], errors: [], environments: [] }), 'Created  none\nUpdated  none');
  });
});
