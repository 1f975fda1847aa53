/**
 * Task actions against real things: real processes (and /proc to see they are gone), a real HTTP
 * server; MQTT and agents through stand-ins for our own interfaces (MqttAccess, ActionDeps.agents).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { onCleanup } from './helpers/cleanup.js';
import { freePort } from './helpers/ports.js';
import { tempDir } from './helpers/tmp.js';
import { untilTrue } from './helpers/wait.js';
import { ACTION_TYPES, parseAction, runAction } from '../src/hub/tasks/actions/index.js';
import type { Action, ActionDeps, ActionOutcome } from '../src/hub/tasks/actions/types.js';
import type { JobHandle } from '../src/hub/jobs/types.js';
import type { MqttAccess } from '../src/hub/mqtt-access.js';
import { conflict, notFound } from '../src/hub/errors.js';
import { offBridge } from './helpers/ha-bridge.js';

/** Our JobHandle, in memory: records everything an action reports. */
class MemoryJob implements JobHandle {
  readonly id = 1;
  readonly controller = new AbortController();
  readonly steps: string[] = [];
  readonly progresses: number[] = [];
  readonly pids: Array<number | null> = [];
  /** Output chunks that were not bytes (the interface takes Buffers): checked by the tests, not here. */
  readonly notBytes: unknown[] = [];
  private readonly out = { stdout: [] as Buffer[], stderr: [] as Buffer[] };

  get signal(): AbortSignal {
    return this.controller.signal;
  }
  step(message: string): void {
    this.steps.push(message);
  }
  progress(percent: number): void {
    this.progresses.push(percent);
  }
  output(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    if (Buffer.isBuffer(chunk)) this.out[stream].push(chunk);
    else this.notBytes.push(chunk);
  }
  process(pid: number | null): void {
    this.pids.push(pid);
  }
  text(stream: 'stdout' | 'stderr'): string {
    return Buffer.concat(this.out[stream]).toString('utf8');
  }
}

/** Our MqttAccess, recording what is published. */
class RecordingMqtt implements MqttAccess {
  connected = true;
  refuse: Error | undefined;
  hold = false;
  readonly published: Array<{ topic: string; payload: string; opts: unknown }> = [];

  subscribe(): () => void {
    return () => undefined;
  }
  async publish(topic: string, payload: string, opts?: { retain?: boolean; qos?: 0 | 1 | 2 }): Promise<void> {
    if (this.refuse) throw this.refuse;
    this.published.push({ topic, payload, opts });
    if (this.hold) await new Promise(() => undefined); // a broker that never acknowledges
  }
}

/** ActionDeps.agents, in memory. */
class StandInAgents {
  readonly known = new Set(['web', 'bot']);
  readonly calls: string[] = [];
  refuse: Error | undefined;
  onCall: ((call: string) => void) | undefined;

  exists(id: string): boolean {
    return this.known.has(id);
  }
  start(id: string): Promise<unknown> {
    return this.call('start', id);
  }
  stop(id: string): Promise<unknown> {
    return this.call('stop', id);
  }
  restart(id: string): Promise<unknown> {
    return this.call('restart', id);
  }
  private async call(verb: string, id: string): Promise<unknown> {
    this.calls.push(`${verb} ${id}`);
    this.onCall?.(`${verb} ${id}`);
    if (this.refuse) throw this.refuse;
    if (!this.known.has(id)) throw notFound(`no agent "${id}"`);
    return {};
  }
}

function world(): { mqtt: RecordingMqtt; agents: StandInAgents; deps: Omit<ActionDeps, 'run'> } {
  const mqtt = new RecordingMqtt();
  const agents = new StandInAgents();
  // Home Assistant is not configured here: test/ha-bridge.test.ts runs the action against one.
  return { mqtt, agents, deps: { mqtt, agents, ha: offBridge() } };
}

/** Runs an action (parsed first, as the edge would) with a fresh job. */
async function run(action: Record<string, unknown>, job = new MemoryJob(), deps = world().deps): Promise<{ outcome: ActionOutcome; job: MemoryJob }> {
  const parsed = parseAction(action, deps);
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.error);
  const outcome = await runAction(parsed.value, job, deps);
  return { outcome, job };
}

