/**
 * Serial ports (USB adapters, Arduinos, printers, on-board UARTs) through the `serialport` package.
 * A port that vanishes (unplugged, pty gone) is reported once as `lost`; closing it ourselves is not.
 */
import { constants } from 'node:fs';
import { access, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { SerialPortStream } from '@serialport/stream';
import { SerialPort } from 'serialport';
import { serialBinding, watchVanish } from './serial-binding.js';
import { HubError } from '../../hub/errors.js';
import type { ByteLink, LinkEvents, PortInfo, Transport } from '../../hub/devices/link.js';
import type { Connection } from '../../hub/devices/schema.js';

type SerialConnection = Extract<Connection, { transport: 'serial' }>;

const unavailable = (message: string): HubError => new HubError('unavailable', message);

export const serial: Transport<SerialConnection> = {
  name: 'serial',
  link: 'bytes',
  check: (connection) => notASerialPort(connection.path),
  open: openSerial,
};

/**
 * Why `path` can't be a serial port, or null. Nothing is opened: opening toggles DTR, which resets
 * an Arduino, so a check must not.
 */
export async function notASerialPort(path: string): Promise<string | null> {
  let info;
  try {
    info = await stat(path, { bigint: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `${path} does not exist: is the device plugged in?`;
    if (code === 'EACCES') return `The hub may not look at ${path} (permission denied).`;
    return `${path} can't be read: ${(e as Error).message}.`;
  }
  if (!info.isCharacterDevice()) return `${path} is not a serial port (${fileKind(info)}).`;
  if (!(await isTerminal(info.rdev))) return `${path} is not a serial port (a character device that is not a terminal).`;
  try {
    await access(path, constants.R_OK | constants.W_OK);
  } catch {
    return `The hub may not open ${path} (permission denied): add the user it runs as to the port's group (often dialout).`;
  }
  return null;
}

function fileKind(info: { isFile(): boolean; isDirectory(): boolean; isBlockDevice(): boolean; isFIFO(): boolean; isSocket(): boolean }): string {
  if (info.isFile()) return 'a regular file';
  if (info.isDirectory()) return 'a directory';
  if (info.isBlockDevice()) return 'a block device';
  if (info.isFIFO()) return 'a named pipe';
  if (info.isSocket()) return 'a socket';
  return 'not a device';
}

/**
 * A terminal device is one whose major and minor number a tty driver in /proc/tty/drivers owns
 * (serial, usbserial, acm, pty_slave…). Where that file is missing (not Linux), a character device passes.
 */
async function isTerminal(rdev: bigint): Promise<boolean> {
  let drivers: string;
  try {
    drivers = await readFile('/proc/tty/drivers', 'utf8');
  } catch {
    return true;
  }
  // glibc's major()/minor() encoding of dev_t.
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  for (const line of drivers.split('\n')) {
    // "usbserial  /dev/ttyUSB  188 0-511 serial": the major, then a minor or a range of them.
    const m = /\s(\d+)\s+(\d+)(?:-(\d+))?\s/.exec(line);
    if (!m) continue;
    const first = Number(m[2]);
    if (Number(m[1]) === major && minor >= first && minor <= Number(m[3] ?? first)) return true;
  }
  return false;
}


async function openSerial(connection: SerialConnection, events: LinkEvents): Promise<ByteLink> {
  const { path } = connection;
  const port = new SerialPortStream({
    binding: serialBinding,
    path,
    baudRate: connection.baudRate,
    dataBits: connection.dataBits ?? 8,
    parity: connection.parity ?? 'none',
    stopBits: connection.stopBits ?? 1,
    rtscts: connection.rtscts ?? false,
    autoOpen: false,
  });
  await new Promise<void>((resolve, reject) =>
    port.open((err) => (err ? reject(unavailable(`The serial port ${path} could not be opened: ${err.message}.`)) : resolve())),
  );

  // `lost` once, and never after our own close(): the owner already knows.
  let done = false;
  const lose = (reason: string): void => {
    if (done) return;
    done = true;
    stopWatch();
    events.lost(reason);
    if (port.isOpen) port.close(() => undefined);
  };
  const stopWatch = watchVanish(path, () => lose(`the serial port ${path} vanished`));
  port.on('data', (chunk: Buffer) => {
    if (!done) events.data(chunk);
  });
  port.on('close', (err: Error | null) => lose(err ? `the serial port ${path} went away (${err.message})` : `the serial port ${path} closed`));
  port.on('end', () => lose(`the serial port ${path} reached its end`));
  port.on('error', (err: Error) => lose(`the serial port ${path} failed: ${err.message}`));

  return {
    kind: 'bytes',
    write(data) {
      // Writes and drains on a closed port wait for it to open again, forever: refuse them instead.
      if (done || !port.isOpen) return Promise.reject(unavailable(`The serial port ${path} is closed.`));
      return new Promise<void>((resolve, reject) => {
        const onClose = (): void => reject(unavailable(`The serial port ${path} closed before the data went out.`));
        port.once('close', onClose);
        const settle = (err: Error | null | undefined): void => {
          port.off('close', onClose);
          if (!err) return resolve();
          // serialport drops the port after a failed write anyway; saying so first lets the owner
          // blame the port, not the line it was sending.
          lose(`the serial port ${path} went away (${err.message})`);
          reject(unavailable(`Writing to the serial port ${path} failed: ${err.message}.`));
        };
        port.write(data, (err) => (err ? settle(err) : port.drain(settle)));
      });
    },
    async close() {
      done = true;
      stopWatch();
      if (!port.isOpen) return;
      await new Promise<void>((resolve) => port.close(() => resolve()));
    },
  };
}

/** The serial ports of this system; never throws (an empty list at worst). */
export async function listPorts(): Promise<PortInfo[]> {
  try {
    const ports = await SerialPort.list();
    return ports.map((p) =>
      withoutEmpty({ path: p.path, manufacturer: p.manufacturer, serialNumber: p.serialNumber, vendorId: p.vendorId, productId: p.productId, pnpId: p.pnpId }),
    );
  } catch {
    // SerialPort.list() runs udevadm, which containers rarely have: look at /dev and /sys instead.
    return scanDev().catch(() => []);
  }
}

const SERIAL_NAMES = /^tty(?:USB|ACM|AMA|S)\d+$/;

async function scanDev(): Promise<PortInfo[]> {
  const names = (await readdir('/dev').catch(() => [])).filter((n) => SERIAL_NAMES.test(n));
  const ports = new Map<string, PortInfo>();
  for (const name of names.sort()) {
    if (name.startsWith('ttyS') && !(await isRealUart(name))) continue;
    ports.set(`/dev/${name}`, { path: `/dev/${name}`, ...(await usbInfo(name)) });
  }
  // Stable names of USB adapters: listed instead of the ttyUSBn they point to, which can change on replug.
  const byId = '/dev/serial/by-id';
  for (const link of (await readdir(byId).catch(() => [])).sort()) {
    const target = await realpath(join(byId, link)).catch(() => null);
    if (!target) continue;
    const info = ports.get(target) ?? (await usbInfo(basename(target)));
    ports.delete(target);
    ports.set(join(byId, link), { ...info, path: join(byId, link), pnpId: link });
  }
  return [...ports.values()];
}

/** The kernel makes ttyS0-31 whether a UART is there or not; a port with none has type 0 (PORT_UNKNOWN). */
async function isRealUart(name: string): Promise<boolean> {
  const type = await readFile(`/sys/class/tty/${name}/type`, 'utf8').catch(() => '0');
  return Number(type.trim()) !== 0;
}

/** What udev would say of a USB adapter, read from the USB device's sysfs directory above the tty. */
async function usbInfo(name: string): Promise<Omit<PortInfo, 'path'>> {
  const read = (dir: string, file: string): Promise<string | undefined> =>
    readFile(join(dir, file), 'utf8').then(
      (s) => s.trim() || undefined,
      () => undefined,
    );
  let dir = await realpath(`/sys/class/tty/${name}/device`).catch(() => null);
  for (let up = 0; dir !== null && up < 4; up++, dir = dirname(dir)) {
    const vendorId = await read(dir, 'idVendor');
    if (!vendorId) continue;
    const [productId, manufacturer, serialNumber] = await Promise.all(['idProduct', 'manufacturer', 'serial'].map((f) => read(dir ?? '', f)));
    return withoutEmpty({ vendorId, productId, manufacturer, serialNumber });
  }
  return {};
}

function withoutEmpty<T extends object>(info: T): T {
  return Object.fromEntries(Object.entries(info).filter(([, v]) => v !== undefined && v !== null && v !== '')) as T;
}
