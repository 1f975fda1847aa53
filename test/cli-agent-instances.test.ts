/** `hearth agent create --instances/--port/--watch/--cron-restart`, `scale`, `reload` and the list's instance column, against a real hub. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AgentView } from '../src/hub/agents/state.js';
import { cliEnv, runCli, startHub, type HubHandle } from './helpers/hub.js';
import { tempDir } from './helpers/tmp.js';
import { until } from './helpers/wait.js';

describe('hearth agent with instances', () => {
  let h: HubHandle;
  let env: Record<string, string>;
  before(async () => {
    const first = 30_000 + Math.floor(Math.random() * 2000);
    h = await startHub({ HEARTH_PORT_RANGE: `${first}-${first + 9}` });
    env = cliEnv(h);
  });
  after(() => h.stop());

  const cli = (...args: string[]) => runCli(args, env);
  const get = async (id: string): Promise<AgentView> => (await h.api<AgentView>('GET', `/api/agents/${id}`)).body;

  it('creates with the new flags, scales, reloads, and lists how many instances run', async () => {
    const dir = tempDir();
    // A server on its PORT (with port: true, a reload's new process must listen there too).
    const server = join(import.meta.dirname, 'fixtures', 'http-reuseport.py');
    const r = await cli('agent', 'create', 'Pool', '/usr/bin/python3', '--cwd', dir, '--instances', '2', '--port', '--watch', '--cron-restart', '0 4 * * *', '--', server);
    assert.equal(r.code, 0, r.stderr);
    const made = await until('two running', () => get('pool'), (a) => a.instances_running === 2);
    assert.deepEqual(
      [made.definition.instances, made.definition.port, made.definition.watch, made.definition.cron_restart, new Set(made.instance_states.map((i) => i.port)).size],
      [2, true, true, '0 4 * * *', 2],
    );

    const scaled = await cli('agent', 'scale', 'pool', '3');
    assert.equal(scaled.code, 0, scaled.stderr);
    assert.match(scaled.stdout, /^pool: \d of 3 running\n$/);
    await until('three running', () => get('pool'), (a) => a.instances_running === 3);
    const list = await cli('agent', 'list');
    assert.match(list.stdout, /^ID +STATUS +INSTANCES +PID/m);
    assert.match(list.stdout, /^pool +running +3\/3 /m);

    const before = (await get('pool')).instance_states.map((i) => i.pid);
    const reload = await cli('agent', 'reload', 'pool');
    assert.equal(reload.code, 0, reload.stderr);
    assert.equal(reload.stdout, 'pool: 3 of 3 reloaded\n');
    // Each instance takes a second at least (up that long without exiting): the progress is seen.
    assert.match(reload.stderr, /^(reloading instance [123] of 3…\n)+$/);
    const after = (await get('pool')).instance_states.map((i) => i.pid);
    assert.deepEqual(after.filter((p) => before.includes(p)), [], 'every instance is a new process');

    for (const bad of ['0', 'many']) {
      const no = await cli('agent', 'scale', 'pool', bad);
      assert.equal(no.code, 1);
      assert.match(no.stderr, /instances/);
    }
    const flag = await cli('agent', 'create', 'X', 'sleep', '--instances', 'two', '--', '1');
    assert.equal(flag.code, 1);
    assert.match(flag.stderr, /--instances two: a whole number/);
  });
});
