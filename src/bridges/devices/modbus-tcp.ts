/** Modbus TCP: a socket of our own, so that its close (whatever the cause) is the link's loss. */
import { connect, type Socket } from 'node:net';
import type { Transport } from '../../hub/devices/link.js';
import type { Connection } from '../../hub/devices/schema.js';
import { ModbusLink, ModbusRTU } from './modbus-link.js';

type ModbusTcpConnection = Extract<Connection, { transport: 'modbus-tcp' }>;

const DEFAULT_PORT = 502;
/** A host that drops packets would otherwise keep open() waiting for minutes (the OS's SYN retries). */
const CONNECT_TIMEOUT_MS = 5000;
const END_TIMEOUT_MS = 1000;

function connectSocket(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const fail = (why: string): void => {
      socket.destroy();
      reject(new Error(`could not connect to ${host}:${port}: ${why}`));
    };
    const timer = setTimeout(() => fail(`no answer within ${CONNECT_TIMEOUT_MS / 1000} s`), CONNECT_TIMEOUT_MS);
    socket.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      fail(e.code === 'ECONNREFUSED' ? 'nothing listens there (connection refused)' : e.message);
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}

/** A polite end, then a hard one if the peer does not answer it. */
function endSocket(socket: Socket): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => socket.destroy(), END_TIMEOUT_MS);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.end();
  });
}

export const modbusTcp: Transport<ModbusTcpConnection> = {
  name: 'modbus-tcp',
  link: 'registers',

  async open(connection, events) {
    const port = connection.port ?? DEFAULT_PORT;
    const where = `${connection.host}:${port}`;
    const socket = await connectSocket(connection.host, port);
    const client = new ModbusRTU();
    // With a socket already connected, linkTCP settles at once: no socket event can come before the
    // listeners below are attached.
    await client.linkTCP(socket, { port });
    client.setID(connection.unitId);
    const link = new ModbusLink({ client, shutdown: () => endSocket(socket) }, events);
    let lastError: string | null = null;
    socket.on('error', (e) => {
      lastError = e.message;
    });
    socket.once('close', () => link.lost(lastError ? `the connection to ${where} failed: ${lastError}` : `${where} closed the connection`));
    return link;
  },
};
