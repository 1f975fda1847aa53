/** Modbus RTU on a serial port (RS-485 adapters, USB meters). */
import { stat } from 'node:fs/promises';
import type { Transport } from '../../hub/devices/link.js';
import type { Connection } from '../../hub/devices/schema.js';
import { messageOf, ModbusLink, ModbusRTU, type ModbusClient } from './modbus-link.js';

type ModbusRtuConnection = Extract<Connection, { transport: 'modbus-rtu' }>;

/**
 * serialport misses a port that vanishes between two of its reads: a hung-up tty then reads 0 bytes,
 * which it retries forever without an error. So the path itself is watched too: gone, or another
 * device behind it now, is the port lost.
 */
const WATCH_MS = 1000;

function watchPath(path: string, rdev: number, gone: (why: string) => void): () => void {
  const timer = setInterval(() => {
    stat(path).then(
      (s) => {
        if (s.rdev !== rdev) gone(`${path} is another device now (unplugged and replaced?)`);
      },
      (e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') gone(`${path} is gone (unplugged?)`);
      },
    );
  }, WATCH_MS);
  timer.unref();
  return () => clearInterval(timer);
}

function closeClient(client: ModbusClient): Promise<void> {
  // serialport calls back with an error when the port is already gone: closed either way.
  return new Promise((resolve) => client.close(() => resolve()));
}

export const modbusRtu: Transport<ModbusRtuConnection> = {
  name: 'modbus-rtu',
  link: 'registers',

  async check(connection) {
    try {
      // stat follows links such as /dev/serial/by-id/…; opening the port is left to open().
      const s = await stat(connection.path);
      return s.isCharacterDevice() ? null : `${connection.path} is not a serial port (not a character device)`;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return `${connection.path} does not exist: is the adapter plugged in?`;
      if (code === 'EACCES') return `the hub may not access ${connection.path}: is its user in the dialout group?`;
      return `${connection.path} cannot be checked: ${messageOf(e)}`;
    }
  },

  async open(connection, events) {
    const { path } = connection;
    const client = new ModbusRTU();
    let rdev: number;
    try {
      rdev = (await stat(path)).rdev;
      await client.connectRTUBuffered(path, {
        baudRate: connection.baudRate,
        dataBits: connection.dataBits ?? 8,
        // The schema's literal union is typed loosely; Ajv has already held it to these five.
        parity: (connection.parity ?? 'none') as 'none' | 'even' | 'odd' | 'mark' | 'space',
        stopBits: connection.stopBits ?? 1,
      });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`could not open ${path}: it does not exist (is the adapter plugged in?)`);
      const message = messageOf(e);
      // serialport takes an exclusive lock: the usual cause is a second user of the same adapter.
      if (message.includes('Cannot lock port')) throw new Error(`could not open ${path}: another program (or another device of this hub) is using it`);
      throw new Error(`could not open ${path}: ${message}`);
    }
    client.setID(connection.unitId);
    const lost = (why: string): void => {
      unwatch();
      link.lost(why);
    };
    const unwatch = watchPath(path, rdev, lost);
    const link = new ModbusLink({ client, shutdown: () => (unwatch(), closeClient(client)) }, events);
    // The close that close() causes is not heard: ModbusRTU.close() unhooks it first.
    client.on('close', () => {
      lost(link.lastError ? `${path} closed: ${link.lastError}` : `${path} closed (unplugged?)`);
    });
    return link;
  },
};
