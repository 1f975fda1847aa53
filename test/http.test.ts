/** The HTTP API as a user or the panel calls it: auth, errors, metrics, history, docs, live events. */
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { api, startHub, type HubHandle } from './helpers/hub.js';
import { until } from './helpers/wait.js';

describe('HTTP API', () => {
  let h: HubHandle;
  before(async () => {
    h = await startHub();
  });

  it('serves /api/health without a token and nothing else', async () => {
    const health = await api<{ healthy: boolean }>(h.http, null, 'GET', '/api/health');
    assert.equal(health.status, 200);
    assert.equal(health.body.healthy, true);
    const none = await api<{ error: string }>(h.http, null, 'GET', '/api/info');
    assert.equal(none.status, 401);
    assert.match(none.body.error, /missing bearer token/);
    const wrong = await api<{ error: string }>(h.http, 'not-the-token', 'GET', '/api/info');
    assert.equal(wrong.status, 401);
    assert.deepEqual(wrong.body, { error: 'invalid token (unknown, revoked or expired)' });
    // Percent-encoding the path reaches the same route: it needs the token all the same.
    for (const path of ['/%61pi/info', '/ap%69/agents', '/api/%61gents', '/api/agents/', '//api/info']) {
      const r = await api<{ error?: string }>(h.http, null, 'GET', path);
      assert.ok(r.status === 401 || r.status === 404, `${path}: ${r.status}`);
    }
    const sneaky = await api(h.http, null, 'POST', '/%61pi/agents', { name: 'pwn', command: 'touch', args: ['/tmp/hearth-pwned'] });
    assert.equal(sneaky.status, 401);
    assert.equal((await h.api('GET', '/api/agents/pwn')).status, 404, 'nothing was created');
  });

  it('generates the admin token once, readable only by its owner', async () => {
    const file = join(h.dataDir, 'admin-token');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.ok(h.token.length >= 32);
  });

  it('answers /api/info', async () => {
    const r = await h.api<{ node_id: string; counts: Record<string, number>; broker: { mode: string; connected: boolean } }>('GET', '/api/info');
    assert.equal(r.status, 200);
    assert.equal(r.body.node_id, 'testnode');
    assert.deepEqual(r.body.counts, { agent: 0, task: 0, device: 0 });
    assert.deepEqual(r.body.broker.mode, 'embedded');
    assert.equal(r.body.broker.connected, true);
  });

  it('answers 404 with a JSON error for an unknown route', async () => {
    const r = await h.api<{ error: string }>('GET', '/api/nope');
    assert.equal(r.status, 404);
    assert.deepEqual(r.body, { error: 'no route GET /api/nope' });
  });

  it('returns the current host metrics', async () => {
    const r = await h.api<{ cpu_percent: number; disks: Array<{ mount: string }>; booted_at: string }>('GET', '/api/system-metrics');
    assert.equal(r.status, 200);
    assert.equal(typeof r.body.cpu_percent, 'number');
    assert.ok(r.body.disks.some((d) => d.mount === '/'));
    assert.ok(!Number.isNaN(Date.parse(r.body.booted_at)));
  });

  it('returns metric history from the database, averaged per step', async () => {
    // Samples come every second in tests; wait for three of them to be stored.
    const r = await until(
      'three stored samples',
      () => h.api<{ step: number; series: string[]; points: Array<{ t: string; values: Record<string, number> }> }>('GET', '/api/system-metrics/history?since=10m&step=1'),
      (x) => x.status === 200 && x.body.points.length >= 3,
    );
    assert.equal(r.body.step, 1);
    assert.ok(r.body.series.includes('cpu_percent'));
    assert.ok(r.body.series.includes('disk./'));
    const wide = await h.api<{ step: number; points: unknown[] }>('GET', '/api/system-metrics/history?since=10m&step=600');
    assert.equal(wide.body.step, 600);
    assert.equal(wide.body.points.length, 1, 'all samples in one 10-minute bucket');
    const iso = await h.api<{ points: unknown[] }>('GET', `/api/system-metrics/history?since=${encodeURIComponent(new Date(Date.now() - 600_000).toISOString())}`);
    assert.equal(iso.status, 200);
  });

  it('refuses bad history queries with 400 and a clear message', async () => {
    const cases: Array<[string, RegExp]> = [
      ['since=yesterday-ish', /since: "yesterday-ish" is not a time/],
      ['step=abc', /^step: must be integer$/],
      ['step=0', /^step: must be >= 1$/],
      ['since=1h&until=2h', /since must be before until/],
      ['colour=red', /unknown field "colour"/],
    ];
    for (const [q, message] of cases) {
      const r = await h.api<{ error: string }>('GET', `/api/system-metrics/history?${q}`);
      assert.equal(r.status, 400, q);
      assert.match(r.body.error, message, q);
    }
  });

  it('refuses an oversized body with 413 and bad JSON with 400', async () => {
    const big = await h.api<{ error: string }>('POST', '/api/discovery/hearth_testnode/show', JSON.stringify({ x: 'a'.repeat(1_100_000) }));
    assert.equal(big.status, 413);
    assert.match(big.body.error, /too large/i);
    const broken = await h.api<{ error: string }>('POST', '/api/discovery/hearth_testnode/show', '{"x":');
    assert.equal(broken.status, 400);
    assert.match(broken.body.error, /JSON/i);
    const badId = await h.api<{ error: string }>('POST', '/api/discovery/..%2F..%2Fetc/show');
    assert.equal(badId.status, 400);
    assert.match(badId.body.error, /device_id/);
  });

  it('documents itself: OpenAPI at /docs/json, browsable at /docs', async () => {
    const doc = await api<{ openapi: string; paths: Record<string, unknown> }>(h.http, null, 'GET', '/docs/json');
    assert.equal(doc.status, 200);
    assert.match(doc.body.openapi, /^3\./);
    for (const p of ['/api/health', '/api/info', '/api/system-metrics', '/api/system-metrics/history']) assert.ok(doc.body.paths[p], p);
    const page = await fetch(`${h.http}/docs/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /swagger/i);
  });

  it('refuses the /api/events WebSocket without the token, also on an encoded path, and an unknown event type', async () => {
    for (const path of ['/%61pi/events', '/api/events']) {
      const ws = new WebSocket(`${h.http.replace('http', 'ws')}${path}`);
      ws.on('error', () => undefined);
      const code = await new Promise<number>((resolve) => ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
      ws.terminate();
      assert.equal(code, 401, path);
    }
    const odd = new WebSocket(`${h.http.replace('http', 'ws')}/api/events?types=thing.changed,nope&token=${encodeURIComponent(h.token)}`);
    const closed = await new Promise<number>((resolve) => odd.on('close', (c) => resolve(c)));
    assert.equal(closed, 1008);
  });

  it('streams each state change over the /api/events WebSocket as its own event, in order', async () => {
    // A hub of its own: this test creates things, which the other tests' hub must not see.
    const own = await startHub();
    const ws = new WebSocket(`${own.http.replace('http', 'ws')}/api/events?types=thing.changed,thing.removed,job.changed&token=${encodeURIComponent(own.token)}`);
    const seen: Array<{ type: string; data: Record<string, unknown> }> = [];
    ws.on('message', (raw) => seen.push(JSON.parse(raw.toString()) as { type: string; data: Record<string, unknown> }));
    try {
      await until('the hello', () => seen, (s) => s[0]?.type === 'hello');
      /** What the stream said about agent ws_agent, in order: its settled statuses (a passing `starting` may be folded into the next), then `removed`. */
      const agentStory = (): string[] =>
        seen
          .filter((m) => m.data.kind === 'agent' && m.data.id === 'ws_agent')
          .map((m) => (m.type === 'thing.removed' ? 'removed' : String((m.data.state as { status: string }).status)))
          .filter((st) => st !== 'starting' && st !== 'stopping')
          .filter((st, i, all) => st !== all[i - 1]);
      const step = async (what: string, act: () => Promise<number>, want: string[]): Promise<void> => {
        assert.ok([200, 201].includes(await act()), what);
        await until(`the events of ${what}`, agentStory, (got) => got.at(-1) === want.at(-1));
        assert.deepEqual(agentStory(), want, what);
      };
      await step('create', async () => (await own.api('POST', '/api/agents', { name: 'ws agent', command: 'sleep', args: ['600'], autostart: false })).status, ['stopped']);
      await step('start', async () => (await own.api('POST', '/api/agents/ws_agent/start')).status, ['stopped', 'running']);
      await step('stop', async () => (await own.api('POST', '/api/agents/ws_agent/stop')).status, ['stopped', 'running', 'stopped']);
      await step('delete', async () => (await own.api('DELETE', '/api/agents/ws_agent')).status, ['stopped', 'running', 'stopped', 'removed']);

      assert.equal((await own.api('POST', '/api/tasks', { name: 'ws task', action: { type: 'command', command: 'true' } })).status, 201);
      const run = await own.api<{ id: number }>('POST', '/api/tasks/ws_task/run');
      const jobStory = (): string[] => seen.filter((m) => m.type === 'job.changed' && m.data.id === run.body.id).map((m) => String(m.data.status)).filter((st, i, all) => st !== all[i - 1]);
      await until('the job events to its end', jobStory, (got) => got.at(-1) === 'succeeded');
      assert.deepEqual(jobStory(), ['running', 'succeeded']);
      assert.ok(seen.every((m) => ['hello', 'thing.changed', 'thing.removed', 'job.changed'].includes(m.type)), 'only the types asked for');
    } finally {
      ws.terminate();
      await own.stop();
    }
  });
});
