/** Health checks against real servers and processes; MQTT through a stand-in for our MqttAccess. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { onCleanup } from './helpers/cleanup.js';
import { offBridge } from './helpers/ha-bridge.js';
import { tempDir } from './helpers/tmp.js';
import { positivePid, until, untilTrue } from './helpers/wait.js';
import { HealthCheck, type CheckResult, type HealthCheckDeps } from '../src/hub/supervisor/health-checks.js';
import { groupMembers } from '../src/hub/supervisor/procfs.js';
import type { HealthCheckSpec } from '../src/hub/supervisor/spec.js';
import type { MqttAccess } from '../src/hub/mqtt-access.js';

/** Our MqttAccess interface, in memory: subscribe/publish on exact topics. */
class MemoryMqtt extends EventEmitter implements MqttAccess {
  private up = true;
  /** How often a check asked whether MQTT is up: a heartbeat check asks at every tick. */
  asked = 0;
  subscribers = 0;

  get connected(): boolean {
    this.asked++;
    return this.up;
  }

  set connected(up: boolean) {
    this.up = up;
  }

  subscribe(filter: string, handler: (topic: string, payload: string) => void): () => void {
    const listener = (payload: string): void => handler(filter, payload);
    this.on(filter, listener);
    this.subscribers++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.off(filter, listener);
      this.subscribers--;
    };
  }

  async publish(topic: string, payload: string): Promise<void> {
    this.emit(topic, payload);
  }
}

const noMqtt = new MemoryMqtt();

/** A started check and the verdicts it gave, stopped when the file ends. */
function run(spec: HealthCheckSpec, deps: HealthCheckDeps = { mqtt: noMqtt, ha: offBridge() }): { check: HealthCheck; results: CheckResult[]; next: (n?: number) => Promise<CheckResult> } {
  const check = new HealthCheck(spec, deps);
  const results: CheckResult[] = [];
  check.start((r) => results.push(r));
  onCleanup(() => check.stop());
  /** The n-th verdict from now (1 = the next one). */
  const next = (n = 1): Promise<CheckResult> => {
    const want = results.length + n;
    return until(`verdict #${want} of the ${spec.type} check`, () => results[want - 1], (r) => r !== undefined, { everyMs: 10 }) as Promise<CheckResult>;
  };
  return { check, results, next };
}

async function listen(server: HttpServer | TcpServer): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  assert.ok(addr && typeof addr === 'object');
  return addr.port;
}

