/** Host metrics as sampled, and their flat numeric form for history. */
export interface DiskUsage {
  mount: string;
  type: string;
  size_bytes: number;
  used_bytes: number;
  used_percent: number;
}

export interface Temperature {
  /** cpu, cpu_max, chipset, core_0, ... */
  name: string;
  celsius: number;
}

export interface HostMetrics {
  timestamp: string;
  cpu_percent: number;
  load_1: number;
  load_5: number;
  load_15: number;
  memory_used_percent: number;
  memory_used_bytes: number;
  memory_total_bytes: number;
  swap_used_percent: number;
  swap_total_bytes: number;
  disks: DiskUsage[];
  temperatures: Temperature[];
  network_rx_bytes_per_s: number;
  network_tx_bytes_per_s: number;
  booted_at: string;
}

/** One number per series, for storage and charts: disk.<mount>, temperature.<name>, ... */
export function flattenMetrics(m: HostMetrics): Record<string, number> {
  const out: Record<string, number> = {
    cpu_percent: m.cpu_percent,
    load_1: m.load_1,
    load_5: m.load_5,
    load_15: m.load_15,
    memory_used_percent: m.memory_used_percent,
    memory_used_bytes: m.memory_used_bytes,
    swap_used_percent: m.swap_used_percent,
    network_rx_bytes_per_s: m.network_rx_bytes_per_s,
    network_tx_bytes_per_s: m.network_tx_bytes_per_s,
  };
  for (const d of m.disks) out[`disk.${d.mount}`] = d.used_percent;
  for (const t of m.temperatures) out[`temperature.${t.name}`] = t.celsius;
  return out;
}
