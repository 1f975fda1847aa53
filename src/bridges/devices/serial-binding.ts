/**
 * serialport's binding, except that end of file is a disconnect. A pty whose other side vanished
 * (socat, a container's virtual port) reads 0 bytes, a hangup rather than an error, and serialport
 * 13 retries a 0-byte read at once, forever: a core spinning and memory growing instead of the
 * 'close' a USB unplug gives. Linux only; elsewhere serialport's own binding is used as it is.
 * Also what both serial transports (serial, modbus-rtu) use to notice a port that vanished.
 */
import { read } from 'node:fs';
import { stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import { autoDetect, LinuxBinding } from '@serialport/bindings-cpp';
import { unixRead } from '@serialport/bindings-cpp/dist/unix-read.js';

const readAsync = promisify(read);

const readOrHangup = (async (fd: number, buffer: Buffer, offset: number, length: number, position: null) => {
  const r = await readAsync(fd, buffer, offset, length, position);
  if (r.bytesRead === 0) throw Object.assign(new Error('the port hung up (end of file)'), { code: 'EIO', disconnect: true });
  return r;
}) as typeof read.__promisify__;

const hangupAware: typeof LinuxBinding = {
  ...LinuxBinding,
  async open(options) {
    const port = await LinuxBinding.open(options);
    port.read = (buffer, offset, length) => unixRead({ binding: port, buffer, offset, length, fsReadAsync: readOrHangup });
    return port;
  },
};

export const serialBinding = process.platform === 'linux' ? hangupAware : autoDetect();

/**
 * Calls `gone` once the port's path no longer exists (checked each second; returns the stop). A read
 * error is how a vanished port usually shows, but with output pending it may not come at all: the
 * device node going away (USB unplugged, pty gone) says the same.
 */
export function watchVanish(path: string, gone: () => void): () => void {
  const timer = setInterval(() => {
    stat(path).catch(() => {
      clearInterval(timer);
      gone();
    });
  }, VANISH_CHECK_MS);
  timer.unref();
  return () => clearInterval(timer);
}

const VANISH_CHECK_MS = 1000;
