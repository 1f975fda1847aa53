/** The agents contract of README, through the real hub: updates, 409s, health, crash loops, backoff, stop signals. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { AgentView } from '../src/hub/agents/state.js';
import { BASE, created, startHub, type HubHandle } from './helpers/hub.js';
import { MqttProbe } from './helpers/mqtt-probe.js';
import { pidsWith } from './helpers/procs.js';
import { tempDir } from './helpers/tmp.js';
import { until } from './helpers/wait.js';

let h: HubHandle;
let probe: MqttProbe;

const create = (body: Record<string, unknown>): Promise<AgentView> => created(h, '/api/agents', body);
const get = async (id: string): Promise<AgentView> => (await h.api<AgentView>('GET', `/api/agents/${id}`)).body;
const waitFor = async (id: string, what: string, test: (a: AgentView) => boolean, timeoutMs = 10_000): Promise<AgentView> =>
  until(`agent ${id}: ${what}`, () => get(id), test, { timeoutMs });
const logLines = async (id: string): Promise<string[]> => (await h.api<{ lines: string[] }>('GET', `/api/agents/${id}/logs?tail=100`)).body.lines;
const untilLogged = (id: string, line: string): Promise<string[]> => until(`agent ${id} to print ${line}`, () => logLines(id), (l) => l.includes(line));

/** A program that prints its WORD and then sleeps `marker` seconds (the marker finds its process). */
const talker = (marker: number): string[] => ['-c', `echo "word=$WORD"; n=${marker}; exec sleep $n`];

/**
 * A program that fails its first `crashes` runs and then stays up: it counts its runs in a file,
 * so each run is a new process the policy restarted.
 */
function flaky(crashes: number, marker: number): string[] {
  const counter = join(tempDir(), 'runs');
  return ['-c', `n=$(cat "$1" 2>/dev/null || echo 0); echo $((n + 1)) > "$1"; [ "$n" -ge ${crashes} ] || exit 1; m=${marker}; exec sleep $m`, 'sh', counter];
}

