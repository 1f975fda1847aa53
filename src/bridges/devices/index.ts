/**
 * The transports to devices: one line each. A new transport is one file here plus one line below.
 *
 * serialport and modbus-serial are loaded when a device first needs them, not with the hub: most
 * hubs have no serial or Modbus device, and for them these libraries would be heap that every
 * garbage collection walks (and that every fork of the hub copies the page tables of).
 */
import type { PortInfo, Transport, Transports } from '../../hub/devices/link.js';
import type { Connection, TransportName } from '../../hub/devices/schema.js';
import { tcp } from './tcp.js';

type TransportOf<T extends TransportName> = Transport<Extract<Connection, { transport: T }>>;

/** A transport that imports its module at its first check or open. */
function onFirstUse<T extends TransportName>(name: T, link: Transport['link'], load: () => Promise<TransportOf<T>>): TransportOf<T> {
  let loaded: Promise<TransportOf<T>> | undefined;
  const real = (): Promise<TransportOf<T>> => (loaded ??= load());
  return {
    name,
    link,
    check: async (connection) => (await real()).check?.(connection) ?? null,
    open: async (connection, events) => (await real()).open(connection, events),
  } as TransportOf<T>;
}

export const TRANSPORTS: Transports = {
  serial: onFirstUse('serial', 'bytes', async () => (await import('./serial.js')).serial),
  tcp,
  'modbus-tcp': onFirstUse('modbus-tcp', 'registers', async () => (await import('./modbus-tcp.js')).modbusTcp),
  'modbus-rtu': onFirstUse('modbus-rtu', 'registers', async () => (await import('./modbus-rtu.js')).modbusRtu),
};

export async function listPorts(): Promise<PortInfo[]> {
  return (await import('./serial.js')).listPorts();
}
