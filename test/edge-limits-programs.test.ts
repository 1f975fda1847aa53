/**
 * What becomes a program's argv, environment or directory, checked before it is kept: a NUL byte
 * (which no argument or variable can hold) is a 400 at create and update, over HTTP and MQTT, not a
 * failure at the next start; and a missing cwd is reported as the directory, not as the command.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BASE, created, startHub, type HubHandle } from './helpers/hub.js';
import { MqttProbe } from './helpers/mqtt-probe.js';
import { tempDir } from './helpers/tmp.js';
import { until } from './helpers/wait.js';

interface Agent {
  id: string;
  status: string;
  reason: string | null;
  definition: { args?: string[] };
}

describe('edge limits: program text and directories', () => {
  let h: HubHandle;
  let probe: MqttProbe;
  let n = 0;
  const fresh = (): string => `prog${++n}`;

  before(async () => {
    h = await startHub();
    probe = await MqttProbe.connect(h.brokerUrl, [`${BASE}/bridge/response/#`]);
  });
  after(async () => {
    await probe.close();
    await h.stop();
  });

  const agentBody = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ name: fresh(), command: 'sleep', args: ['600'], autostart: false, ...extra });

  it('refuses a NUL byte in an agent\'s command, arguments, environment or cwd, and creates nothing', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ command: 'sl\u0000eep' }, 'command contains a NUL byte'],
      [{ args: ['6', '0\u00000'] }, 'args.1 contains a NUL byte'],
      [{ env: { GREETING: 'hi\u0000there' } }, 'env.GREETING contains a NUL byte'],
      [{ env: { API_TOKEN: { value: 'abc\u0000', secret: true } } }, 'env.API_TOKEN.value contains a NUL byte'],
      [{ cwd: '/tmp\u0000/x' }, 'cwd contains a NUL byte'],
      [{ health_check: { type: 'command', command: 'true', args: ['\u0000'] } }, 'health_check.args.0 contains a NUL byte'],
    ];
    for (const [extra, error] of cases) {
      const body = agentBody({ ...extra, autostart: true });
      const r = await h.api<{ error: string }>('POST', '/api/agents', body);
      assert.deepEqual([r.status, r.body.error], [400, error], JSON.stringify(extra));
      assert.equal((await h.api('GET', `/api/agents/${String(body.name)}`)).status, 404, 'nothing created');
    }
  });

  it('refuses it in an update too, and the agent keeps what it had', async () => {
    const a = await created<Agent>(h, '/api/agents', agentBody());
    const r = await h.api<{ error: string }>('PUT', `/api/agents/${a.id}`, { args: ['\u0000'] });
    assert.deepEqual([r.status, r.body.error], [400, 'args.0 contains a NUL byte']);
    assert.deepEqual((await h.api<Agent>('GET', `/api/agents/${a.id}`)).body.definition.args, ['600']);
  });

  it('refuses it in a task\'s command action, at any depth of a workflow', async () => {
    const direct = await h.api<{ error: string }>('POST', '/api/tasks', { name: fresh(), action: { type: 'command', command: 'echo', args: ['a\u0000b'] } });
    assert.deepEqual([direct.status, direct.body.error], [400, 'action.args.0 contains a NUL byte']);
    const nestedStep = await h.api<{ error: string }>('POST', '/api/tasks', {
      name: fresh(),
      action: { type: 'workflow', steps: [{ type: 'command', command: 'true' }, { type: 'command', command: 'env', env: { X: '\u0000' } }] },
    });
    assert.deepEqual([nestedStep.status, nestedStep.body.error], [400, 'action.steps.1.env.X contains a NUL byte']);
  });

  it('answers a bridge request with the same refusal', async () => {
    const name = fresh();
    const a = await probe.ask(BASE, 'agent/create', { name, command: 'sleep', args: ['1\u00002'], autostart: true });
    assert.deepEqual(a, { status: 'error', error: 'args.0 contains a NUL byte', transaction: probe.lastTransaction });
    const t = await probe.ask(BASE, 'task/create', { name: fresh(), action: { type: 'command', command: 'tr\u0000ue' } });
    assert.deepEqual(t, { status: 'error', error: 'action.command contains a NUL byte', transaction: probe.lastTransaction });
    assert.equal((await h.api('GET', `/api/agents/${name}`)).status, 404, 'nothing created');
  });

  it('says an agent\'s cwd is missing or not a directory, not that its command is', async () => {
    const dir = tempDir();
    const missing = join(dir, 'gone');
    const file = join(dir, 'file');
    writeFileSync(file, '');
    const failedWith = async (extra: Record<string, unknown>): Promise<string | null> => {
      const a = await created<Agent>(h, '/api/agents', agentBody({ ...extra, autostart: true }));
      const s = await until(`agent ${a.id} failed`, async () => (await h.api<Agent>('GET', `/api/agents/${a.id}`)).body, (x) => x.status === 'failed');
      return s.reason;
    };
    assert.equal(await failedWith({ cwd: missing }), `spawn_error: no directory ${missing}`);
    assert.equal(await failedWith({ cwd: file }), `spawn_error: ${file} is not a directory`);
    // Longer than a reason is kept in (200 characters, which PostgreSQL enforces): shortened in the middle, and kept.
    const deep = join(dir, 'd'.repeat(150), 'e'.repeat(150));
    const long = (await failedWith({ cwd: deep })) ?? '';
    assert.ok(long.length <= 200, long);
    assert.ok(long.startsWith(`spawn_error: no directory ${dir}/ddd`) && long.endsWith(`${'e'.repeat(80)}`), long);
    // A missing command in a directory that exists is still the command.
    assert.match((await failedWith({ cwd: dir, command: 'hearth-no-such-command-1207' })) ?? '', /^spawn_error: .*hearth-no-such-command-1207.*ENOENT/);
  });
});
