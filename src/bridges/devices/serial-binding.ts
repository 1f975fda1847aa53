/**
 * serialport's binding, except that end of file is a disconnect. A pty whose other side vanished
 * (socat, a container's virtual port) reads 0 bytes, a hangup rather than an error, and serialport
 * 13 retries a 0-byte read at once, forever: a core spinning and memory growing instead of the
 * 'close' a USB unplug gives. Linux only; elsewhere serialport's own binding is used as it is.
 */
import { read } from 'node:fs';
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
