/**
 * Bridge requests on an external broker (Mosquitto) that outlives the hub: `restart` takes the hub
 * offline and back, and a request left retained on the broker is never carried out, neither when
 * the hub connects nor when it subscribes again after a restart.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BASE, startHub, type HubHandle } from './helpers/hub.js';
import { startMosquitto } from './helpers/mosquitto.js';
import { MqttProbe, type BridgeAnswer } from './helpers/mqtt-probe.js';
import { until } from './helpers/wait.js';


const ask = (probe: MqttProbe, path: string, body: object): Promise<BridgeAnswer> => probe.ask(BASE, path, body, 20_000);

/** Asks for a restart and waits until the hub has been offline and is online again. */
async function restart(probe: MqttProbe): Promise<void> {
  const since = probe.mark();
  const a = await ask(probe, 'restart', {});
  assert.deepEqual([a.status, a.data, a.transaction], ['ok', { restarting: true }, probe.lastTransaction]);
  const offline = await probe.next(`${BASE}/bridge/state`, (m) => m.payload === 'offline', { since });
  await probe.next(`${BASE}/bridge/state`, (m) => m.payload === 'online', { since: probe.messages.indexOf(offline) + 1, timeoutMs: 20_000 });
}

const ignoredWarnings = (h: HubHandle): number => h.logs.filter((l) => /retained bridge requests are ignored/.test(String(l.msg))).length;

describe('bridge requests on an external broker', () => {
  it('restart: answers, then the hub goes offline and comes back online, answering again', async () => {
    const broker = await startMosquitto();
    const h = await startHub({ HEARTH_MQTT_URL: broker.url });
    const probe = await MqttProbe.connect(broker.url, [`${BASE}/bridge/#`]);
    try {
      await restart(probe);
      const info = await ask(probe, 'info', {});
      assert.equal(info.status, 'ok', 'it answers requests after the restart');
      assert.equal((info.data as { broker: { connected: boolean } }).broker.connected, true);
    } finally {
      await probe.close();
      await h.stop();
      await broker.stop();
    }
  });

  it('ignores a retained request, published before the hub connected and delivered again after a restart', async () => {
    const broker = await startMosquitto();
    const probe = await MqttProbe.connect(broker.url, [`${BASE}/bridge/#`]);
    const topic = `${BASE}/bridge/request/agent/create`;
    await probe.publish(topic, JSON.stringify({ name: 'Retained', command: 'sleep', args: ['600'] }), { retain: true });
    const h = await startHub({ HEARTH_MQTT_URL: broker.url });
    try {
      // The warning is the hub's receipt of the retained request; a live request after it is
      // answered in order, so by then the retained one would have been carried out.
      await until('the warning about the retained request', () => ignoredWarnings(h), (n) => n === 1);
      const list = await ask(probe, 'agent/list', {});
      assert.deepEqual([list.status, list.data], ['ok', []], 'no agent was created');
      assert.equal((await h.api('GET', '/api/agents/retained')).status, 404);

      await restart(probe);
      await until('the warning after the hub subscribed again', () => ignoredWarnings(h), (n) => n === 2);
      assert.deepEqual((await ask(probe, 'agent/list', {})).data, [], 'still no agent after the restart');

      // An empty retained message clears it, without a warning; the same request sent live is carried out.
      await probe.publish(topic, '', { retain: true });
      const live = await ask(probe, 'agent/create', { name: 'Live', command: 'sleep', args: ['600'], autostart: false });
      assert.equal(live.status, 'ok', live.error);
      assert.deepEqual(((await ask(probe, 'agent/list', {})).data as Array<{ id: string }>).map((a) => a.id), ['live']);
      assert.equal(ignoredWarnings(h), 2);
    } finally {
      await probe.close();
      await h.stop();
      await broker.stop();
    }
  });
});
