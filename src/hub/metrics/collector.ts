/**
 * Samples the host: on Linux from /proc and /sys (linux.ts), elsewhere through systeminformation.
 * Rates (CPU, network) are computed from counter deltas between samples.
 */
import { loadavg, uptime } from 'node:os';
import type { Systeminformation } from 'systeminformation';
import * as linux from './linux.js';
import type { DiskUsage, HostMetrics, Temperature } from './types.js';

/** A mounted filesystem as either source reports it. */
type FsLike = Pick<Systeminformation.FsSizeData, 'fs' | 'type' | 'mount' | 'size' | 'used' | 'use'>;

interface Readings {
  cpuPercent: number;
  mem: { total: number; available: number; swapTotal: number; swapFree: number };
  disks: FsLike[];
  temperatures: Temperature[];
  net: { rx: number; tx: number };
}

/** Pseudo, memory-backed and layered filesystems: not disks a user can fill. */
const NOT_DISKS = new Set([
  'tmpfs', 'devtmpfs', 'overlay', 'overlayfs', 'proc', 'sysfs', 'squashfs', 'cgroup', 'cgroup2', 'devpts',
  'mqueue', 'autofs', 'ramfs', 'nsfs', 'tracefs', 'debugfs', 'securityfs', 'pstore', 'bpf', 'configfs',
  'fusectl', 'hugetlbfs', 'efivarfs', 'binfmt_misc', 'rpc_pipefs', 'nfsd', 'iso9660', 'shm', 'none',
]);

const round = (n: number, digits = 1): number => {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
};

/** A filesystem type a disk can have (not a pseudo, memory-backed or FUSE one). */
export function isDiskType(fsType: string): boolean {
  const type = fsType.toLowerCase();
  return !NOT_DISKS.has(type) && !type.startsWith('fuse.');
}

export function realDisks(list: FsLike[]): DiskUsage[] {
  // A device mounted several times (bind mounts, as in containers) is one disk: keep its shortest path.
  const byDevice = new Map<string, FsLike>();
  for (const fs of list) {
    if (!isDiskType(fs.type) || !(fs.size > 0) || !fs.mount.startsWith('/')) continue;
    const seen = byDevice.get(fs.fs);
    if (!seen || fs.mount.length < seen.mount.length) byDevice.set(fs.fs, fs);
  }
  return [...byDevice.values()]
    .sort((a, b) => a.mount.localeCompare(b.mount))
    .map((fs) => ({
      mount: fs.mount,
      type: fs.type,
      size_bytes: fs.size,
      used_bytes: fs.used,
      // As df reports it: used of what a user can use (reserved blocks left out).
      used_percent: round(fs.use),
    }));
}

export function temperatures(t: Systeminformation.CpuTemperatureData): Temperature[] {
  const out: Temperature[] = [];
  const add = (name: string, v: number | null | undefined): void => {
    if (typeof v === 'number' && Number.isFinite(v) && v > -100) out.push({ name, celsius: round(v) });
  };
  add('cpu', t.main);
  add('cpu_max', t.max);
  add('chipset', t.chipset);
  t.cores.forEach((c, i) => add(`core_${i}`, c));
  return out;
}

export class MetricsCollector {
  private lastNet: { at: number; rx: number; tx: number } | null = null;
  private lastCpu: { busy: number; total: number } | null = null;
  /** Found at the first sample; a host without sensors is not asked again. */
  private sensors: linux.SensorFile[] | null = null;
  private hasSensors: boolean | null = null;
  private readonly onLinux = linux.isLinux();

  /** `interfaces`: virtual network interfaces to count all the same (HEARTH_METRICS_INTERFACES). */
  constructor(private readonly interfaces: readonly string[] = []) {}

  private readLinux(): Readings {
    const cpu = linux.cpuTimes();
    const prev = this.lastCpu;
    this.lastCpu = cpu;
    const busy = prev ? cpu.busy - prev.busy : cpu.busy;
    const total = prev ? cpu.total - prev.total : cpu.total;
    this.sensors ??= linux.findSensors();
    const temps: Temperature[] = [];
    for (const s of this.sensors) {
      const c = linux.readSensor(s);
      if (c !== null && c > -100) temps.push({ name: s.name, celsius: round(c) });
    }
    return { cpuPercent: total > 0 ? (busy / total) * 100 : 0, mem: linux.memory(), disks: linux.mounts(isDiskType), temperatures: temps, net: linux.netBytes(this.interfaces) };
  }

  private async readPortable(): Promise<Readings> {
    // Loaded only where it is used: on Linux it would be memory for nothing.
    const { default: si } = await import('systeminformation');
    const none = { main: null, cores: [], max: null } as unknown as Systeminformation.CpuTemperatureData;
    const [load, mem, fsList, temps, net] = await Promise.all([
      si.currentLoad(),
      si.mem(),
      si.fsSize().catch(() => []),
      this.hasSensors === false ? none : si.cpuTemperature().catch(() => none),
      si.networkStats('*').catch(() => []),
    ]);
    const t = temperatures(temps);
    this.hasSensors ??= t.length > 0;
    const external = net.filter((n) => n.iface !== 'lo');
    return {
      cpuPercent: load.currentLoad,
      mem: { total: mem.total, available: mem.available, swapTotal: mem.swaptotal, swapFree: mem.swapfree },
      disks: fsList,
      temperatures: t,
      net: { rx: external.reduce((a, n) => a + n.rx_bytes, 0), tx: external.reduce((a, n) => a + n.tx_bytes, 0) },
    };
  }

  async sample(): Promise<HostMetrics> {
    const r = this.onLinux ? this.readLinux() : await this.readPortable();
    const now = Date.now();
    const [l1, l5, l15] = loadavg();
    let rxRate = 0;
    let txRate = 0;
    if (this.lastNet && now > this.lastNet.at) {
      const seconds = (now - this.lastNet.at) / 1000;
      rxRate = Math.max(0, (r.net.rx - this.lastNet.rx) / seconds);
      txRate = Math.max(0, (r.net.tx - this.lastNet.tx) / seconds);
    }
    this.lastNet = { at: now, ...r.net };
    const used = r.mem.total - r.mem.available;
    const swapUsed = r.mem.swapTotal - r.mem.swapFree;
    return {
      timestamp: new Date(now).toISOString(),
      cpu_percent: round(r.cpuPercent),
      load_1: round(l1 ?? 0, 2),
      load_5: round(l5 ?? 0, 2),
      load_15: round(l15 ?? 0, 2),
      memory_used_percent: round((used / r.mem.total) * 100),
      memory_used_bytes: used,
      memory_total_bytes: r.mem.total,
      swap_used_percent: r.mem.swapTotal > 0 ? round((swapUsed / r.mem.swapTotal) * 100) : 0,
      swap_total_bytes: r.mem.swapTotal,
      disks: realDisks(r.disks),
      temperatures: r.temperatures,
      network_rx_bytes_per_s: Math.round(rxRate),
      network_tx_bytes_per_s: Math.round(txRate),
      // Rounded to the second so the timestamp does not jitter between samples.
      booted_at: new Date(Math.round((now - uptime() * 1000) / 1000) * 1000).toISOString(),
    };
  }
}
