/**
 * Host readings straight from /proc and /sys on Linux: no process is started and nothing blocks
 * for long, so a sample costs well under a millisecond. (systeminformation, used elsewhere, runs
 * df, ip and date for the same numbers.)
 */
import { existsSync, readdirSync, readFileSync, statfsSync } from 'node:fs';

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

/** Bytes received and sent by every interface but loopback, since boot. */
export function netBytes(): { rx: number; tx: number } {
  let rx = 0;
  let tx = 0;
  for (const line of readFileSync('/proc/net/dev', 'utf8').split('\n').slice(2)) {
    const [name, rest] = line.split(':');
    if (!rest || name!.trim() === 'lo') continue;
    const f = rest.trim().split(/\s+/).map(Number);
    rx += f[0] ?? 0;
    tx += f[8] ?? 0;
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
 * Mount points with their sizes; octal escapes in paths (\040 for a space) decoded. Only types
 * `wanted` says yes to are measured (statfs of every cgroup and proc mount is work for nothing).
 */
export function mounts(wanted: (type: string) => boolean): Mounted[] {
  const out: Mounted[] = [];
  for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const [fs, rawMount, type] = line.split(' ');
    if (!fs || !rawMount || !type || !wanted(type)) continue;
    const mount = rawMount.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
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