describe('agents: the README contract', () => {
  before(async () => {
    h = await startHub();
    probe = await MqttProbe.connect(h.brokerUrl);
  });

  it('PUT on a running agent restarts it with the new definition', async () => {
    const old = await create({ name: 'put target', command: 'sh', args: talker(3301), env: { WORD: 'old' } });
    await untilLogged('put_target', 'word=old');
    const r = await h.api<AgentView>('PUT', '/api/agents/put_target', { args: talker(3302), env: { WORD: 'new' } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.status, 'running');
    assert.notEqual(r.body.pid, old.pid, 'a new process');
    assert.deepEqual(pidsWith('sleep 3301'), [], 'the old one is gone');
    // The shell execs its sleep a moment after it is running.
    await until('the new process running the new args', () => pidsWith('sleep 3302'), (p) => p.length === 1 && p[0] === r.body.pid);
    await untilLogged('put_target', 'word=new');
    assert.deepEqual((await get('put_target')).definition.env, { WORD: 'new' });
  });

  it('an update over the MQTT bridge restarts a running agent with the new definition', async () => {
    const old = await create({ name: 'bridge target', command: 'sh', args: talker(3303), env: { WORD: 'before' } });
    await untilLogged('bridge_target', 'word=before');
    const m = probe.mark();
    await probe.publish(`${BASE}/bridge/request/agent/update`, JSON.stringify({ id: 'bridge_target', args: talker(3304), env: { WORD: 'after' }, transaction: 'u1' }));
    const reply = await probe.next(`${BASE}/bridge/response/agent/update`, (x) => JSON.parse(x.payload).transaction === 'u1', { since: m });
    const r = JSON.parse(reply.payload) as { status: string; data: AgentView };
    assert.equal(r.status, 'ok', reply.payload);
    assert.equal(r.data.status, 'running');
    assert.notEqual(r.data.pid, old.pid);
    assert.deepEqual(pidsWith('sleep 3303'), []);
    await until('the new process running the new args', () => pidsWith('sleep 3304'), (p) => p.length === 1 && p[0] === r.data.pid);
    await untilLogged('bridge_target', 'word=after');
    // Its retained state says so too.
    await probe.next(`${BASE}/agent/bridge_target`, (x) => x.payload !== '' && JSON.parse(x.payload).pid === r.data.pid, { since: m });
  });

  it('answers 409 to a start of a running agent, and changes nothing', async () => {
    const a = await create({ name: 'already up', command: 'sleep', args: ['3305'] });
    const r = await h.api<{ error: string }>('POST', '/api/agents/already_up/start');
    assert.equal(r.status, 409);
    assert.match(r.body.error, /already running/);
    const after = await get('already_up');
    assert.equal(after.pid, a.pid);
    assert.equal(after.restarts, 0);
    assert.deepEqual(pidsWith('sleep 3305'), [a.pid]);
  });

  it('takes 10 off the health for each restart within the window, at most 50', async () => {
    const policy = { delay_ms: 10, backoff: false };
    await create({ name: 'three crashes', command: 'sh', args: flaky(3, 3306), restart: policy });
    await create({ name: 'seven crashes', command: 'sh', args: flaky(7, 3307), restart: policy });
    const three = await waitFor('three_crashes', 'up after 3 restarts', (a) => a.status === 'running' && a.restarts === 3);
    const seven = await waitFor('seven_crashes', 'up after 7 restarts', (a) => a.status === 'running' && a.restarts === 7);
    assert.equal(three.health, 70);
    assert.equal(seven.health, 50, 'never more than 50 off for restarts');
    const steady = await create({ name: 'no crashes', command: 'sleep', args: ['3308'] });
    assert.equal(steady.health, 100);
  });

  it('calls more than max_restarts runs in a row that die before min_uptime_s a crash loop, however spaced', async () => {
    // Each restart waits longer than window_s: the window never holds two restarts, so only the
    // min_uptime_s rule can end this: at the third quick death (more than 2 in a row).
    await create({ name: 'unstable', command: 'sh', args: ['-c', 'exit 4'], restart: { delay_ms: 1100, backoff: false, max_restarts: 2, window_s: 1, min_uptime_s: 30 } });
    const failed = await waitFor('unstable', 'a crash loop', (a) => a.status === 'failed', 15_000);
    assert.equal(failed.reason, 'crash_loop');
    assert.equal(failed.restarts, 2, 'three runs: the first and two restarts');
    assert.equal(failed.problem, true);
  });

  it('caps the backoff at 60 s', async () => {
    await create({ name: 'patient', command: 'sh', args: ['-c', 'exit 5'], restart: { delay_ms: 120_000, backoff: true } });
    const waiting = await waitFor('patient', 'waiting to restart', (a) => a.status === 'backoff' && a.next_start_at !== null);
    const left = Date.parse(waiting.next_start_at!) - Date.now();
    // 120 s asked, 60 s at most: announced at the exit, a moment ago.
    assert.ok(left <= 60_000 && left > 30_000, `next start in ${left} ms`);
    const stopped = await h.api<AgentView>('POST', '/api/agents/patient/stop');
    assert.equal(stopped.body.status, 'stopped');
    assert.equal(stopped.body.next_start_at, null, 'a stop cancels the pending restart');
  });

  it('stops an agent with its own stop_signal', async () => {
    // The trap says which signal came, ends the sleep and exits 0: a clean stop, no SIGKILL needed.
    const script = `trap 'echo got INT; kill $p; exit 0' INT; trap 'echo got TERM; kill $p; exit 0' TERM; m=3309; sleep $m & p=$!; wait`;
    await create({ name: 'gentle', command: 'sh', args: ['-c', script], stop_signal: 'SIGINT', stop_timeout_s: 5 });
    await until('its sleep', () => pidsWith('sleep 3309'), (p) => p.length === 1);
    const stopped = await h.api<AgentView>('POST', '/api/agents/gentle/stop');
    assert.equal(stopped.body.status, 'stopped');
    assert.deepEqual([stopped.body.last_exit_code, stopped.body.last_signal], [0, null], 'it ended by its trap');
    assert.deepEqual(await untilLogged('gentle', 'got INT'), ['got INT']);
    assert.deepEqual(pidsWith('sleep 3309'), []);
  });
});
