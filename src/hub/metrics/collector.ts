/** Samples the host through systeminformation; rates are computed from counter deltas between samples. */
import { loadavg } from 'node:os';
import si from 'systeminformation';
import type { DiskUsage, HostMetrics, Temperature } from './types.js';

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

export function realDisks(list: si.Systeminformation.FsSizeData[]): DiskUsage[] {
  // A device mounted several times (bind mounts, as in containers) is one disk: keep its shortest path.
  const byDevice = new Map<string, si.Systeminformation.FsSizeData>();
  for (const fs of list) {
    const type = fs.type.toLowerCase();
    if (NOT_DISKS.has(type) || type.startsWith('fuse.') || !(fs.size > 0) || !fs.mount.startsWith('/')) continue;
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

export function temperatures(t: si.Systeminformation.CpuTemperatureData): Temperature[] {
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

  async sample(): Promise<HostMetrics> {
    const [load, mem, fsList, temps, net, time] = await Promise.all([
      si.currentLoad(),
      si.mem(),
      si.fsSize().catch(() => []),
      si.cpuTemperature().catch(() => ({ main: null, cores: [], max: null }) as unknown as si.Systeminformation.CpuTemperatureData),
      si.networkStats('*').catch(() => []),
      Promise.resolve(si.time()),
    ]);
    const now = Date.now();
    const [l1, l5, l15] = loadavg();
    const external = net.filter((n) => n.iface !== 'lo');
    const rx = external.reduce((s, n) => s + n.rx_bytes, 0);
    const tx = external.reduce((s, n) => s + n.tx_bytes, 0);
    let rxRate = 0;
    let txRate = 0;
    if (this.lastNet && now > this.lastNet.at) {
      const seconds = (now - this.lastNet.at) / 1000;
      rxRate = Math.max(0, (rx - this.lastNet.rx) / seconds);
      txRate = Math.max(0, (tx - this.lastNet.tx) / seconds);
    }
    this.lastNet = { at: now, rx, tx };
    const used = mem.total - mem.available;
    return {
      timestamp: new Date(now).toISOString(),
      cpu_percent: round(load.currentLoad),
      load_1: round(l1 ?? 0, 2),
      load_5: round(l5 ?? 0, 2),
      load_15: round(l15 ?? 0, 2),
      memory_used_percent: round((used / mem.total) * 100),
      memory_used_bytes: used,
      memory_total_bytes: mem.total,
      swap_used_percent: mem.swaptotal > 0 ? round((mem.swapused / mem.swaptotal) * 100) : 0,
      swap_total_bytes: mem.swaptotal,
      disks: realDisks(fsList),
      temperatures: temperatures(temps),
      network_rx_bytes_per_s: Math.round(rxRate),
      network_tx_bytes_per_s: Math.round(txRate),
      // Rounded to the second so the timestamp does not jitter between samples.
      booted_at: new Date(Math.round((now - Number(time.uptime) * 1000) / 1000) * 1000).toISOString(),
    };
  }
}
