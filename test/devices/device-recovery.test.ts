/**
 * Devices across hub restarts, with the hub as a real process: after kill -9 the devices the user
 * wanted connected connect again, a disconnected one stays so, an upload that was going is
 * `interrupted` and its file is gone; hearth.yaml declares devices (a bad entry stops the hub).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { api, runCli, spawnHub } from '../helpers/hub.js';
import { openPtyPair, startSim } from '../helpers/pty.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

interface Device {
  status: string;
  connected: boolean;
  desired: string;
}
interface Job {
  id: number;
  status: string;
  progress: number;
  error: string | null;
}

describe('devices across hub restarts', () => {
  it('after kill -9: connected devices connect again, disconnected stay so, an upload in flight is interrupted', async () => {
    const dir = tempDir();
    const printerPorts = await openPtyPair();
    await startSim('marlin-sim', printerPorts.b, ['--move-ms', '0']);
    const meterPorts = await openPtyPair();
    await startSim('meter-sim', meterPorts.b);
    const first = await spawnHub({}, [], dir);
    const call = <T>(hub: { http: string; token: string }, method: string, path: string, body?: unknown) => api<T>(hub.http, hub.token, method, path, body);
    const serial = (path: string) => ({ transport: 'serial', path, baudRate: 115200 });
    assert.equal((await call(first, 'POST', '/api/devices', { name: 'printer', protocol: 'gcode', connection: serial(printerPorts.a) })).status, 201);
    assert.equal((await call(first, 'POST', '/api/devices', { name: 'meter', protocol: 'line', connection: serial(meterPorts.a) })).status, 201);
    await until('both connected', async () => (await call<Device[]>(first, 'GET', '/api/devices')).body, (ds) => ds.length === 2 && ds.every((d) => d.connected));
    assert.equal((await call(first, 'POST', '/api/devices/meter/disconnect')).status, 200);

    const gcode = join(tempDir(), 'big.gcode');
    writeFileSync(gcode, Array.from({ length: 50_000 }, (_, i) => `G1 X${i % 100} Y${i % 77}`).join('\n'));
    const form = new FormData();
    form.append('file', new Blob([readFileSync(gcode)]), 'big.gcode');
    const res = await fetch(`${first.http}/api/devices/printer/upload`, { method: 'POST', headers: { authorization: `Bearer ${first.token}` }, body: form });
    assert.equal(res.status, 202);
    const job = (await res.json()) as Job;
    await until('the upload under way', async () => (await call<Job>(first, 'GET', `/api/jobs/${job.id}`)).body, (j) => j.progress >= 1, { timeoutMs: 30_000 });
    assert.equal(readdirSync(join(dir, 'uploads')).length, 1, 'the file waits in the uploads folder while it is sent');

    await first.kill('SIGKILL');
    const second = await spawnHub({}, [], dir);
    const after = (await call<Job>(second, 'GET', `/api/jobs/${job.id}`)).body;
    assert.equal(after.status, 'interrupted');
    assert.ok(!existsSync(join(dir, 'uploads')) || readdirSync(join(dir, 'uploads')).length === 0, 'the half-sent file is gone');
    await until('the printer connected again', async () => (await call<Device>(second, 'GET', '/api/devices/printer')).body, (d) => d.connected, { timeoutMs: 20_000 });
    const meter = (await call<Device>(second, 'GET', '/api/devices/meter')).body;
    assert.equal(meter.desired, 'disconnected');
    assert.equal(meter.status, 'disconnected', 'disconnected by the user: stays so');
    const m115 = await call<{ response: string[] }>(second, 'POST', '/api/devices/printer/command', { command: 'M115' });
    assert.equal(m115.status, 200, JSON.stringify(m115.body));
    assert.deepEqual(await second.kill('SIGTERM'), { code: 0, signal: null });
  });

  it('creates the devices listed in hearth.yaml, and refuses a bad entry with exit 2', async () => {
    const ports = await openPtyPair();
    await startSim('meter-sim', ports.b);
    const dir = tempDir();
    writeFileSync(
      join(dir, 'hearth.yaml'),
      ['devices:', '  - name: Yaml meter', '    protocol: line', '    connection: { transport: serial, path: ' + JSON.stringify(ports.a) + ', baudRate: 115200 }', ''].join('\n'),
    );
    const hub = await spawnHub({}, [], dir);
    await until('the declared meter connected', async () => (await api<Device>(hub.http, hub.token, 'GET', '/api/devices/yaml_meter')).body, (d) => d.connected);
    assert.deepEqual(await hub.kill('SIGTERM'), { code: 0, signal: null });

    const bad = tempDir();
    writeFileSync(join(bad, 'hearth.yaml'), 'devices:\n  - name: broken\n    protocol: line\n    connection: { transport: serial, path: /dev/x }\n');
    const r = await runCli(['start'], { HEARTH_DATA_DIR: bad, HEARTH_HTTP_PORT: '0', HEARTH_BROKER_PORT: '0' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /devices in .*hearth\.yaml, entry 1 \(broken\).*baudRate/);
  });
});
