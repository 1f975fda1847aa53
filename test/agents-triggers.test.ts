/** What restarts an agent besides a crash: a change of its files (watch) and its cron_restart schedule. */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { AgentView } from '../src/hub/agents/state.js';
import { created, startHub, type HubHandle } from './helpers/hub.js';
import { tempDir } from './helpers/tmp.js';
import { until } from './helpers/wait.js';

let h: HubHandle;

const agent = (id: string): AgentView => h.hub.things.get('agent', id) as unknown as AgentView;
const waitFor = async (id: string, what: string, test: (a: AgentView) => boolean): Promise<AgentView> =>
  (await until(`agent ${id}: ${what}`, () => agent(id), (a) => a !== undefined && test(a)))!;
const SLEEPER = ['-e', 'setInterval(() => {}, 1e6)'];
/** The hub's log lines about file changes of one agent. */
const changes = (id: string): Array<{ file: string; changes: number }> =>
  h.logs.filter((l) => l.agent === id && typeof l.file === 'string').map((l) => ({ file: l.file as string, changes: l.changes as number }));

describe('agent restart triggers', () => {
  before(async () => {
    // The restarts' reasons are info lines.
    h = await startHub({ HEARTH_LOG_LEVEL: 'info' });
  });

  it('restarts on a change under its cwd, once per burst of changes, and logs the file that changed', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'app.js'), '');
    await created(h, '/api/agents', { name: 'Dev', command: process.execPath, args: SLEEPER, cwd: dir, watch: true, watch_debounce_ms: 300 });
    const first = await waitFor('dev', 'running', (a) => a.status === 'running');
    mkdirSync(join(dir, 'src'));
    for (let i = 0; i < 5; i++) writeFileSync(join(dir, 'src', `m${i}.js`), `// ${i}`);
    const second = await waitFor('dev', 'restarted', (a) => a.status === 'running' && a.pid !== first.pid);
    assert.equal(second.restarts, first.restarts + 1);
    const burst = changes('dev');
    assert.equal(burst.length, 1, 'one restart for the burst');
    assert.ok(burst[0]!.file.startsWith(join(dir, 'src')), burst[0]!.file);
    assert.ok(burst[0]!.changes >= 5, `the burst counted its changes: ${burst[0]!.changes}`);

    // One more change is one more restart: the burst above made exactly one.
    writeFileSync(join(dir, 'app.js'), 'changed');
    const third = await waitFor('dev', 'restarted again', (a) => a.status === 'running' && a.pid !== second.pid);
    assert.equal(third.restarts, first.restarts + 2);
    assert.equal(changes('dev').at(-1)!.file, join(dir, 'app.js'));
  });

  it('never restarts for node_modules, .git, its ignore globs (from its cwd) or files outside its watch paths', async () => {
    const dir = tempDir();
    for (const d of ['node_modules/pkg', '.git', 'lib/gen', 'docs']) mkdirSync(join(dir, d), { recursive: true });
    writeFileSync(join(dir, 'main.js'), '');
    await created(h, '/api/agents', { name: 'Picky', command: process.execPath, args: SLEEPER, cwd: dir, watch: ['lib', 'main.js'], watch_ignore: ['**/*.tmp', 'lib/gen/**'], watch_debounce_ms: 200 });
    const first = await waitFor('picky', 'running', (a) => a.status === 'running');
    // Ignored first, then one watched file: the only burst is the watched file's.
    // A glob with a slash starts at the cwd, as PM2's ignore_watch does (lib/gen, not <watched lib>/lib/gen).
    for (const f of ['node_modules/pkg/index.js', '.git/HEAD', 'lib/cache.tmp', 'lib/gen/out.js', 'docs/readme.md', 'other.js']) writeFileSync(join(dir, f), 'x');
    writeFileSync(join(dir, 'lib', 'real.js'), 'x');
    const second = await waitFor('picky', 'restarted', (a) => a.status === 'running' && a.pid !== first.pid);
    assert.equal(second.restarts, first.restarts + 1);
    assert.deepEqual(changes('picky').map((c) => c.file), [join(dir, 'lib', 'real.js')]);
    writeFileSync(join(dir, 'main.js'), 'x');
    await waitFor('picky', 'restarted for main.js', (a) => a.status === 'running' && a.restarts === second.restarts + 1);
    assert.equal(changes('picky').at(-1)!.file, join(dir, 'main.js'));
  });

  it('a stopped agent is not restarted by a change', async () => {
    const dir = tempDir();
    await created(h, '/api/agents', { name: 'Idle', command: process.execPath, args: SLEEPER, cwd: dir, watch: true, watch_debounce_ms: 100 });
    await waitFor('idle', 'running', (a) => a.status === 'running');
    assert.equal((await h.api('POST', '/api/agents/idle/stop')).status, 200);
    writeFileSync(join(dir, 'x.js'), 'x');
    // Started again by hand, then a change: the watch is back with it.
    assert.equal((await h.api('POST', '/api/agents/idle/start')).status, 200);
    const running = await waitFor('idle', 'running again', (a) => a.status === 'running');
    writeFileSync(join(dir, 'y.js'), 'y');
    await waitFor('idle', 'restarted by the change', (a) => a.status === 'running' && a.pid !== running.pid);
    assert.deepEqual(changes('idle').map((c) => c.file), [join(dir, 'y.js')], 'the change while it was stopped did nothing');
  });

  it('restarts on its cron_restart schedule', async () => {
    await created(h, '/api/agents', { name: 'Nightly', command: process.execPath, args: SLEEPER, cron_restart: '* * * * * *' });
    const first = await waitFor('nightly', 'running', (a) => a.status === 'running');
    const later = await waitFor('nightly', 'restarted twice by the schedule', (a) => a.status === 'running' && a.restarts >= first.restarts + 2);
    assert.notEqual(later.pid, first.pid);
    assert.ok(h.logs.some((l) => l.agent === 'nightly' && l.cron_restart === '* * * * * *'), 'the log says why');
    assert.equal((await h.api('DELETE', '/api/agents/nightly')).status, 200);
  });

  it('refuses what cannot work and changes nothing', async () => {
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ cron_restart: 'every night' }, /cron_restart: "every night" is not a valid cron expression/],
      [{ watch: true }, /watch: give the agent a cwd/],
      [{ watch: ['src'] }, /watch: give the agent a cwd/],
      [{ watch_ignore: ['*.log'] }, /only mean something with watch/],
      [{ health_check: { type: 'tcp' } }, /a tcp check needs a port/],
      [{ instances: 0 }, /instances/],
      [{ ready_signal: { type: 'stdout' } }, /contains/],
    ];
    for (const [fields, message] of bad) {
      const r = await h.api<{ error: string }>('POST', '/api/agents', { name: 'Bad', command: 'sleep', args: ['1'], ...fields });
      assert.equal(r.status, 400, JSON.stringify(fields));
      assert.match(r.body.error, message);
    }
    assert.equal((await h.api('GET', '/api/agents/bad')).status, 404);
    await created(h, '/api/agents', { name: 'Good', command: 'sleep', args: ['600'] });
    const r = await h.api<{ error: string }>('PUT', '/api/agents/good', { cron_restart: 'nope' });
    assert.equal(r.status, 400);
    assert.equal((await h.api<AgentView>('GET', '/api/agents/good')).body.definition.cron_restart, undefined);
  });
});
