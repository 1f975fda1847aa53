/** `port: true`: each instance its own PORT from HEARTH_PORT_RANGE, never shared, kept across restarts, released on delete. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AgentView } from '../src/hub/agents/state.js';
import { startHub, type HubHandle } from './helpers/hub.js';
import { tempDir } from './helpers/tmp.js';
import { until } from './helpers/wait.js';

/** A range below the kernel's ephemeral ports (where other tests' listeners land), different each run. */
const FIRST = 10_000 + Math.floor(Math.random() * 9000);
const RANGE = 24;
const env = { HEARTH_PORT_RANGE: `${FIRST}-${FIRST + RANGE - 1}` };

/** Writes the PORT it was given to `<cwd>/port-<instance>` and runs on. */
const REPORTER = ['-e', "require('fs').writeFileSync('port-' + process.env.HEARTH_INSTANCE, String(process.env.PORT)); setInterval(() => {}, 1e6)"];

describe('agent ports', () => {
  let h: HubHandle;
  const dataDir = tempDir();
  const blocker = createServer();
  before(async () => {
    // Something else listens on the range's first port: it is never handed out.
    await new Promise<void>((resolve) => blocker.listen(FIRST, '127.0.0.1', resolve));
    h = await startHub(env, dataDir);
  });
  after(() => new Promise<void>((resolve) => blocker.close(() => resolve())));

  const agent = (id: string): AgentView => h.hub.things.get('agent', id) as unknown as AgentView;
  const given = async (dir: string, instance: number, port: number | null): Promise<string> =>
    until(`instance ${instance} wrote its PORT`, () => { try { return readFileSync(join(dir, `port-${instance}`), 'utf8'); } catch { return ''; } }, (p) => p === String(port));

  it('20 agents created at once get 20 different ports from the range, none that something else listens on, each as its PORT', async () => {
    const dirs = Array.from({ length: 20 }, () => tempDir());
    const answers = await Promise.all(dirs.map((cwd, i) => h.api<AgentView>('POST', '/api/agents', { name: `web ${i}`, command: process.execPath, args: REPORTER, cwd, port: true })));
    assert.deepEqual(answers.map((a) => a.status), Array(20).fill(201));
    const ports = answers.map((a) => a.body.port!);
    assert.equal(new Set(ports).size, 20, `distinct: ${ports.join(',')}`);
    for (const p of ports) assert.ok(p > FIRST && p < FIRST + RANGE, `${p} in the range, not the taken ${FIRST}`);
    await Promise.all(dirs.map((d, i) => given(d, 0, ports[i]!)));
  });

  it('each instance has its own port; a restart keeps them, a scale-down releases the surplus', async () => {
    const cwd = tempDir();
    const made = await h.api<AgentView>('POST', '/api/agents', { name: 'multi', command: process.execPath, args: REPORTER, cwd, port: true, instances: 3 });
    assert.equal(made.status, 201);
    const ports = made.body.instance_states.map((i) => i.port!);
    assert.equal(new Set(ports).size, 3);
    for (const i of [0, 1, 2]) await given(cwd, i, ports[i]!);
    const restarted = await h.api<AgentView>('POST', '/api/agents/multi/restart');
    assert.deepEqual(restarted.body.instance_states.map((i) => i.port), ports, 'kept across a restart');
    await h.api('POST', '/api/agents/multi/scale', { instances: 1 });
    // Two ports free again: a new agent with two instances fits exactly where the range had 1 port left.
    const two = await h.api<AgentView>('POST', '/api/agents', { name: 'pair', command: process.execPath, args: REPORTER, cwd: tempDir(), port: true, instances: 2 });
    assert.equal(two.status, 201, JSON.stringify(two.body));
  });

  it('a full range is a clear 409 that creates nothing; a delete gives its ports back', async () => {
    const full = await h.api<{ error: string }>('POST', '/api/agents', { name: 'one too many', command: process.execPath, args: REPORTER, cwd: tempDir(), port: true, instances: 2 });
    assert.equal(full.status, 409);
    assert.match(full.body.error, new RegExp(`${FIRST}-${FIRST + RANGE - 1}`));
    assert.equal((await h.api('GET', '/api/agents/one_too_many')).status, 404, 'nothing was created');
    const freed = agent('pair').instance_states.map((i) => i.port);
    assert.equal((await h.api('DELETE', '/api/agents/pair')).status, 200);
    const fits = await h.api<AgentView>('POST', '/api/agents', { name: 'one too many', command: process.execPath, args: REPORTER, cwd: tempDir(), port: true, instances: 2 });
    assert.equal(fits.status, 201);
    assert.deepEqual(fits.body.instance_states.map((i) => i.port).sort(), [...freed].sort());
  });

  it('keeps every port across a hub restart', async () => {
    const before = Object.fromEntries((await h.api<AgentView[]>('GET', '/api/agents')).body.map((a) => [a.id, a.instance_states.map((i) => i.port)]));
    await h.stop();
    h = await startHub(env, dataDir);
    const after = Object.fromEntries((await h.api<AgentView[]>('GET', '/api/agents')).body.map((a) => [a.id, a.instance_states.map((i) => i.port)]));
    assert.deepEqual(after, before);

    // A range narrowed below what is held: the hub starts all the same, each agent keeping its ports, and says so.
    await h.stop();
    h = await startHub({ HEARTH_PORT_RANGE: `${FIRST}-${FIRST + 4}`, HEARTH_LOG_LEVEL: 'warn' }, dataDir);
    const narrowed = Object.fromEntries((await h.api<AgentView[]>('GET', '/api/agents')).body.map((a) => [a.id, a.instance_states.map((i) => i.port)]));
    assert.deepEqual(narrowed, before);
    assert.ok(h.logs.some((l) => l.msg === 'the agent keeps the ports it holds' && /no free port/.test(String(l.err))), 'the log says why');
  });
});
