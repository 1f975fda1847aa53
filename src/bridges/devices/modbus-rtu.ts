/** Modbus RTU on a serial port (RS-485 adapters, USB meters). */
import type { Transport } from '../../hub/devices/link.js';
import type { Connection } from '../../hub/devices/schema.js';
import { messageOf, ModbusLink, ModbusRTU, type ModbusClient } from './modbus-link.js';
import { serialBinding, watchVanish } from './serial-binding.js';
import { notASerialPort } from './serial.js';

type ModbusRtuConnection = Extract<Connection, { transport: 'modbus-rtu' }>;

/** serialport's open errors carry no code, only a message such as "Error: No such file or directory, cannot open …". */
function openError(path: string, message: string): Error {
  if (message.includes('No such file or directory')) return new Error(`could not open ${path}: it does not exist (is the adapter plugged in?)`);
  if (message.includes('Permission denied')) return new Error(`could not open ${path}: permission denied (is the hub's user in the dialout group?)`);
  // serialport takes an exclusive lock: the usual cause is a second user of the same adapter.
  if (message.includes('Cannot lock port')) return new Error(`could not open ${path}: another program (or another device of this hub) is using it`);
  return new Error(`could not open ${path}: ${message}`);
}

function closeClient(client: ModbusClient): Promise<void> {
  // serialport calls back with an error when the port is already gone: closed either way.
  return new Promise((resolve) => client.close(() => resolve()));
}

export const modbusRtu: Transport<ModbusRtuConnection> = {
  name: 'modbus-rtu',
  link: 'registers',

  // The same check as a serial device's: a character device that is a terminal, and ours to open.
  check: (connection) => notASerialPort(connection.path),

  async open(connection, events) {
    const { path } = connection;
    const client = new ModbusRTU();
    const options = {
      baudRate: connection.baudRate,
      dataBits: connection.dataBits ?? 8,
      parity: connection.parity ?? 'none',
      stopBits: connection.stopBits ?? 1,
      // Passed on to serialport (modbus-serial's types do not list it): a hung-up port is a loss, not a spin.
      binding: serialBinding,
    };
    try {
      await client.connectRTUBuffered(path, options);
    } catch (e) {
      throw openError(path, messageOf(e));
    }
    client.setID(connection.unitId);
    const lost = (why: string): void => {
      stopWatch();
      link.lost(why);
    };
    const stopWatch = watchVanish(path, () => lost(`${path} is gone (unplugged?)`));
    const link = new ModbusLink(
      {
        client,
        shutdown: () => {
          stopWatch();
          return closeClient(client);
        },
      },
      events,
    );
    // The close that close() causes is not heard: ModbusRTU.close() unhooks it first.
    client.on('close', () => lost(link.lastError ? `${path} closed: ${link.lastError}` : `${path} closed (unplugged?)`));
    return link;
  },
};
