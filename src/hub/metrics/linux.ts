/**
 * Host readings straight from /proc and /sys on Linux: no process is started and nothing blocks
 * for long, so a sample costs well under a millisecond. (systeminformation, used elsewhere, runs
 * df, ip and date for the same numbers.)
 */
import { existsSync, readdirSync, readFileSync, statfsSync } from 'node:fs';
import { join } from 'node:path';

export const isLinux = (): boolean => process.platform === 'linux' && existsSync('/proc/stat');

/** Busy and total jiffies of all CPUs since boot. */
export function cpuTimes(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user and nice)
  const total = v.slice(0, 8).reduce((a, b) => a + (b || 0), 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

export function memory(): { total: number; available: number; swapTotal: number; swapFree: number } {
  const kb: Record<string, number> = {};
  for (const line of readFileSync('/proc/meminfo', 'utf8').split('\n')) {
    const m = /^(\w+):\s+(\d+)/.exec(line);
    if (m) kb[m[1]!] = Number(m[2]) * 1024;
  }
  return { total: kb.MemTotal ?? 0, available: kb.MemAvailable ?? kb.MemFree ?? 0, swapTotal: kb.SwapTotal ?? 0, swapFree: kb.SwapFree ?? 0 };
}

/**
 * Bytes received and sent since boot by the interfaces traffic leaves the host through. Virtual
 * ones (loopback, docker0, veth*, br-*: whatever /sys/devices/virtual/net lists) carry what a
 * physical one carries too, so they are left out unless `keep` names them. Where no interface but
 * loopback is physical (a container's own network namespace, whose eth0 is a veth), the virtual
 * ones are the way out and are counted. `root` is where /proc and /sys are (a test's copy).
 */
export function netBytes(keep: readonly string[] = [], root = '/'): { rx: number; tx: number } {
  const rows: Array<{ name: string; rx: number; tx: number }> = [];
  for (const line of readFileSync(join(root, 'proc/net/dev'), 'utf8').split('\n').slice(2)) {
    const [name, rest] = line.split(':');
    if (!rest) continue;
    const f = rest.trim().split(/\s+/).map(Number);
    rows.push({ name: name!.trim(), rx: f[0] ?? 0, tx: f[8] ?? 0 });
  }
  const virtualDir = join(root, 'sys/devices/virtual/net');
  const virtual = new Set(existsSync(virtualDir) ? readdirSync(virtualDir) : []);
  const physical = rows.some((r) => r.name !== 'lo' && !virtual.has(r.name));
  const counted = (name: string): boolean => keep.includes(name) || (name !== 'lo' && (!physical || !virtual.has(name)));
  let rx = 0;
  let tx = 0;
  for (const r of rows.filter((x) => counted(x.name))) {
    rx += r.rx;
    tx += r.tx;
  }
  return { rx, tx };
}

export interface Mounted {
  fs: string;
  type: string;
  mount: string;
  size: number;
  used: number;
  /** As df: used of what a user can use (blocks reserved for root left out). */
  use: number;
}

/**
 * Filesystems served over the network, or by a cluster: statfs on one whose server is gone blocks
 * until the server answers (an NFS hard mount: forever), and the hub's event loop with it.
 */
export const NETWORK_FS = new Set([
  'nfs', 'nfs4', 'cifs', 'smb3', 'smbfs', '9p', 'ceph', 'glusterfs', 'lustre', 'gfs2', 'ocfs2', 'afs', 'ncpfs',
  'coda', 'davfs', 'beegfs', 'gpfs', 'orangefs', 'pvfs2', 'fuse',
]);

/** A filesystem statfs answers locally: not a network one, nor a FUSE subtype (sshfs, rclone, s3fs: a process serves it). */
export const isLocalFs = (type: string): boolean => !NETWORK_FS.has(type) && !type.startsWith('fuse.');

const unescape = (s: string): string => s.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** Each mount of /proc/self/mountinfo: its source, type and mount point (octal escapes, \040 for a space, decoded). */
export function parseMountinfo(text: string): Array<{ fs: string; type: string; mount: string }> {
  const out: Array<{ fs: string; type: string; mount: string }> = [];
  for (const line of text.split('\n')) {
    // id parent major:minor root mount-point options [optional fields…] - type source super-options
    const f = line.split(' ');
    const dash = f.indexOf('-', 6);
    const [mount, type, fs] = [f[4], f[dash + 1], f[dash + 2]];
    if (dash < 0 || !mount || !type || !fs) continue;
    out.push({ fs: unescape(fs), type, mount: unescape(mount) });
  }
  return out;
}

/**
 * Local mount points with their sizes. Only types `wanted` says yes to are measured (statfs of
 * every cgroup and proc mount is work for nothing), and never a network one (isLocalFs).
 */
export function mounts(wanted: (type: string) => boolean, root = '/'): Mounted[] {
  const out: Mounted[] = [];
  for (const { fs, type, mount } of parseMountinfo(readFileSync(join(root, 'proc/self/mountinfo'), 'utf8'))) {
    if (!isLocalFs(type) || !wanted(type)) continue;
    try {
      const s = statfsSync(mount);
      const size = s.blocks * s.bsize;
      const used = (s.blocks - s.bfree) * s.bsize;
      const avail = s.bavail * s.bsize;
      out.push({ fs, type, mount, size, used, use: used + avail > 0 ? (used / (used + avail)) * 100 : 0 });
    } catch {
      // not ours to read (permissions, a vanished mount): left out
    }
  }
  return out;
}

export interface SensorFile {
  name: string;
  file: string;
}

/** Temperature sensors: hwmon inputs, else thermal zones. Found once; read each sample. */
export function findSensors(): SensorFile[] {
  const found: SensorFile[] = [];
  const slug = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_|_$/g, '');
  const read = (f: string): string => {
    try {
      return readFileSync(f, 'utf8').trim();
    } catch {
      return '';
    }
  };
  const hw = '/sys/class/hwmon';
  for (const dir of existsSync(hw) ? readdirSync(hw) : []) {
    const base = `${hw}/${dir}`;
    const chip = slug(read(`${base}/name`) || dir);
    for (const f of readdirSync(base).filter((x) => /^temp\d+_input$/.test(x))) {
      const label = slug(read(`${base}/${f.replace('_input', '_label')}`));
      found.push({ name: label ? `${chip}_${label}` : `${chip}_${f.replace('_input', '')}`, file: `${base}/${f}` });
    }
  }
  const th = '/sys/class/thermal';
  if (found.length === 0 && existsSync(th)) {
    for (const dir of readdirSync(th).filter((x) => x.startsWith('thermal_zone'))) {
      found.push({ name: slug(read(`${th}/${dir}/type`) || dir), file: `${th}/${dir}/temp` });
    }
  }
  return found;
}

/** Celsius, from millidegrees. */
export function readSensor(s: SensorFile): number | null {
  try {
    const v = Number(readFileSync(s.file, 'utf8')) / 1000;
    return Number.isFinite(v) ? v : null;
  } catch {
    return null;
  }
}
