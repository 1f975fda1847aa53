/**
 * Devices beyond a serial line device, through the whole hub: a line device over TCP (a small line
 * server in this test), and a printer whose firmware cannot auto-report temperatures, so the hub
 * polls them with M105 (the Marlin simulator with --no-autoreport).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BASE } from '../helpers/hub.js';
import { deviceHub } from '../helpers/devices.js';
import { startLineServer, type LineServer } from '../helpers/line-server.js';
import { openPtyPair, startSim } from '../helpers/pty.js';
import { until } from '../helpers/wait.js';

interface Device {
  id: string;
  status: string;
  reason: string | null;
  connected: boolean;
  telemetry: Record<string, unknown>;
}

/** A line meter on TCP: greets with a reading, answers `ID?`, refuses anything else. */
const tcpMeter = (): Promise<LineServer> => startLineServer((line) => (line === 'ID?' ? 'TCP-METER\r\n' : 'ERR\r\n'), 'V=231.5\r\n');

describe('device transports through the hub', () => {
  const dev = deviceHub<Device>();
  const { get } = dev;

  it('a line device over TCP: telemetry, commands, and a reconnect when the peer closes', async () => {
    const meter = await tcpMeter();
    const r = await dev.h.api<Device>('POST', '/api/devices', {
      name: 'Net meter',
      protocol: 'line',
      connection: { transport: 'tcp', host: '127.0.0.1', port: meter.port },
      telemetry: { fields: [{ name: 'voltage', pattern: 'V=(?<voltage>[0-9.]+)', unit: 'V' }] },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const id = r.body.id;
    await until('connected with the voltage it sent', () => get(id), (d) => d.connected && d.telemetry.voltage === 231.5);
    const answer = await dev.h.api<{ response: string[] }>('POST', `/api/devices/${id}/command`, { command: 'ID?' });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.body.response, ['TCP-METER']);

    const m = dev.probe.mark();
    meter.sockets[0]!.destroy();
    const lost = await dev.probe.next(`${BASE}/device/${id}`, (x) => (JSON.parse(x.payload) as Device).status === 'error', { since: m });
    assert.match((JSON.parse(lost.payload) as Device).reason ?? '', /closed the connection/);
    await until('connected again on a new connection', () => get(id), (d) => d.connected && meter.sockets.length === 2);
    const again = await dev.h.api<{ response: string[] }>('POST', `/api/devices/${id}/command`, { command: 'ID?' });
    assert.deepEqual(again.body.response, ['TCP-METER']);
  });

  it('a printer without temperature auto-reports is polled with M105', async () => {
    const ports = await openPtyPair();
    await startSim('marlin-sim', ports.b, ['--no-autoreport']);
    const m = dev.probe.mark();
    const r = await dev.h.api<Device>('POST', '/api/devices', {
      name: 'Old printer',
      protocol: 'gcode',
      connection: { transport: 'serial', path: ports.a, baudRate: 115200 },
      gcode: { autoreport_s: 1 },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const id = r.body.id;
    await until('connected with temperatures', () => get(id), (d) => d.connected && typeof d.telemetry.hotend === 'number');
    const heat = await dev.h.api('POST', `/api/devices/${id}/command`, { command: 'M104 S200' });
    assert.equal(heat.status, 200, JSON.stringify(heat.body));
    // The target only comes back in a temperature report: polling goes on after the first one.
    await until('the new target polled', () => get(id), (d) => d.telemetry.hotend_target === 200);
    const sent = dev.probe.messages.slice(m).filter((x) => x.topic === `${BASE}/device/${id}/tx`).map((x) => x.payload);
    assert.ok(sent.filter((l) => / M105\*/.test(l)).length >= 2, `M105 polls: ${sent.join(', ')}`);
    assert.ok(!sent.some((l) => / M155 /.test(l)), `no M155 to a firmware without it: ${sent.join(', ')}`);
  });
});
