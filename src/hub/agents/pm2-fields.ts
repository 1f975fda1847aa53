/** What PM2's ecosystem fields mean here: their units, their other names, and the ones that are known but ignored (with why). */

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/i;
const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** PM2 durations: a number of milliseconds, or "1500", "10s", "5m", "1h" (and "200ms"). */
export function durationMs(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v : undefined;
  if (typeof v !== 'string') return undefined;
  const m = DURATION.exec(v.trim());
  if (!m) return undefined;
  return Number(m[1]) * DURATION_MS[(m[2] ?? 'ms').toLowerCase()]!;
}

const SIZE = /^(\d+(?:\.\d+)?)\s*([KMG])?B?$/i;
const SIZE_BYTES: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** PM2 memory sizes: a number of bytes, or "500K", "150M", "1G" (powers of 1024, as PM2 counts). */
export function sizeBytes(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v > 0 ? v : undefined;
  if (typeof v !== 'string') return undefined;
  const m = SIZE.exec(v.trim());
  if (!m) return undefined;
  const bytes = Number(m[1]) * SIZE_BYTES[(m[2] ?? '').toUpperCase()]!;
  return bytes > 0 ? bytes : undefined;
}

/**
 * PM2's `instances` as a count of processes: a number or a numeric string, "max" or 0 for the CPU
 * count, -N for the CPUs less N, never fewer than 1 (lib/Common.js verifyConfs, lib/God.js prepare).
 * Undefined for anything else.
 */
export function instanceCount(v: unknown, cpus: number): number | undefined {
  let n: number;
  if (v === 'max') n = 0;
  else if (typeof v === 'number' && Number.isInteger(v)) n = v;
  else if (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v)) n = Number.parseInt(v, 10);
  else return undefined;
  if (n === 0) n = cpus;
  else if (n < 0) n += cpus;
  return Math.max(n, 1);
}

/** The interpreter PM2 picks by the script's extension (lib/API/interpreter.json; .py: python3, which PM2 falls back to). */
export const INTERPRETER_BY_EXT: Record<string, string> = {
  '.js': 'node',
  '.cjs': 'node',
  '.mjs': 'node',
  '.ts': 'bun',
  '.tsx': 'bun',
  '.py': 'python3',
  '.sh': 'bash',
  '.rb': 'ruby',
  '.php': 'php',
  '.pl': 'perl',
  '.coffee': 'coffee',
  '.ls': 'lsc',
};

/** What Hearth's file watch ignores whatever it is told (supervisor/file-watch.ts), as ignore_watch names it. */
export const WATCH_IGNORED_ALWAYS = ['node_modules', '.git'];
/** What PM2 ignores when ignore_watch is not given, /[\/\\]\.|node_modules/ (lib/Watcher.js), beside those: every dot file and folder. */
export const PM2_WATCH_IGNORES = ['.*'];

// Fields PM2 knows that mean nothing here.

const LOGS = 'Hearth keeps the output of its agents itself';
const PM2_ONLY = 'PM2-specific, no equivalent in Hearth';

export const IGNORED: Record<string, string> = {
  increment_var: 'Hearth does not count a variable up per instance; `port: true` gives each instance its own PORT',
  instance_var: 'Hearth sets NODE_APP_INSTANCE and HEARTH_INSTANCE (0..N-1) and cannot rename them',
  watch_options: "chokidar's options; Hearth watches with fs.watch",
  out_file: LOGS,
  error_file: LOGS,
  log_file: LOGS,
  log_date_format: LOGS,
  log_type: LOGS,
  merge_logs: LOGS,
  disable_logs: LOGS,
  time: LOGS,
  pid_file: 'Hearth tracks the process itself',
  name_prefix: 'Hearth has no name prefixes or namespaces',
  namespace: 'Hearth has no name prefixes or namespaces',
  filter_env: PM2_ONLY,
  shutdown_with_message: 'Hearth stops an agent with a signal (stop_signal), not a message',
  kill_retry_time: PM2_ONLY,
  treekill: PM2_ONLY,
  uid: "Hearth runs agents as the hub's user",
  gid: "Hearth runs agents as the hub's user",
  username: "Hearth runs agents as the hub's user",
  force: PM2_ONLY,
  execute_command: PM2_ONLY,
  install_url: PM2_ONLY,
  post_update: PM2_ONLY,
  source_map_support: PM2_ONLY,
  disable_source_map_support: PM2_ONLY,
  vizion: PM2_ONLY,
  pmx: PM2_ONLY,
  automation: PM2_ONLY,
  trace: PM2_ONLY,
  disable_trace: PM2_ONLY,
  v8: PM2_ONLY,
  event_loop_inspector: PM2_ONLY,
  deep_monitoring: PM2_ONLY,
  io: PM2_ONLY,
  windowsHide: PM2_ONLY,
  write: PM2_ONLY,
};

/** PM2's other names for a field (lib/API/schema.json; cmd and command: lib/Common.js verifyConfs), to the field's own name. */
export const ALIASES: Record<string, string> = {
  exec: 'script',
  cmd: 'script',
  command: 'script',
  exec_interpreter: 'interpreter',
  interpreter_args: 'node_args',
  interpreterArgs: 'node_args',
  out: 'out_file',
  output: 'out_file',
  out_log: 'out_file',
  error: 'error_file',
  err: 'error_file',
  err_file: 'error_file',
  err_log: 'error_file',
  log: 'log_file',
  cron: 'cron_restart',
  combine_logs: 'merge_logs',
  pid: 'pid_file',
  user: 'uid',
};

/** The fields pm2-import.ts maps to an agent. */
export const MAPPED = new Set([
  'name',
  'script',
  'args',
  'interpreter',
  'node_args',
  'cwd',
  'env',
  'port',
  'autostart',
  'autorestart',
  'stop_exit_codes',
  'max_restarts',
  'min_uptime',
  'restart_delay',
  'exp_backoff_restart_delay',
  'max_memory_restart',
  'kill_timeout',
  'instances',
  'exec_mode',
  'watch',
  'ignore_watch',
  'watch_delay',
  'cron_restart',
  'wait_ready',
  'listen_timeout',
  'append_env_to_name',
]);

/** Top-level fields of an ecosystem file besides apps. */
export const FILE_IGNORED: Record<string, string> = { deploy: 'deployment is not part of Hearth' };
