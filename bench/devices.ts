/**
 * Device telemetry latency: a simulated meter on a pty (socat) writes 2000 lines a second, each with
 * its sequence number and the time it left (test/fixtures/devices/meter-sim.mjs --rate). An MQTT
 * subscriber stamps each line as it arrives on `<base>/device/<id>/rx`; latency = arrival - departure
 * (both clocks are this machine's, performance.timeOrigin + now()). Lines lost = sequence numbers
 * missing. The same for the least a forwarder can do (serialport + a line split + mqtt.js publish to
 * the same broker), for scale. The two run one after the other, each on its own pty pair.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt, { type MqttClient } from 'mqtt';
import { api, assertBuilt, exitOf, HUB_NODE_ID, ROOT, startHub, stopChild, stopHub, type HubProc } from './hub-process.js';
import { absoluteRow, ratioRow, round, withTimeout, type Result } from './types.js';

const RATE = 2000;
const WARMUP_MS = 2000;
const MEASURE_MS = 10_000;
const GOAL_P99_MS = 5;
const SIM = join(ROOT, 'test/fixtures/devices/meter-sim.mjs');

/** The baseline forwarder: serialport (with the hub's binding) and mqtt.js, nothing else. */
const FORWARDER_SRC = `
import { SerialPortStream } from '@serialport/stream';
import mqtt from 'mqtt';
import { serialBinding } from './dist/bridges/devices/serial-binding.js';
const [path, url, topic] = process.argv.slice(1);
const client = await mqtt.connectAsync(url, { clientId: 'bench_forwarder' });
client.stream.setNoDelay?.(true);
const port = new SerialPortStream({ binding: serialBinding, path, baudRate: 115200 });
let rest = '';
port.on('data', (chunk) => {
  const parts = (rest + chunk.toString('utf8')).split('\\n');
  rest = parts.pop();
  for (const l of parts) client.publish(topic, l.replace(/\\r$/, ''), { qos: 0 });
});
port.on('open', () => console.log('ready'));
process.on('SIGTERM', () => { port.close(); client.end(true, () => process.exit(0)); });
`;

interface Pty {
  proc: ChildProcess;
  exited: ReturnType<typeof exitOf>;
  a: string;
  b: string;
}