// Every check waits for its ticks (interval_s is at least 1 s): they all run at once.
describe('health checks', { concurrency: true }, () => {
  describe('http check', { concurrency: true }, () => {
    it('is ok on 2xx, not on 500, and gives its first verdict early', async () => {
      let status = 200;
      const server = createHttpServer((_req, res) => {
        res.writeHead(status);
        res.end('hello');
      });
      const port = await listen(server);
      onCleanup(() => new Promise((r) => server.close(r)));

      // A 30 s interval: a verdict within next()'s 10 s can only be the early first check.
      const slow = run({ type: 'http', url: `http://127.0.0.1:${port}/health`, interval_s: 30, timeout_s: 0.5 });
      const early = await slow.next();
      assert.equal(early.ok, true, early.detail);
      slow.check.stop();

      const { check, next } = run({ type: 'http', url: `http://127.0.0.1:${port}/health`, interval_s: 1, timeout_s: 0.5 });
      const first = await next();
      assert.equal(first.ok, true, first.detail);
      assert.match(first.detail, /200/);

      status = 500;
      const second = await next();
      assert.equal(second.ok, false);
      assert.match(second.detail, /500/);
      check.stop();
    });

    it('takes expect_status literally, counts a redirect as fine, and fails on no answer or no server', async () => {
      const server = createHttpServer((req, res) => {
        if (req.url === '/moved') res.writeHead(302, { location: '/elsewhere' }).end();
        else if (req.url === '/teapot') res.writeHead(418).end();
        // '/hang': never answers
      });
      const port = await listen(server);
      onCleanup(() => {
        server.closeAllConnections();
        return new Promise((r) => server.close(r));
      });
      const base = `http://127.0.0.1:${port}`;
      const checks = [
        run({ type: 'http', url: `${base}/teapot`, expect_status: 418, interval_s: 1, timeout_s: 0.5 }),
        run({ type: 'http', url: `${base}/moved`, interval_s: 1, timeout_s: 0.5 }),
        run({ type: 'http', url: `${base}/moved`, expect_status: 200, interval_s: 1, timeout_s: 0.5 }),
        run({ type: 'http', url: `${base}/hang`, interval_s: 1, timeout_s: 0.5 }),
      ];
      const [teapot, moved, notMoved, hang] = await Promise.all(checks.map((c) => c.next()));
      assert.equal(teapot!.ok, true, teapot!.detail);
      assert.equal(moved!.ok, true, moved!.detail);
      assert.equal(notMoved!.ok, false);
      assert.match(notMoved!.detail, /302 \(expected 200\)/);
      assert.equal(hang!.ok, false);
      assert.match(hang!.detail, /within 0\.5 s/);
      for (const c of checks) c.check.stop();

      const closed = await new Promise<number>((resolve) => {
        const s = createHttpServer();
        s.listen(0, '127.0.0.1', () => {
          const p = (s.address() as { port: number }).port;
          s.close(() => resolve(p));
        });
      });
      const refused = await run({ type: 'http', url: `http://127.0.0.1:${closed}/`, interval_s: 1, timeout_s: 0.5 }).next();
      assert.equal(refused.ok, false);
      assert.match(refused.detail, /ECONNREFUSED/);
    });

    it('never runs two checks at once: a tick during a slow check is skipped', async () => {
      let inFlight = 0;
      let most = 0;
      let requests = 0;
      const server = createHttpServer((_req, res) => {
        requests++;
        inFlight++;
        most = Math.max(most, inFlight);
        setTimeout(() => {
          inFlight--;
          res.writeHead(204).end();
        }, 1500);
      });
      const port = await listen(server);
      onCleanup(() => {
        server.closeAllConnections();
        return new Promise((r) => server.close(r));
      });
      // Ticks at 1, 2, 3 s; the first check lasts until 2.5 s, so the tick at 2 s is skipped.
      const { check, next } = run({ type: 'http', url: `http://127.0.0.1:${port}/`, interval_s: 1, timeout_s: 5 });
      assert.equal((await next()).ok, true);
      await untilTrue('the check after the skipped tick', () => requests === 2, { timeoutMs: 5000, everyMs: 10 });
      assert.equal(most, 1, 'one request at a time');
      check.stop();
    });
  });

  describe('tcp check', { concurrency: true }, () => {
    it('is ok while something listens, not once it closed', async () => {
      const sockets = new Set<Socket>();
      const server = createTcpServer((s) => {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
      });
      const port = await listen(server);
      onCleanup(() => new Promise((r) => server.close(r)));

      const { check, next } = run({ type: 'tcp', port, interval_s: 1, timeout_s: 0.5 });
      const up = await next();
      assert.equal(up.ok, true, up.detail);
      assert.equal(up.detail, `connected to 127.0.0.1:${port}`);

      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      const down = await next();
      assert.equal(down.ok, false);
      assert.match(down.detail, new RegExp(`127\\.0\\.0\\.1:${port}: ECONNREFUSED`));
      check.stop();
    });
  });

  describe('command check', { concurrency: true }, () => {
    it('is ok on exit 0 and not otherwise, and quotes what the command said', async () => {
      const t = run({ type: 'command', command: 'true', interval_s: 1, timeout_s: 0.5 });
      const f = run({ type: 'command', command: 'false', interval_s: 1, timeout_s: 0.5 });
      const said = run({ type: 'command', command: 'sh', args: ['-c', 'echo "disk full" >&2; exit 3'], interval_s: 1, timeout_s: 0.5 });
      const missing = run({ type: 'command', command: 'hearth-no-such-command', interval_s: 1, timeout_s: 0.5 });
      const [ok, notOk, quoted, absent] = await Promise.all([t.next(), f.next(), said.next(), missing.next()]);
      assert.deepEqual([ok.ok, ok.detail], [true, 'exit 0']);
      assert.deepEqual([notOk.ok, notOk.detail], [false, 'exit 1']);
      assert.deepEqual([quoted.ok, quoted.detail], [false, 'exit 3: disk full']);
      assert.equal(absent.ok, false);
      assert.match(absent.detail, /ENOENT/);
    });

    it('runs without a shell, in the cwd and env it is given', async () => {
      const dir = tempDir();
      const r = await run(
        { type: 'command', command: 'sh', args: ['-c', 'test "$PWD" = "$WANT" && test "$1" = "a;b *"', 'sh', 'a;b *'], interval_s: 1, timeout_s: 2 },
        { mqtt: noMqtt, ha: offBridge(), cwd: dir, env: { WANT: dir } },
      ).next();
      assert.equal(r.ok, true, r.detail);
    });

    it('kills the whole process group of a command that runs past its timeout', async () => {
      const dir = tempDir();
      const pidFile = join(dir, 'pgid');
      const { check, next } = run({
        type: 'command',
        command: 'sh',
        args: ['-c', `echo $$ > ${pidFile}; sleep 30 & sleep 30`],
        interval_s: 1,
        timeout_s: 0.5,
      });
      const r = await next();
      check.stop();
      assert.equal(r.ok, false);
      assert.match(r.detail, /timed out after 0\.5 s/);
      const pgid = positivePid(readFileSync(pidFile, 'utf8'));
      assert.ok(pgid, 'the command wrote its pid before it was killed');
      await until('no process left in its group', () => groupMembers(pgid), (left) => left.length === 0, { timeoutMs: 5000 });
    });

    it('stop() kills a command in flight and reports nothing more', async () => {
      const dir = tempDir();
      const pidFile = join(dir, 'pgid');
      const { check, results } = run({
        type: 'command',
        command: 'sh',
        args: ['-c', `echo $$ > ${pidFile}; sleep 30 & sleep 30`],
        interval_s: 1,
        timeout_s: 60,
      });
      const pgid = (await until('the check command running', () => (existsSync(pidFile) ? positivePid(readFileSync(pidFile, 'utf8')) : undefined), (p) => p !== undefined, { timeoutMs: 5000, everyMs: 10 }))!;
      await until('its sleeps started', () => groupMembers(pgid), (m) => m.length === 3, { timeoutMs: 5000, everyMs: 10 });
      check.stop();
      assert.equal(check.running, false);
      await until('no process left in its group', () => groupMembers(pgid), (left) => left.length === 0, { timeoutMs: 5000 });
      // Once this process reaped the shell, the check has seen its exit and would report it within
      // the 200 ms it leaves the pipes to drain: a later timer fires after that one.
      await untilTrue('the command reaped', () => !existsSync(`/proc/${pgid}`), { timeoutMs: 5000 });
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(results.length, 0, 'a stopped check gives no verdict');
    });
  });

  describe('mqtt heartbeat check', { concurrency: true }, () => {
    it('is ok while heartbeats come, not when they stop; stop unsubscribes', async () => {
      const mqtt = new MemoryMqtt();
      const topic = 'agents/bot/heartbeat';
      const beat = setInterval(() => void mqtt.publish(topic, 'alive'), 200);
      onCleanup(() => clearInterval(beat));

      const { check, next } = run({ type: 'mqtt', topic, interval_s: 1, timeout_s: 0.5 }, { mqtt, ha: offBridge() });
      assert.equal(mqtt.subscribers, 1);
      const first = await next();
      assert.equal(first.ok, true, first.detail);
      assert.match(first.detail, /heartbeat on agents\/bot\/heartbeat/);

      clearInterval(beat);
      // Within interval + timeout of the last beat it still counts; then it does not.
      const verdict = await until('a failing verdict', () => next(), (r) => !r.ok);
      assert.match(verdict.detail, /no heartbeat on agents\/bot\/heartbeat for/);

      check.stop();
      assert.equal(mqtt.subscribers, 0, 'unsubscribed');
    });

    it('gives its first verdict after interval_s, not at the early first check of the other types', async () => {
      const mqtt = new MemoryMqtt();
      const topic = 'agents/late/heartbeat';
      const { check, next } = run({ type: 'mqtt', topic, interval_s: 3, timeout_s: 0.5 }, { mqtt, ha: offBridge() });
      // The first heartbeat comes after the 2 s an early check would wait and before interval_s: a
      // first verdict any earlier would be a failure. Timers fire in order, so load cannot reorder it.
      const late = setTimeout(() => void mqtt.publish(topic, 'alive'), 2200);
      onCleanup(() => clearTimeout(late));
      const first = await next();
      assert.equal(first.ok, true, first.detail);
      check.stop();
    });

    it('fails with no heartbeat at all, and gives no verdict while the hub has no MQTT', async () => {
      const mqtt = new MemoryMqtt();
      const { check, results, next } = run({ type: 'mqtt', topic: 'silent', interval_s: 1, timeout_s: 0.5 }, { mqtt, ha: offBridge() });
      const r = await next();
      assert.deepEqual([r.ok, r.detail], [false, 'no heartbeat on silent yet']);

      mqtt.connected = false;
      const before = results.length;
      const asked = mqtt.asked;
      // A tick without MQTT (it asks whether MQTT is up, and gives its verdict in the same turn)
      // gives no verdict; then MQTT is back.
      await untilTrue('a tick without MQTT', () => mqtt.asked > asked);
      assert.equal(results.length, before, 'no verdict without MQTT');
      mqtt.connected = true;
      await mqtt.publish('silent', 'hi');
      const back = await next();
      assert.equal(back.ok, true, back.detail);
      check.stop();
    });
  });
});
