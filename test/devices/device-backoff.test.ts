/**
 * The reconnect backoff README promises (1 s doubling to 30 s), read from the device's published
 * state: each failure says when the next attempt is due. Its own file: seeing the cap takes 31 s of
 * waiting, which runs beside the other files instead of after the tests of one.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BASE, startHub } from '../helpers/hub.js';
import { MqttProbe } from '../helpers/mqtt-probe.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

interface DeviceState {
  status: string;
  reason: string | null;
  next_attempt_at: string | null;
  created_at?: string;
}

describe('reconnect backoff', () => {
  it('waits 1 s, then twice as long after each failure, up to 30 s', async () => {
    const h = await startHub();
    const probe = await MqttProbe.connect(h.brokerUrl, [`${BASE}/device/#`]);
    const path = join(tempDir('hearth-backoff-'), 'ttyUSB0'); // never there: every attempt fails
    const r = await h.api<DeviceState & { id: string; created_at: string }>('POST', '/api/devices', {
      name: 'Unplugged',
      protocol: 'line',
      connection: { transport: 'serial', path, baudRate: 9600 },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const topic = `${BASE}/device/${r.body.id}`;
    const failures = (): DeviceState[] =>
      probe.messages
        .filter((m) => m.topic === topic && m.payload !== '')
        .map((m) => JSON.parse(m.payload) as DeviceState)
        .filter((s, i, all) => s.status === 'error' && all.findIndex((o) => o.status === 'error' && o.next_attempt_at === s.next_attempt_at) === i); // one per failure, however often it was published
    const seen = await until('six failed attempts', failures, (f) => f.length >= 6, { timeoutMs: 45_000, everyMs: 200 });
    for (const f of seen) assert.match(f.reason ?? '', /does not exist/);
    // Each failure schedules the next attempt: the time between one due time and the next is that
    // attempt's delay, plus how late its timer fired and how long it took to fail (well under 1 s).
    const due = [Date.parse(r.body.created_at), ...seen.slice(0, 6).map((f) => Date.parse(f.next_attempt_at ?? ''))];
    const delays = due.slice(1).map((t, i) => Math.floor((t - due[i]! + 5) / 1000));
    assert.deepEqual(delays, [1, 2, 4, 8, 16, 30], `due times: ${seen.map((f) => f.next_attempt_at).join(', ')}`);
    // Between two failures an attempt is made, not merely scheduled.
    const statuses = probe.messages.filter((m) => m.topic === topic && m.payload !== '').map((m) => (JSON.parse(m.payload) as DeviceState).status);
    assert.ok(statuses.filter((s) => s === 'connecting').length >= 6, statuses.join(' '));
    await probe.close();
    await h.stop();
  });
});
