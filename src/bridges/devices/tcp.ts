/**
 * A byte stream over TCP: serial-to-network bridges (ser2net, ESP-Link), printers with a raw port,
 * meters that speak text. The peer closing or the socket failing is reported once as `lost`.
 */
import { connect, type Socket } from 'node:net';
import { HubError } from '../../hub/errors.js';
import type { ByteLink, LinkEvents, Transport } from '../../hub/devices/link.js';
import type { Connection } from '../../hub/devices/schema.js';

type TcpConnection = Extract<Connection, { transport: 'tcp' }>;

const CONNECT_TIMEOUT_MS = 10_000;
/** Keepalive probes find a peer that vanished without closing (power cut, Wi-Fi gone). */
const KEEPALIVE_MS = 30_000;
/** How long close() lets the socket say goodbye before cutting it. */
const CLOSE_GRACE_MS = 2000;

const unavailable = (message: string): HubError => new HubError('unavailable', message);

export const tcp: Transport<TcpConnection> = {
  name: 'tcp',
  link: 'bytes',
  open: openTcp,
};

function whyNot(address: string, e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case 'ECONNREFUSED':
      return `${address} refused the connection: is the device listening on that port?`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `The host of ${address} could not be found.`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `${address} can't be reached from this machine.`;
    default:
      return `Connecting to ${address} failed: ${e.message}.`;
  }
}

async function openTcp(connection: TcpConnection, events: LinkEvents): Promise<ByteLink> {
  const address = `${connection.host}:${connection.port}`;
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s = connect({ host: connection.host, port: connection.port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(unavailable(`${address} did not accept the connection within ${CONNECT_TIMEOUT_MS / 1000} s.`));
    }, CONNECT_TIMEOUT_MS);
    s.once('error', (e) => {
      clearTimeout(timer);
      s.destroy();
      reject(unavailable(whyNot(address, e)));
    });
    s.once('connect', () => {
      clearTimeout(timer);
      s.removeAllListeners('error');
      resolve(s);
    });
  });
  // Commands are short lines that wait for an answer: Nagle would hold each one back.
  socket.setNoDelay(true);
  socket.setKeepAlive(true, KEEPALIVE_MS);

  // `lost` once, and never after our own close(): the owner already knows.
  let done = false;
  let failure: string | null = null;
  const lose = (reason: string): void => {
    if (done) return;
    done = true;
    events.lost(reason);
    socket.destroy();
  };
  socket.on('data', (chunk: Buffer) => {
    if (!done) events.data(chunk);
  });
  // 'error' is followed by 'close'; the error says more than "closed", so it is kept for it.
  socket.on('error', (e) => {
    failure = `the connection to ${address} failed: ${e.message}`;
  });
  socket.on('close', () => lose(failure ?? `${address} closed the connection`));

  return {
    kind: 'bytes',
    write(data) {
      if (done || socket.destroyed) return Promise.reject(unavailable(`The connection to ${address} is closed.`));
      // The callback runs once the kernel took the bytes (or with the error that stopped them).
      return new Promise<void>((resolve, reject) =>
        socket.write(data, (e) => {
          if (!e) return resolve();
          // The socket is finished after a failed write: the owner hears it is lost before the write fails.
          lose(`the connection to ${address} failed: ${e.message}`);
          reject(unavailable(`Writing to ${address} failed: ${e.message}.`));
        }),
      );
    },
    async close() {
      done = true;
      if (socket.destroyed) return;
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      const cut = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
      socket.end();
      await closed;
      clearTimeout(cut);
    },
  };
}
