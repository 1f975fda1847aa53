/** What PM2's ecosystem fields mean here: their units, and the ones that are known but ignored (with why). */

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

// Fields PM2 knows that mean nothing here.

const LOGS = 'Hearth keeps the output of its agents itself';
const PM2_ONLY = 'PM2-specific, no equivalent in Hearth';
const ONE_PROCESS = 'Hearth runs one process per agent; declare more agents for more instances';
const NO_WATCH = 'Hearth does not watch files; restart the agent after a change';

export const IGNORED: Record<string, string> = {
  instances: ONE_PROCESS,
  exec_mode: ONE_PROCESS + ' (fork mode)',
  increment_var: ONE_PROCESS,
  instance_var: ONE_PROCESS,
  watch: NO_WATCH,
  ignore_watch: NO_WATCH,
  watch_options: NO_WATCH,
  watch_delay: NO_WATCH,
  out_file: LOGS,
  error_file: LOGS,
  log_file: LOGS,
  log_date_format: LOGS,
  log_type: LOGS,
  merge_logs: LOGS,
  disable_logs: LOGS,
  time: LOGS,
  pid_file: 'Hearth tracks the process itself',
  cron_restart: 'use a Hearth task to restart it on a schedule',
  name_prefix: 'Hearth has no name prefixes or namespaces',
  namespace: 'Hearth has no name prefixes or namespaces',
  filter_env: PM2_ONLY,
  append_env_to_name: PM2_ONLY,
  wait_ready: 'Hearth has no ready message; use a health_check',
  listen_timeout: 'Hearth has no ready message; use a health_check',
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

/** PM2's other names for a field (lib/API/schema.json), to the field's own name. */
export const ALIASES: Record<string, string> = {
  exec: 'script',
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

/** The fields this module maps to an agent. */
export const MAPPED = new Set([
  'name',
  'script',
  'args',
  'interpreter',
  'node_args',
  'cwd',
  'env',
  'port',
  'autorestart',
  'stop_exit_codes',
  'max_restarts',
  'min_uptime',
  'restart_delay',
  'exp_backoff_restart_delay',
  'max_memory_restart',
  'kill_timeout',
]);

/** Top-level fields of an ecosystem file besides apps. */
export const FILE_IGNORED: Record<string, string> = { deploy: 'deployment is not part of Hearth' };