/** Live processes whose command line is exactly these words (not the shell that mentions them). */
function processesRunning(...argv: string[]): number[] {
  const want = argv.join('\0') + '\0';
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const state = readFileSync(`/proc/${name}/stat`, 'utf8').split(') ').pop()?.[0];
      if (state !== 'Z' && readFileSync(`/proc/${name}/cmdline`, 'utf8') === want) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function killAll(...argv: string[]): void {
  for (const pid of processesRunning(...argv)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

describe('command action', { concurrency: true }, () => {
  it('gives stdout and stderr, the pid, and ok on exit 0', async () => {
    const { outcome, job } = await run({ type: 'command', command: 'sh', args: ['-c', 'echo out; echo err >&2'] });
    assert.deepEqual(outcome, { ok: true, exit_code: 0 });
    assert.equal(job.text('stdout'), 'out\n');
    assert.equal(job.text('stderr'), 'err\n');
    assert.deepEqual(job.notBytes, [], 'output is bytes');
    assert.equal(job.pids.length, 2);
    assert.equal(typeof job.pids[0], 'number');
    assert.equal(job.pids[1], null, 'the process is forgotten at the end');
  });

  it('reports every `::progress N` line of stdout, fractions too, and nothing else', async () => {
    const gate = join(tempDir(), 'gate');
    const script = [
      'echo "::progress 10"',
      'echo "not progress"',
      'echo "::progress 55.5"',
      'echo "::progress 150"',
      'echo "::progress abc"',
      'echo "x ::progress 70"',
      'printf "::prog"',
      // The rest of the line only once the test has seen this half arrive on its own.
      'while [ ! -e "$0" ]; do sleep 0.02; done',
      'printf "ress 80\\n"',
      'printf "::progress 100"', // the last line, without a newline
    ].join('; ');
    const job = new MemoryJob();
    const running = run({ type: 'command', command: 'sh', args: ['-c', script, gate] }, job);
    await untilTrue('half a progress line', () => job.text('stdout').endsWith('::prog'));
    assert.deepEqual(job.progresses, [10, 55.5], 'half a line is not a progress');
    writeFileSync(gate, '');
    const { outcome } = await running;
    assert.equal(outcome.ok, true, outcome.error);
    assert.deepEqual(job.progresses, [10, 55.5, 80, 100]);
    assert.match(job.text('stdout'), /^::progress 10\nnot progress\n/);
  });

  it('fails with the exit code, or the signal that killed it', async () => {
    const exit3 = await run({ type: 'command', command: 'sh', args: ['-c', 'exit 3'] });
    assert.deepEqual(exit3.outcome, { ok: false, exit_code: 3, error: 'exited with code 3' });
    const killed = await run({ type: 'command', command: 'sh', args: ['-c', 'kill -KILL $$'] });
    assert.deepEqual(killed.outcome, { ok: false, exit_code: null, error: 'killed by SIGKILL' });
  });

  it('says why it cannot start: a missing command, a missing or wrong cwd', async () => {
    const missing = await run({ type: 'command', command: 'hearth-no-such-command-4300' });
    assert.deepEqual(missing.outcome, { ok: false, error: 'cannot start hearth-no-such-command-4300: no such command' });
    assert.deepEqual(missing.job.pids, [], 'no process to remember');

    const dir = tempDir();
    const noDir = await run({ type: 'command', command: 'sh', args: ['-c', 'true'], cwd: join(dir, 'nope') });
    assert.deepEqual(noDir.outcome, { ok: false, error: `cannot start sh: no directory ${join(dir, 'nope')}` });
    writeFileSync(join(dir, 'file'), '');
    const file = await run({ type: 'command', command: 'sh', args: ['-c', 'true'], cwd: join(dir, 'file') });
    assert.deepEqual(file.outcome, { ok: false, error: `cannot start sh: ${join(dir, 'file')} is not a directory` });
  });

  it('runs in cwd with env over the hub\'s own (without the hub\'s HEARTH_ settings and the Supervisor\'s token)', async () => {
    const dir = tempDir();
    process.env.HEARTH_ACTIONS_TEST = 'secret';
    process.env.SUPERVISOR_TOKEN = 'supervisor-secret';
    onCleanup(() => {
      delete process.env.HEARTH_ACTIONS_TEST;
      delete process.env.SUPERVISOR_TOKEN;
    });
    const { outcome, job } = await run({
      type: 'command',
      command: 'sh',
      args: ['-c', 'pwd; printf "%s|%s|%s|%s" "$GREETING" "${HEARTH_ACTIONS_TEST-unset}" "${SUPERVISOR_TOKEN-unset}" "${PATH:+has path}"'],
      cwd: dir,
      env: { GREETING: 'hi there' },
    });
    assert.equal(outcome.ok, true, outcome.error);
    assert.equal(job.text('stdout'), `${dir}\nhi there|unset|unset|has path`);
  });

  it('keeps shell metacharacters in args literal (no shell)', async () => {
    const dir = tempDir();
    const words = ['a; touch pwned1', '$(touch pwned2)', '`touch pwned3`', '*', '$HOME', 'x > pwned4', '|', '&&', "'quoted'"];
    const { outcome, job } = await run({ type: 'command', command: 'printf', args: ['%s\\n', ...words], cwd: dir });
    assert.equal(outcome.ok, true, outcome.error);
    assert.deepEqual(job.text('stdout').split('\n').slice(0, -1), words);
    assert.deepEqual(readdirSync(dir), [], 'nothing was run or redirected');
  });

  it('cancel kills the whole process tree', async () => {
    onCleanup(() => {
      killAll('sleep', '4301');
      killAll('sleep', '4302');
    });
    const job = new MemoryJob();
    const running = run({ type: 'command', command: 'sh', args: ['-c', 'sleep 4301 & sleep 4302; wait'] }, job);
    await untilTrue('both sleeps', () => processesRunning('sleep', '4301').length === 1 && processesRunning('sleep', '4302').length === 1);
    job.controller.abort();
    const { outcome } = await running;
    // SIGTERM ended it: no wait for a kill escalation.
    assert.deepEqual(outcome, { ok: false, exit_code: null, error: 'killed by SIGTERM' });
    assert.deepEqual(processesRunning('sleep', '4301'), [], 'the background sleep is gone');
    assert.deepEqual(processesRunning('sleep', '4302'), [], 'the foreground sleep is gone');
    assert.equal(job.pids.at(-1), null);
  });

  it('stops what the program left running in its group when it exits', async () => {
    onCleanup(() => killAll('sleep', '4303'));
    // Had it waited for the background sleep, it would not end within the test's time.
    const { outcome, job } = await run({ type: 'command', command: 'sh', args: ['-c', 'sleep 4303 & echo started'] });
    assert.deepEqual(outcome, { ok: true, exit_code: 0 });
    assert.equal(job.text('stdout'), 'started\n');
    assert.deepEqual(processesRunning('sleep', '4303'), []);
  });

  it('does not start when the job is already cancelled', async () => {
    const job = new MemoryJob();
    job.controller.abort();
    const { outcome } = await run({ type: 'command', command: 'sh', args: ['-c', 'true'] }, job);
    assert.deepEqual(outcome, { ok: false, error: 'cancelled' });
    assert.deepEqual(job.pids, []);
  });
});

describe('http action', { concurrency: true }, async () => {
  const requests: Array<{ method: string; path: string; headers: IncomingHttpHeaders; body: string }> = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      requests.push({ method: req.method ?? '', path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      if (path === '/ok') res.writeHead(200, { 'content-type': 'text/plain' }).end('hello');
      else if (path === '/fail') res.writeHead(500).end('boom');
      else if (path === '/missing') res.writeHead(404).end('not here');
      else if (path === '/echo') res.writeHead(201).end('created');
      else if (path === '/big') res.writeHead(200).end('x'.repeat(100_000));
      else if (path === '/slow') res.writeHead(200).write('partial'); // and never ends
      else res.writeHead(400).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  onCleanup(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  const base = `http://127.0.0.1:${port}`;

  it('is ok on 200, and shows the status and the answer', async () => {
    const { outcome, job } = await run({ type: 'http', method: 'GET', url: `${base}/ok?token=abc` });
    assert.deepEqual(outcome, { ok: true });
    assert.equal(job.text('stdout'), 'HTTP 200 OK\nhello');
    assert.deepEqual(job.steps, [`GET ${base}/ok: HTTP 200 OK`], 'the query (which may hold a token) is left out');
  });

  it('fails on 500, and on an unexpected status when expect_status is given', async () => {
    const fail = await run({ type: 'http', method: 'GET', url: `${base}/fail` });
    assert.deepEqual(fail.outcome, { ok: false, error: 'HTTP 500 Internal Server Error (expected 2xx)' });
    assert.equal(fail.job.text('stdout'), 'HTTP 500 Internal Server Error\nboom');

    const expected404 = await run({ type: 'http', method: 'GET', url: `${base}/missing`, expect_status: 404 });
    assert.deepEqual(expected404.outcome, { ok: true });
    const not201 = await run({ type: 'http', method: 'GET', url: `${base}/ok`, expect_status: 201 });
    assert.deepEqual(not201.outcome, { ok: false, error: 'HTTP 200 OK (expected 201)' });
  });

  it('sends an object body as JSON with its content-type, text as it is, and the headers', async () => {
    const json = await run({ type: 'http', method: 'POST', url: `${base}/echo`, body: { on: true, level: 3 }, headers: { 'X-Hearth': 'yes' } });
    assert.deepEqual(json.outcome, { ok: true });
    const sent = requests.find((r) => r.path === '/echo' && r.method === 'POST');
    assert.ok(sent);
    assert.equal(sent.headers['content-type'], 'application/json');
    assert.equal(sent.headers['x-hearth'], 'yes');
    assert.deepEqual(JSON.parse(sent.body), { on: true, level: 3 });

    await run({ type: 'http', method: 'PUT', url: `${base}/echo`, body: 'plain text' });
    const text = requests.find((r) => r.path === '/echo' && r.method === 'PUT');
    assert.equal(text?.body, 'plain text');
    assert.doesNotMatch(String(text?.headers['content-type']), /json/);

    await run({ type: 'http', method: 'PATCH', url: `${base}/echo`, body: [1, 2], headers: { 'Content-Type': 'application/merge-patch+json' } });
    const patch = requests.find((r) => r.path === '/echo' && r.method === 'PATCH');
    assert.equal(patch?.headers['content-type'], 'application/merge-patch+json', 'a content-type given is kept');
    assert.equal(patch?.body, '[1,2]');
  });

  it('keeps only the first 2 KB of the answer; HEAD has none', async () => {
    const big = await run({ type: 'http', method: 'GET', url: `${base}/big` });
    assert.equal(big.outcome.ok, true);
    assert.equal(big.job.text('stdout'), `HTTP 200 OK\n${'x'.repeat(2048)}`);
    const head = await run({ type: 'http', method: 'HEAD', url: `${base}/ok` });
    assert.deepEqual(head.outcome, { ok: true });
    assert.equal(head.job.text('stdout'), 'HTTP 200 OK\n');
  });

  it('stops when the job is aborted (cancel or timeout)', async () => {
    const job = new MemoryJob();
    const running = run({ type: 'http', method: 'GET', url: `${base}/slow` }, job);
    await untilTrue('the slow request', () => requests.some((r) => r.path === '/slow'));
    await untilTrue('the answer started', () => job.text('stdout').startsWith('HTTP 200'));
    job.controller.abort(new Error('timed out after 30 s'));
    const { outcome } = await running;
    assert.deepEqual(outcome, { ok: false, error: 'timed out after 30 s' });

    const before = new MemoryJob();
    const waiting = run({ type: 'http', method: 'POST', url: `${base}/slow`, body: 'x' }, before);
    await untilTrue('the second slow request', () => requests.filter((r) => r.path === '/slow').length === 2);
    before.controller.abort();
    assert.deepEqual((await waiting).outcome, { ok: false, error: 'cancelled' });
  });

  it('reports a network error', async () => {
    const closed = await freePort();
    const { outcome } = await run({ type: 'http', method: 'GET', url: `http://127.0.0.1:${closed}/x` });
    assert.equal(outcome.ok, false);
    assert.match(outcome.error ?? '', new RegExp(`^GET http://127\\.0\\.0\\.1:${closed}/x: .*ECONNREFUSED`));
  });
});

describe('mqtt action', () => {
  it('publishes text as it is and objects as JSON, with retain and qos', async () => {
    const { mqtt, deps } = world();
    const a = await run({ type: 'mqtt', topic: 'home/light/set', payload: { state: 'ON', brightness: 128 }, retain: true, qos: 1 }, new MemoryJob(), deps);
    assert.deepEqual(a.outcome, { ok: true });
    assert.deepEqual(a.job.steps, ['published to home/light/set']);
    const b = await run({ type: 'mqtt', topic: 'home/plain', payload: 'ON' }, new MemoryJob(), deps);
    assert.deepEqual(b.outcome, { ok: true });
    await run({ type: 'mqtt', topic: 'home/number', payload: 21.5 }, new MemoryJob(), deps);
    assert.deepEqual(mqtt.published, [
      { topic: 'home/light/set', payload: '{"state":"ON","brightness":128}', opts: { retain: true, qos: 1 } },
      { topic: 'home/plain', payload: 'ON', opts: { retain: false, qos: 0 } },
      { topic: 'home/number', payload: '21.5', opts: { retain: false, qos: 0 } },
    ]);
  });

  it('fails when not connected, when the publish fails, and when cancelled while the broker is silent', async () => {
    const { mqtt, deps } = world();
    mqtt.connected = false;
    const off = await run({ type: 'mqtt', topic: 't', payload: 'x' }, new MemoryJob(), deps);
    assert.deepEqual(off.outcome, { ok: false, error: 'not connected to the MQTT broker' });
    assert.deepEqual(mqtt.published, []);

    mqtt.connected = true;
    mqtt.refuse = new Error('broker said no');
    const refused = await run({ type: 'mqtt', topic: 't', payload: 'x' }, new MemoryJob(), deps);
    assert.deepEqual(refused.outcome, { ok: false, error: 'publish to t failed: broker said no' });

    mqtt.refuse = undefined;
    mqtt.hold = true;
    const job = new MemoryJob();
    const running = run({ type: 'mqtt', topic: 't', payload: 'x', qos: 2 }, job, deps);
    await untilTrue('the publish', () => mqtt.published.length === 1);
    job.controller.abort();
    assert.deepEqual((await running).outcome, { ok: false, error: 'cancelled' });
  });
});

describe('agent action', () => {
  it('starts, stops and restarts the agent', async () => {
    const { agents, deps } = world();
    for (const verb of ['start', 'stop', 'restart']) {
      const { outcome, job } = await run({ type: 'agent', agent: 'web', do: verb }, new MemoryJob(), deps);
      assert.deepEqual(outcome, { ok: true });
      assert.deepEqual(job.steps, [`${verb} agent "web"`]);
    }
    assert.deepEqual(agents.calls, ['start web', 'stop web', 'restart web']);
  });

  it('turns a refusal of the agent manager into a failure, and lets a bug through', async () => {
    const { agents, deps } = world();
    agents.refuse = conflict('agent "web" is being deleted');
    const { outcome } = await run({ type: 'agent', agent: 'web', do: 'start' }, new MemoryJob(), deps);
    assert.deepEqual(outcome, { ok: false, error: 'agent "web" is being deleted' });
    // Deleted since the task was made: the stored action still runs, and the manager refuses.
    agents.refuse = undefined;
    const gone = await runAction({ type: 'agent', agent: 'gone', do: 'stop' }, new MemoryJob(), deps);
    assert.deepEqual(gone, { ok: false, error: 'no agent "gone"' });

    agents.refuse = new TypeError('a bug');
    await assert.rejects(run({ type: 'agent', agent: 'web', do: 'stop' }, new MemoryJob(), deps), TypeError);
  });
});

describe('workflow action', () => {
  it('runs its steps in order, each announced', async () => {
    const { mqtt, agents, deps } = world();
    const { outcome, job } = await run(
      {
        type: 'workflow',
        steps: [
          { type: 'mqtt', topic: 'a', payload: '1' },
          { type: 'agent', agent: 'bot', do: 'restart' },
          { type: 'command', command: 'sh', args: ['-c', 'echo three'] },
          { type: 'mqtt', topic: 'b', payload: '4' },
        ],
      },
      new MemoryJob(),
      deps,
    );
    assert.deepEqual(outcome, { ok: true });
    assert.deepEqual(job.steps, ['step 1/4: mqtt', 'published to a', 'step 2/4: agent', 'restart agent "bot"', 'step 3/4: command', 'step 4/4: mqtt', 'published to b']);
    assert.deepEqual(mqtt.published.map((p) => p.topic), ['a', 'b']);
    assert.deepEqual(agents.calls, ['restart bot']);
    assert.equal(job.text('stdout'), 'three\n');
    assert.deepEqual(job.progresses, [25, 50, 75, 100]);
  });

  it('stops at the first failing step, with its outcome', async () => {
    const { mqtt, deps } = world();
    const { outcome, job } = await run(
      {
        type: 'workflow',
        steps: [
          { type: 'mqtt', topic: 'a', payload: '1' },
          { type: 'command', command: 'sh', args: ['-c', 'exit 2'] },
          { type: 'mqtt', topic: 'never', payload: '3' },
        ],
      },
      new MemoryJob(),
      deps,
    );
    assert.deepEqual(outcome, { ok: false, exit_code: 2, error: 'step 2 (command): exited with code 2' });
    assert.deepEqual(mqtt.published.map((p) => p.topic), ['a']);
    assert.deepEqual(job.steps, ['step 1/3: mqtt', 'published to a', 'step 2/3: command']);
  });

  it('nests, and maps a step\'s own progress into its share', async () => {
    const { mqtt, deps } = world();
    const { outcome, job } = await run(
      {
        type: 'workflow',
        steps: [
          { type: 'mqtt', topic: 'a', payload: '1' },
          {
            type: 'workflow',
            steps: [
              { type: 'command', command: 'sh', args: ['-c', 'echo "::progress 50"'] },
              { type: 'mqtt', topic: 'b', payload: '2' },
            ],
          },
        ],
      },
      new MemoryJob(),
      deps,
    );
    assert.deepEqual(outcome, { ok: true });
    assert.deepEqual(mqtt.published.map((p) => p.topic), ['a', 'b']);
    // Outer step 1 done: 50. Inner step 1 at 50% is a quarter of the inner, an eighth of the whole.
    assert.deepEqual(job.progresses, [50, 62.5, 75, 100, 100]);
    assert.deepEqual(job.steps, ['step 1/2: mqtt', 'published to a', 'step 2/2: workflow', 'step 1/2: command', 'step 2/2: mqtt', 'published to b']);

    const failing = await run(
      { type: 'workflow', steps: [{ type: 'workflow', steps: [{ type: 'mqtt', topic: 'c', payload: '' }, { type: 'command', command: 'sh', args: ['-c', 'exit 3'] }] }] },
      new MemoryJob(),
      deps,
    );
    assert.deepEqual(failing.outcome, { ok: false, exit_code: 3, error: 'step 1 (workflow): step 2 (command): exited with code 3' });
  });

  it('honours a cancel between steps', async () => {
    const { agents, mqtt, deps } = world();
    const job = new MemoryJob();
    agents.onCall = () => job.controller.abort(); // cancelled while step 1 runs; step 1 still ends well
    const { outcome } = await run(
      { type: 'workflow', steps: [{ type: 'agent', agent: 'web', do: 'start' }, { type: 'mqtt', topic: 'never', payload: 'x' }] },
      job,
      deps,
    );
    assert.deepEqual(outcome, { ok: false, error: 'cancelled' });
    assert.deepEqual(agents.calls, ['start web']);
    assert.deepEqual(mqtt.published, []);
    assert.deepEqual(job.steps, ['step 1/2: agent', 'start agent "web"']);
  });

  it('passes a cancel to the running step (a command\'s tree dies)', async () => {
    onCleanup(() => killAll('sleep', '4304'));
    const { mqtt, deps } = world();
    const job = new MemoryJob();
    const running = run(
      { type: 'workflow', steps: [{ type: 'command', command: 'sh', args: ['-c', 'sleep 4304'] }, { type: 'mqtt', topic: 'never', payload: 'x' }] },
      job,
      deps,
    );
    await untilTrue('the sleep', () => processesRunning('sleep', '4304').length === 1);
    job.controller.abort();
    assert.deepEqual((await running).outcome, { ok: false, exit_code: null, error: 'step 1 (command): killed by SIGTERM' });
    assert.deepEqual(processesRunning('sleep', '4304'), []);
    assert.deepEqual(mqtt.published, []);
  });
});

describe('parseAction', () => {
  const { deps } = world();
  const error = (value: unknown): string => {
    const r = parseAction(value, deps);
    assert.equal(r.ok, false, `${JSON.stringify(value)} was accepted`);
    return r.ok ? '' : r.error;
  };

  it('knows the registered types', () => {
    assert.deepEqual(ACTION_TYPES.map((t) => t.type), ['command', 'agent', 'http', 'mqtt', 'workflow', 'ha_service']);
    const good: Action[] = [
      { type: 'command', command: 'backup.sh', args: ['--all'], cwd: '/tmp', env: { A: '1' } },
      { type: 'agent', agent: 'web', do: 'restart' },
      { type: 'http', method: 'POST', url: 'https://example.com/hook', headers: { Authorization: 'Bearer x' }, body: { a: 1 }, expect_status: 204 },
      { type: 'mqtt', topic: 'home/x', payload: 'ON', retain: true, qos: 2 },
      { type: 'workflow', steps: [{ type: 'mqtt', topic: 'a', payload: 1 }, { type: 'workflow', steps: [{ type: 'agent', agent: 'bot', do: 'stop' }] }] },
      { type: 'ha_service', service: 'light.turn_on', target: { entity_id: ['light.a', 'light.b'], area_id: 'kitchen' }, data: { brightness_pct: 50 }, return_response: false },
    ];
    for (const a of good) assert.deepEqual(parseAction(a, deps), { ok: true, value: a });
  });

  it('names what is wrong, from "action" down', () => {
    assert.equal(error('backup'), 'action: must be object');
    assert.equal(error({ command: 'x' }), 'action: missing field "type"');
    assert.equal(error({ type: 'app', id: 'x' }), 'action.type: must be one of command, agent, http, mqtt, workflow, ha_service');
    assert.equal(error({ type: 7 }), 'action.type: must be one of command, agent, http, mqtt, workflow, ha_service');
    assert.equal(error({ type: 'command' }), 'action: missing field "command"');
    assert.equal(error({ type: 'command', command: 'x', shell: true }), 'action: unknown field "shell"');
    assert.equal(error({ type: 'command', command: 'x', args: 'a b' }), 'action.args: must be array');
    assert.equal(error({ type: 'command', command: 'x', env: { 'BAD-NAME': '1' } }), 'action.env: unknown field "BAD-NAME"');
    assert.equal(error({ type: 'http', method: 'GET', url: 'http://x', headers: { 'bad header': 'x' } }), 'action.headers: unknown field "bad header"');
    assert.match(error({ type: 'http', method: 'GET', url: 'http://x', headers: { 'X-A': 'a\r\nX-B: b' } }), /^action\.headers\.X-A: must match pattern/);
    assert.equal(error({ type: 'agent', agent: 'web' }), 'action: missing field "do"');
    assert.equal(error({ type: 'agent', agent: 'web', do: 'kill' }), 'action.do: must be one of start, stop, restart');
    assert.equal(error({ type: 'http', url: 'http://x' }), 'action: missing field "method"');
    assert.equal(error({ type: 'http', method: 'FETCH', url: 'http://x' }), 'action.method: must be one of GET, POST, PUT, PATCH, DELETE, HEAD');
    assert.match(error({ type: 'http', method: 'GET', url: 'ftp://x' }), /^action\.url: must match pattern/);
    assert.equal(error({ type: 'http', method: 'GET', url: 'http://[bad' }), 'action.url: is not a valid URL');
    assert.equal(error({ type: 'http', method: 'GET', url: 'http://x', body: 'hi' }), 'action.body: a GET request has no body');
    assert.equal(error({ type: 'http', method: 'POST', url: 'http://x', body: 3 }), 'action.body: must be a string, an object or an array');
    assert.equal(error({ type: 'http', method: 'GET', url: 'http://x', expect_status: 99 }), 'action.expect_status: must be >= 100');
    assert.equal(error({ type: 'mqtt', topic: 'a' }), 'action: missing field "payload"');
    assert.match(error({ type: 'mqtt', topic: 'home/+/set', payload: 'x' }), /^action\.topic: must match pattern/);
    assert.equal(error({ type: 'mqtt', topic: 'a', payload: null }), 'action.payload: must be a string, a number, a boolean, an object or an array');
    assert.equal(error({ type: 'mqtt', topic: 'a', payload: 'x', qos: 3 }), 'action.qos: must be one of 0, 1, 2');
    assert.equal(error({ type: 'workflow', steps: [] }), 'action.steps: must NOT have fewer than 1 items');
    assert.equal(error({ type: 'ha_service' }), 'action: missing field "service"');
    assert.match(error({ type: 'ha_service', service: 'turn_on' }), /^action\.service: must match pattern/);
    assert.equal(error({ type: 'ha_service', service: 'light.turn_on', target: { entity: 'light.a' } }), 'action.target: unknown field "entity"');
    assert.equal(error({ type: 'ha_service', service: 'light.turn_on', data: [1] }), 'action.data: must be object');
    assert.equal(error({ type: 'workflow', steps: Array.from({ length: 51 }, () => ({ type: 'mqtt', topic: 'a', payload: 'x' })) }), 'action.steps: must NOT have more than 50 items');
  });

  it('says which nested step is wrong', () => {
    const ok = { type: 'mqtt', topic: 'a', payload: 'x' };
    assert.equal(error({ type: 'workflow', steps: [ok, 'x'] }), 'action.steps.1: must be object');
    assert.equal(error({ type: 'workflow', steps: [ok, ok, { type: 'command' }] }), 'action.steps.2: missing field "command"');
    assert.equal(error({ type: 'workflow', steps: [{ type: 'nope' }] }), 'action.steps.0.type: must be one of command, agent, http, mqtt, workflow, ha_service');
    assert.equal(error({ type: 'workflow', steps: [ok, { type: 'mqtt', topic: 'a', payload: 'x', qos: 5 }] }), 'action.steps.1.qos: must be one of 0, 1, 2');
    assert.equal(
      error({ type: 'workflow', steps: [ok, { type: 'workflow', steps: [ok, { type: 'command', command: 'x', args: [1] }] }] }),
      'action.steps.1.steps.1.args.0: must be string',
    );
    let deep: Record<string, unknown> = ok;
    for (let i = 0; i < 12; i++) deep = { type: 'workflow', steps: [deep] };
    assert.match(error(deep), /^action(\.steps\.0)+: nested deeper than 10 levels$/);
  });

  it('refuses an unknown agent, at the top or in a step', () => {
    assert.equal(error({ type: 'agent', agent: 'ghost', do: 'start' }), 'no agent "ghost"');
    assert.equal(
      error({ type: 'workflow', steps: [{ type: 'mqtt', topic: 'a', payload: 'x' }, { type: 'agent', agent: 'ghost', do: 'stop' }] }),
      'action.steps.1: no agent "ghost"',
    );
  });
});

describe('runAction', () => {
  it('refuses a stored action its type no longer accepts', async () => {
    const { deps } = world();
    assert.deepEqual(await runAction({ type: 'app', id: 'x' }, new MemoryJob(), deps), {
      ok: false,
      error: 'action.type: must be one of command, agent, http, mqtt, workflow, ha_service',
    });
    assert.deepEqual(await runAction({ type: 'command' }, new MemoryJob(), deps), { ok: false, error: 'action: missing field "command"' });
  });
});
