/** The transports to devices: one line each. A new transport is one file here plus one line below. */
import type { Transports } from '../../hub/devices/link.js';
import { modbusRtu } from './modbus-rtu.js';
import { modbusTcp } from './modbus-tcp.js';
import { serial } from './serial.js';
import { tcp } from './tcp.js';

export const TRANSPORTS: Transports = {
  serial,
  tcp,
  'modbus-tcp': modbusTcp,
  'modbus-rtu': modbusRtu,
};

export { listPorts } from './serial.js';
