/** The protocols: one line each. A new protocol is one file in this folder plus one line here. */
import type { Protocol } from '../protocol.js';
import type { ProtocolName } from '../schema.js';
import { gcode } from './gcode.js';
import { line } from './line.js';
import { modbus } from './modbus.js';

export const PROTOCOL_BY_NAME: Record<ProtocolName, Protocol> = {
  line,
  gcode,
  modbus,
};
