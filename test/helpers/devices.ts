/**
 * The hub of a device suite: one in-process hub per describe block with an MQTT probe that sees
 * every topic, and the device calls the suites make of it.
 */
import { after, before } from 'node:test';
import { created, startHub, type HubHandle } from './hub.js';
import { MqttProbe } from './mqtt-probe.js';
import { until } from './wait.js';

export interface DeviceHub<D> {
  /** The hub and its probe, once the block's before() has run. */
  h: HubHandle;
  probe: MqttProbe;
  get(id: string): Promise<D>;
  /** Waits until the device says it is connected. */
  connected(id: string): Promise<D>;
  /**
   * Creates a device (201, or the test fails) and waits until it is `ready` (by default connected);
   * its id.
   */
  create(definition: Record<string, unknown>, ready?: { what: string; test: (d: D) => boolean }): Promise<string>;
}

/** Called inside describe(): the hub and probe start before the block's tests and stop after them. */
export function deviceHub<D extends { connected: boolean }>(): DeviceHub<D> {
  const dev = {
    get: async (id: string): Promise<D> => (await dev.h.api<D>('GET', `/api/devices/${id}`)).body,
    connected: (id: string): Promise<D> => until(`${id} connected`, () => dev.get(id), (d) => d.connected),
    async create(definition: Record<string, unknown>, ready = { what: 'connected', test: (d: D) => d.connected }): Promise<string> {
      const { id } = await created<{ id: string }>(dev.h, '/api/devices', definition);
      await until(`${id} ${ready.what}`, () => dev.get(id), ready.test);
      return id;
    },
  } as DeviceHub<D>;
  before(async () => {
    dev.h = await startHub();
    dev.probe = await MqttProbe.connect(dev.h.brokerUrl, ['#']);
  });
  after(async () => {
    await dev.probe.close();
    await dev.h.stop();
  });
  return dev;
}