async function ptyPair(dir: string): Promise<Pty> {
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  const proc = spawn('socat', [`pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], { stdio: 'ignore' });
  const exited = exitOf(proc);
  const deadline = performance.now() + 10_000;
  while (!(existsSync(a) && existsSync(b))) {
    if (performance.now() > deadline || proc.exitCode !== null) throw new Error('socat did not make the pty pair (is socat installed?)');
    await sleep(10);
  }
  return { proc, exited, a, b };
}

function waitReady(proc: ChildProcess, what: string): Promise<void> {
  return withTimeout(
    new Promise<void>((resolve) => proc.stdout!.on('data', (d: Buffer) => /^ready$/m.test(d.toString()) && resolve())),
    15_000,
    `${what} to be ready`,
  );
}

interface Measured {
  latencies: number[];
  received: number;
  lost: number;
  first: number;
  last: number;
}

/** Subscribes, starts the sim, measures the window after the warm-up, stops the sim. */
async function measure(client: MqttClient, topic: string, simPort: string): Promise<Measured> {
  const m: Measured = { latencies: [], received: 0, lost: 0, first: -1, last: -1 };
  let measuring = false;
  let expected = -1;
  const onMessage = (t: string, payload: Buffer): void => {
    if (t !== topic) return;
    const now = performance.timeOrigin + performance.now();
    const match = /^SEQ=(\d+) T=([0-9.]+)/.exec(payload.toString());
    if (!match) return;
    const seq = Number(match[1]);
    if (!measuring) return void (expected = seq + 1);
    if (m.first < 0) m.first = seq;
    if (expected >= 0 && seq > expected) m.lost += seq - expected;
    expected = seq + 1;
    m.last = seq;
    m.received++;
    m.latencies.push(now - Number(match[2]));
  };
  client.on('message', onMessage);
  await client.subscribeAsync(topic, { qos: 0 });
  const sim = spawn(process.execPath, [SIM, simPort, '--rate', String(RATE)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const simExit = exitOf(sim);
  try {
    await waitReady(sim, 'the meter simulator');
    await sleep(WARMUP_MS);
    measuring = true;
    await sleep(MEASURE_MS);
    measuring = false;
  } finally {
    await stopChild({ proc: sim, exited: simExit }, 5000);
    client.off('message', onMessage);
    await client.unsubscribeAsync(topic);
  }
  return m;
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};

export async function benchDevices(): Promise<Result> {
  assertBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'hearth-bench-devices-'));
  const ptys: Pty[] = [];
  let hub: HubProc | null = null;
  let client: MqttClient | null = null;
  let forwarder: { proc: ChildProcess; exited: ReturnType<typeof exitOf> } | null = null;
  try {
    const hubPty = await ptyPair(mkdtempSync(join(dir, 'hub-')));
    const basePty = await ptyPair(mkdtempSync(join(dir, 'base-')));
    ptys.push(hubPty, basePty);
    hub = await startHub(join(dir, 'data'));
    const created = await api<{ id: string }>(hub, 'POST', '/api/devices', {
      name: 'meter',
      protocol: 'line',
      connection: { transport: 'serial', path: hubPty.a, baudRate: 115200 },
      telemetry: { fields: [{ name: 'voltage', pattern: 'V=(?<voltage>[0-9.]+)', unit: 'V', device_class: 'voltage' }] },
    });
    const h = hub;
    for (let i = 0; (await api<{ connected: boolean }>(h, 'GET', `/api/devices/${created.id}`)).connected !== true; i++) {
      if (i > 500) throw new Error('the bench device did not connect');
      await sleep(20);
    }
    client = await mqtt.connectAsync(hub.brokerUrl, { clientId: 'bench_devices_sub', reconnectPeriod: 0 });
    (client.stream as { setNoDelay?: (b: boolean) => void }).setNoDelay?.(true);
    const hearth = await measure(client, `hearth/${HUB_NODE_ID}/device/meter/rx`, hubPty.b);

    const fw = spawn(process.execPath, ['--input-type=module', '-e', FORWARDER_SRC, basePty.a, hub.brokerUrl, 'bench/forwarder/rx'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    forwarder = { proc: fw, exited: exitOf(fw) };
    await waitReady(fw, 'the bare forwarder');
    const bare = await measure(client, 'bench/forwarder/rx', basePty.b);

    const stats = (m: Measured) => ({ p50: round(pct(m.latencies, 50), 2), p99: round(pct(m.latencies, 99), 2), max: round(Math.max(...m.latencies), 2) });
    const hs = stats(hearth);
    const bs = stats(bare);
    return {
      name: 'devices',
      rows: [
        ratioRow(`device line ${RATE}/s, pty -> MQTT subscriber, p50 ms (vs bare serialport + mqtt.js)`, 'ms', hs.p50, bs.p50, 3),
        absoluteRow(`device line ${RATE}/s, pty -> MQTT subscriber, p99 ms (bare forwarder: ${bs.p99} ms)`, 'ms', hs.p99, GOAL_P99_MS),
        absoluteRow(`device lines lost out of ${hearth.received + hearth.lost} (bare forwarder: ${bare.lost} of ${bare.received + bare.lost})`, 'lines', hearth.lost, 0),
      ],
      details: { rate: RATE, measure_ms: MEASURE_MS, hearth: { ...hs, received: hearth.received, lost: hearth.lost }, bare: { ...bs, received: bare.received, lost: bare.lost } },
      notes: [
        `devices: ${RATE} lines/s for ${MEASURE_MS / 1000} s after ${WARMUP_MS / 1000} s warm-up; Hearth p50/p99/max ${hs.p50}/${hs.p99}/${hs.max} ms, ` +
          `${hearth.received} received, ${hearth.lost} lost; bare forwarder ${bs.p50}/${bs.p99}/${bs.max} ms, ${bare.received} received, ${bare.lost} lost. ` +
          `Latency includes the pty, socat and the broker, the same for both.`,
      ],
    };
  } finally {
    if (client) await client.endAsync(true).catch(() => undefined);
    if (forwarder) await stopChild(forwarder, 5000);
    if (hub) await stopHub(hub);
    for (const p of ptys) await stopChild({ proc: p.proc, exited: p.exited }, 5000);
    rmSync(dir, { recursive: true, force: true });
  }
}
