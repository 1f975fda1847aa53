/** `hearth agent …` and `hearth import pm2` against a real hub: each command, its effect, and bad input. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cliEnv, runCli, spawnCli, startHub, type HubHandle } from './helpers/hub.js';
import { tempDir } from './helpers/tmp.js';
import { until } from './helpers/wait.js';

interface Agent {
  id: string;
  status: string;
  pid: number | null;
  definition: { command: string; args: string[]; cwd?: string; env?: Record<string, unknown>; restart?: { policy: string }; stop_signal?: string; autostart?: boolean };
}

// Says hello, then one line per SIGUSR1: a new line exactly when the test asks for one.
const TALKER = "console.log('hello'); console.error('oops'); let n = 0; process.on('SIGUSR1', () => console.log('poked ' + ++n)); setInterval(() => {}, 1e9);";

describe('hearth agent and import pm2', () => {
  let h: HubHandle;
  let env: Record<string, string>;
  let n = 0;
  before(async () => {
    h = await startHub();
    env = cliEnv(h);
  });
  after(() => h.stop());

  const cli = (...args: string[]) => runCli(args, env);
  const get = async (id: string): Promise<Agent> => (await h.api<Agent>('GET', `/api/agents/${id}`)).body;
  const running = (id: string, not?: number | null): Promise<Agent> =>
    until(`agent ${id} running`, () => get(id), (a) => a.status === 'running' && (a.pid ?? 0) > 0 && a.pid !== not);
  /** A talker created through the CLI, started or not. */
  const talker = async (start: boolean): Promise<string> => {
    const name = `Talker ${++n}`;
    const r = await cli('agent', 'create', name, process.execPath, ...(start ? [] : ['--no-autostart']), '--', '-e', TALKER);
    assert.equal(r.code, 0, r.stderr);
    const id = `talker_${n}`;
    if (start) await running(id);
    return id;
  };

  it('create (options, -- before dash arguments), list, list --json, show', async () => {
    const dir = tempDir();
    const r = await cli('agent', 'create', 'Solar Reader', 'sleep', '--cwd', dir, '--env', 'PORT=8080', '--env', 'API_TOKEN=s3cret', '--restart', 'on-failure', '--no-autostart', '--', '600');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'created agent solar_reader (stopped)\n');
    const a = await get('solar_reader');
    assert.deepEqual([a.status, a.definition.command, a.definition.args, a.definition.cwd, a.definition.restart], ['stopped', 'sleep', ['600'], dir, { policy: 'on-failure' }]);
    assert.deepEqual(a.definition.env, { PORT: '8080', API_TOKEN: '********' });

    const [list, json, show] = await Promise.all([cli('agent', 'list'), cli('agent', 'list', '--json'), cli('agent', 'show', 'solar_reader')]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^ID +STATUS +INSTANCES +PID +CPU +MEMORY +RESTARTS +HEALTH$/m);
    assert.match(list.stdout, /^solar_reader +stopped +0\/1 +- +- +- +0 +0$/m);
    assert.ok((JSON.parse(json.stdout) as Agent[]).some((x) => x.id === 'solar_reader'));
    assert.equal(show.code, 0, show.stderr);
    assert.deepEqual((JSON.parse(show.stdout) as Agent).definition.args, ['600']);
  });

  it('start, restart and stop change what runs', async () => {
    const id = await talker(false);
    const start = await cli('agent', 'start', id);
    assert.equal(start.code, 0, start.stderr);
    assert.match(start.stdout, new RegExp(`^${id}: (starting|running)\\n$`));
    const first = await running(id);
    const again = await cli('agent', 'start', id);
    assert.equal(again.code, 1, 'starting a running agent is refused');
    assert.match(again.stderr, /409/);
    const restart = await cli('agent', 'restart', id);
    assert.equal(restart.code, 0, restart.stderr);
    await running(id, first.pid);
    const stop = await cli('agent', 'stop', id);
    assert.equal(stop.code, 0, stop.stderr);
    assert.match(stop.stdout, new RegExp(`^${id}: (stopping|stopped)\\n$`));
    await until(`agent ${id} stopped`, () => get(id), (a) => a.status === 'stopped' && a.pid === null);
  });

  it('update changes fields and says so; bad JSON is refused', async () => {
    const id = await talker(false);
    const r = await cli('agent', 'update', id, '{"stop_timeout_s": 3, "type": "bot"}');
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as Agent & { type: string }).type, 'bot');
    assert.equal(((await get(id)) as Agent & { definition: { stop_timeout_s: number } }).definition.stop_timeout_s, 3);
    const bad = await cli('agent', 'update', id, '{stop_timeout_s: 3}');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^hearth: not JSON: /);
    const invalid = await cli('agent', 'update', id, '{"restart": {"policy": "sometimes"}}');
    assert.equal(invalid.code, 1);
    assert.match(invalid.stderr, /PUT \/api\/agents\/talker_\d+: 400 .*restart\.policy/);
  });

  it('delete stops and removes it; a second delete says it is gone', async () => {
    const id = await talker(true);
    const pid = (await get(id)).pid!;
    const r = await cli('agent', 'delete', id);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `deleted agent ${id}\n`);
    assert.equal((await h.api('GET', `/api/agents/${id}`)).status, 404);
    assert.throws(() => process.kill(pid, 0), /ESRCH/, 'its process is gone');
    const again = await cli('agent', 'delete', id);
    assert.equal(again.code, 1);
    assert.match(again.stderr, new RegExp(`DELETE /api/agents/${id}: 404`));
  });

  it('logs: the last lines of a stream, -n, --stream stderr', async () => {
    const id = await talker(true);
    await until('the hello in its log', async () => (await h.api<{ lines: string[] }>('GET', `/api/agents/${id}/logs?stream=stdout`)).body.lines, (l) => l.includes('hello'));
    process.kill((await get(id)).pid!, 'SIGUSR1');
    await until('the poke in its log', async () => (await h.api<{ lines: string[] }>('GET', `/api/agents/${id}/logs?stream=stdout`)).body.lines, (l) => l.includes('poked 1'));
    await until('the stderr line', async () => (await h.api<{ lines: string[] }>('GET', `/api/agents/${id}/logs?stream=stderr`)).body.lines, (l) => l.includes('oops'));
    const [all, last, err, bad] = await Promise.all([cli('agent', 'logs', id), cli('agent', 'logs', id, '-n', '1'), cli('agent', 'logs', id, '--stream', 'stderr'), cli('agent', 'logs', id, '-n', '0')]);
    assert.equal(all.stdout, 'hello\npoked 1\n');
    assert.equal(last.stdout, 'poked 1\n');
    assert.equal(err.stdout, 'oops\n');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--tail 0: a whole number of lines, 1 or more/);
  });

  it('logs -f prints the tail, then each new line as it comes, until Ctrl-C', async () => {
    const id = await talker(true);
    const pid = (await get(id)).pid!;
    await until('the hello in its log', async () => (await h.api<{ lines: string[] }>('GET', `/api/agents/${id}/logs?stream=stdout`)).body.lines, (l) => l.includes('hello'));
    const f = spawnCli(['agent', 'logs', id, '-f', '--stream', 'stdout'], env);
    await until('the tail printed', f.out, (o) => o === 'hello\n');
    process.kill(pid, 'SIGUSR1');
    await until('the first new line followed', f.out, (o) => o === 'hello\npoked 1\n');
    process.kill(pid, 'SIGUSR1');
    await until('the second new line followed', f.out, (o) => o === 'hello\npoked 1\npoked 2\n');
    f.kill('SIGINT');
    assert.equal(await f.exited, 0, f.err());
  });

  it('refuses bad input with a clear message and a non-zero exit', async () => {
    // Independent of each other: run at once.
    const [missing, env2, ghost] = await Promise.all([cli('agent', 'create', 'lonely'), cli('agent', 'create', 'x', 'sleep', '--env', 'NOVALUE', '--', '1'), cli('agent', 'show', 'ghost')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /missing required argument 'command'/);
    assert.equal(env2.code, 1);
    assert.match(env2.stderr, /--env NOVALUE: expected KEY=VALUE/);
    assert.equal(ghost.code, 1);
    assert.match(ghost.stderr, /GET \/api\/agents\/ghost: 404/);
    assert.equal((await h.api('GET', '/api/agents/x')).status, 404, 'nothing was created');
  });

  it('import pm2 creates agents from an ecosystem file (.json and .js) and reports what it ignored', async () => {
    const dir = tempDir();
    const json = join(dir, 'ecosystem.json');
    writeFileSync(join(dir, 'server.js'), 'setInterval(() => {}, 1e9);\n');
    // No cwd: the CLI anchors it at the directory it runs in, as PM2 does.
    writeFileSync(json, JSON.stringify({ apps: [{ name: 'web', script: join(dir, 'server.js'), args: '--port 8080', out_file: './web.log', frobnicate: 1 }] }));
    const r = await cli('import', 'pm2', json);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Created +web$/m);
    assert.match(r.stdout, /^ +web: out_file \(Hearth keeps the output/m);
    assert.match(r.stdout, /^ +web: frobnicate$/m);
    const web = await running('web');
    assert.deepEqual([web.definition.stop_signal, web.definition.cwd, web.definition.args], ['SIGINT', process.cwd(), [join(dir, 'server.js'), '--port', '8080']]);

    const js = join(dir, 'ecosystem.config.js');
    writeFileSync(js, `module.exports = { apps: [{ name: 'web', script: ${JSON.stringify(join(dir, 'server.js'))}, args: ['--port', '9090'] }] };\n`);
    const again = await cli('import', 'pm2', js);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^Updated +web$/m);
    assert.deepEqual((await running('web', web.pid)).definition.args, [join(dir, 'server.js'), '--port', '9090'], 'the running agent restarted with the new definition');

    const gone = await cli('import', 'pm2', join(dir, 'nope.json'));
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /cannot read .*nope\.json: no such file/);
  });
});
