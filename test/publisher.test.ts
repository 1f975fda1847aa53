/** The discovery publisher's bookkeeping: only changes go out, removals once, nothing lost offline. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DiscoveryPublisher, type Outbox } from '../src/bridges/mqtt/publisher.js';
import { component, thingDevice, thingDeviceId } from '../src/entities/discovery.js';
import type { EntityContext, ThingView } from '../src/entities/types.js';
import { createLogger } from '../src/hub/logger.js';
import type { ThingChange } from '../src/hub/thing-types.js';

const ctx: EntityContext = { nodeId: 'n1', base: 'hearth/n1', discoveryPrefix: 'homeassistant', version: '1.0.0' };

/** Things in this test carry a list of sensor fields and a value; the publisher does not care what kind. */
interface Fake {
  fields: string[];
  value: number;
}
const thing = (id: string, state: Fake): ThingChange => ({ kind: 'agent', id, state }) as unknown as ThingChange;
const view = (c: EntityContext, t: ThingChange): ThingView => {
  const s = t.state as unknown as Fake;
  const dev = thingDeviceId(c, 'agent', t.id);
  return {
    deviceId: dev,
    stateTopic: `${c.base}/agent/${t.id}`,
    device: thingDevice(c, 'agent', t.id, t.id, 'Agent'),
    components: Object.fromEntries(s.fields.map((f) => [f, component(dev, f, 'sensor', { name: f, value_template: `{{ value_json.${f} }}` })])),
    state: { value: s.value },
  };
};

class MemoryOutbox implements Outbox {
  connected = true;
  sent: Array<{ topic: string; payload: string }> = [];
  async publish(topic: string, payload: string): Promise<void> {
    if (!this.connected) throw new Error('not connected');
    this.sent.push({ topic, payload });
  }
  take(): Array<{ topic: string; payload: string }> {
    return this.sent.splice(0);
  }
}

const visible = { isHidden: () => false, hide: async () => undefined } as never;
const CONFIG = 'homeassistant/device/hearth_n1_agent_a/config';

describe('discovery publisher', () => {
  it('publishes only what changed', async () => {
    const out = new MemoryOutbox();
    const p = new DiscoveryPublisher(ctx, out, visible, createLogger('silent'), view);
    await p.update(thing('a', { fields: ['cpu'], value: 1 }));
    assert.deepEqual(out.take().map((m) => m.topic), [CONFIG, 'hearth/n1/agent/a']);
    await p.update(thing('a', { fields: ['cpu'], value: 2 }));
    assert.deepEqual(out.take(), [{ topic: 'hearth/n1/agent/a', payload: '{"value":2}' }]);
    await p.update(thing('a', { fields: ['cpu'], value: 2 }));
    assert.deepEqual(out.take(), []);
  });

  it('sends a removed component once as { p }, then leaves it out', async () => {
    const out = new MemoryOutbox();
    const p = new DiscoveryPublisher(ctx, out, visible, createLogger('silent'), view);
    await p.update(thing('a', { fields: ['cpu', 'memory'], value: 1 }));
    out.take();
    await p.update(thing('a', { fields: ['cpu'], value: 1 }));
    const once = JSON.parse(out.take()[0]!.payload) as { cmps: Record<string, unknown> };
    assert.deepEqual(once.cmps.memory, { p: 'sensor' });
    await p.update(thing('a', { fields: ['cpu'], value: 1 }), true);
    const after = JSON.parse(out.take()[0]!.payload) as { cmps: Record<string, unknown> };
    assert.equal(after.cmps.memory, undefined);
  });

  it('keeps removals made while disconnected and sends them on reconnect', async () => {
    const out = new MemoryOutbox();
    const p = new DiscoveryPublisher(ctx, out, visible, createLogger('silent'), view);
    await p.update(thing('a', { fields: ['cpu', 'memory'], value: 1 }));
    await p.update(thing('b', { fields: ['cpu'], value: 1 }));
    out.take();
    out.connected = false;
    const a = thing('a', { fields: ['cpu'], value: 1 });
    await p.update(a);
    await p.remove({ kind: 'agent' as never, id: 'b' });
    assert.deepEqual(out.take(), []);
    out.connected = true;
    await p.republishAll([a]);
    const sent = out.take();
    const cleared = sent.filter((m) => m.payload === '').map((m) => m.topic).sort();
    assert.deepEqual(cleared, ['hearth/n1/agent/b', 'homeassistant/device/hearth_n1_agent_b/config']);
    const config = JSON.parse(sent.find((m) => m.topic === CONFIG)!.payload) as { cmps: Record<string, unknown> };
    assert.deepEqual(config.cmps.memory, { p: 'sensor' }, 'Home Assistant still had memory: it is told to remove it');
  });

  it('tells its own ids from another node\'s', () => {
    const p = new DiscoveryPublisher(ctx, new MemoryOutbox(), visible, createLogger('silent'), view);
    assert.equal(p.isOurs('hearth_n1'), true);
    assert.equal(p.isOurs('hearth_n1_agent_x'), true);
    assert.equal(p.isOurs('hearth_n1_task_x'), true);
    assert.equal(p.isOurs('hearth_n10'), false);
    assert.equal(p.isOurs('hearth_n1_extra_x'), false);
    assert.equal(p.isOurs('zigbee_0x12'), false);
  });
});
