/** Agents across clean hub restarts and under the hub's settings: hearth.yaml, autostart, log rotation. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { AgentView } from '../src/hub/agents/state.js';
import { startHub, type HubHandle } from './helpers/hub.js';
import { pidsWith } from './helpers/procs.js';
import { tempDir } from './helpers/tmp.js';
import { until } from './helpers/wait.js';

const get = async (h: HubHandle, id: string): Promise<AgentView> => {
  const r = await h.api<AgentView>('GET', `/api/agents/${id}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
};
const logLines = async (h: HubHandle, id: string, tail = 100): Promise<string[]> =>
  (await h.api<{ lines: string[] }>('GET', `/api/agents/${id}/logs?tail=${tail}`)).body.lines;

/** hearth.yaml with these agents (YAML takes JSON). */
const writeYaml = (dir: string, agents: unknown[]): void => writeFileSync(join(dir, 'hearth.yaml'), `agents: ${JSON.stringify(agents)}\n`);

// In-process hubs share this process: each test stops its hubs, as a stop checks every session it led.
describe('agents and the hub\'s configuration', () => {
  it('brings a change of hearth.yaml to an agent that exists, fields removed there removed here', async () => {
    const dir = tempDir();
    const entry = (marker: number) => ({ name: 'yaml bot', command: 'sh', args: ['-c', `echo "word=$WORD"; n=${marker}; exec sleep $n`] });
    writeYaml(dir, [{ ...entry(3401), env: { WORD: 'one', EXTRA: 'x' } }]);
    const first = await startHub({}, dir);
    await until('the first word', () => logLines(first, 'yaml_bot'), (l) => l.includes('word=one'));
    await first.stop();

    writeYaml(dir, [{ ...entry(3402), env: { WORD: 'two' }, restart: { policy: 'on-failure' } }]);
    const second = await startHub({}, dir);
    const a = await get(second, 'yaml_bot');
    assert.equal(a.status, 'running');
    assert.deepEqual(a.definition.env, { WORD: 'two' });
    assert.deepEqual(a.definition.restart, { policy: 'on-failure' });
    assert.deepEqual(pidsWith('sleep 3401'), []);
    // The shell execs its sleep a moment after it is running.
    await until('the new definition running', () => pidsWith('sleep 3402'), (p) => p.length === 1 && p[0] === a.pid);
    await until('the new word', () => logLines(second, 'yaml_bot'), (l) => l.includes('word=two'));
    assert.equal((await second.api<AgentView[]>('GET', '/api/agents')).body.length, 1, 'the same agent, not a second one');
    await second.stop();
  });

  it('keeps an agent with autostart: false stopped after a clean restart, even when it was started', async () => {
    const dir = tempDir();
    const first = await startHub({}, dir);
    for (const [name, marker, autostart] of [['on demand', 3403, false], ['always on', 3404, true]] as const) {
      const r = await first.api<AgentView>('POST', '/api/agents', { name, command: 'sleep', args: [String(marker)], autostart });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
    assert.equal((await get(first, 'on_demand')).status, 'stopped', 'not started on creation');
    assert.equal((await first.api('POST', '/api/agents/on_demand/start')).status, 200);
    assert.equal(pidsWith('sleep 3403').length, 1);
    await first.stop();

    const second = await startHub({}, dir);
    const onDemand = await get(second, 'on_demand');
    assert.deepEqual([onDemand.status, onDemand.desired], ['stopped', 'stopped']);
    assert.deepEqual(pidsWith('sleep 3403'), []);
    // The hub did start what autostarts.
    const alwaysOn = await get(second, 'always_on');
    assert.equal(alwaysOn.status, 'running');
    assert.deepEqual(pidsWith('sleep 3404'), [alwaysOn.pid]);
    await second.stop();
  });

  it('rotates agent logs at HEARTH_AGENT_LOG_MAX_MB, keeping HEARTH_AGENT_LOG_FILES old files', async () => {
    const maxBytes = Math.round(0.001 * 1024 * 1024);
    const h = await startHub({ HEARTH_AGENT_LOG_MAX_MB: '0.001', HEARTH_AGENT_LOG_FILES: '2' });
    // 100 lines of 51 bytes: about five files' worth, far below the default 10 MB.
    const r = await h.api<AgentView>('POST', '/api/agents', {
      name: 'chatty',
      command: 'sh',
      args: ['-c', `seq -f 'line-%03g ${'.'.repeat(42)}' 1 100; n=3405; exec sleep $n`],
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const dir = join(h.dataDir, 'logs', 'agents', 'chatty');
    await until('the last line in stdout.log', () => readFileSync(join(dir, 'stdout.log'), 'utf8'), (t) => t.includes('line-100'));
    const files = readdirSync(dir).filter((f) => f.startsWith('stdout')).sort();
    assert.deepEqual(files, ['stdout.log', 'stdout.log.1', 'stdout.log.2'], 'two rotated files kept, older ones deleted');
    for (const f of files) assert.ok(statSync(join(dir, f)).size <= maxBytes, `${f}: ${statSync(join(dir, f)).size} bytes`);
    // What is kept is the newest lines, in order, none lost between the files.
    const kept = ['stdout.log.2', 'stdout.log.1', 'stdout.log'].flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').slice(0, -1));
    const numbers = kept.map((l) => Number(l.slice(5, 8)));
    assert.deepEqual(numbers, Array.from({ length: numbers.length }, (_, i) => 101 - numbers.length + i));
    assert.ok(numbers.length < 100, 'the oldest lines went with the deleted files');
    assert.deepEqual(await logLines(h, 'chatty', 1000), kept, 'the API reads across the rotated files');
    await h.stop();
  });
});
