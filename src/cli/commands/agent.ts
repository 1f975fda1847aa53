/**
 * `hearth agent …` where the output is special: list (a table), create (a command line, not JSON),
 * reload (its progress), logs (-f follows live). The other agent commands come from the operation table (cli/operations.ts).
 */
import type { Command } from 'commander';
import WebSocket from 'ws';
import type { AgentView } from '../../hub/agents/state.js';
import { CliError, type ApiClient } from '../api-client.js';
import { callOperation } from '../operations.js';
import { table } from './table.js';

function agentTable(agents: AgentView[]): string {
  if (agents.length === 0) return 'no agents';
  return table(
    ['ID', 'STATUS', 'INSTANCES', 'PID', 'CPU', 'MEMORY', 'RESTARTS', 'HEALTH'],
    agents.map((a) => [
      a.id,
      a.status + (a.reason ? ` (${a.reason})` : ''),
      `${a.instances_running}/${a.instances}`,
      a.pid === null ? '-' : String(a.pid),
      a.cpu_percent === null ? '-' : `${a.cpu_percent}%`,
      a.memory_bytes === null ? '-' : `${(a.memory_bytes / 1048576).toFixed(1)} MiB`,
      String(a.restarts),
      String(a.health),
    ]),
  );
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

interface CreateFlags {
  cwd?: string;
  env: string[];
  restart?: string;
  autostart: boolean;
  instances?: string;
  port?: boolean;
  watch?: boolean;
  cronRestart?: string;
}

/** KEY=VALUE pairs into an env object. */
function envOf(pairs: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i <= 0) throw new CliError(`--env ${p}: expected KEY=VALUE`);
    env[p.slice(0, i)] = p.slice(i + 1);
  }
  return env;
}

/** How many lines at the end of `tail` the stream repeats at its start (both saw them). */
export function overlap(tail: string[], streamed: string[]): number {
  for (let k = Math.min(tail.length, streamed.length); k > 0; k--) {
    if (tail.slice(-k).every((line, i) => line === streamed[i])) return k;
  }
  return 0;
}

/**
 * The last lines, then every new one until interrupted. The stream is opened before the tail is
 * read, so no line falls between the two; what both saw is printed once.
 */
async function tailAndFollow(client: ApiClient, id: string, stream: string | undefined, lines: number): Promise<void> {
  const url = `${client.url.replace(/^http/, 'ws')}/api/events?types=log.line&token=${encodeURIComponent(client.tokenValue ?? '')}`;
  const ws = new WebSocket(url);
  const early: Array<{ stream: string; line: string }> = [];
  let print: ((l: { stream: string; line: string }) => void) | null = null;
  const show = (l: { stream: string; line: string }): void => void (l.stream === 'stderr' ? process.stderr : process.stdout).write(`${l.line}\n`);
  const done = new Promise<void>((resolve, reject) => {
    ws.on('unexpected-response', (_req, res) => reject(new CliError(`cannot follow logs: ${res.statusCode ?? ''} from ${client.url}`)));
    ws.on('error', (e) => reject(new CliError(`cannot follow logs: ${e.message}`)));
    ws.on('close', () => resolve());
    ws.on('message', (raw) => {
      const msg = JSON.parse(raw.toString()) as { type: string; data: { kind?: string; id?: string; stream?: string; line?: string } };
      if (msg.type !== 'log.line' || msg.data.kind !== 'agent' || msg.data.id !== id) return;
      if (stream && msg.data.stream !== stream) return;
      const l = { stream: msg.data.stream ?? 'stdout', line: msg.data.line ?? '' };
      if (print) print(l);
      else early.push(l);
    });
    process.once('SIGINT', () => ws.close());
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    done.catch(reject);
  });
  const s = stream ?? 'stdout';
  const tail = (await callOperation<{ lines: string[] }>(client, 'agent/logs', { id, stream: s, tail: lines })).lines;
  tail.forEach((line) => show({ stream: s, line }));
  const same = overlap(tail, early.filter((l) => l.stream === s).map((l) => l.line));
  let skip = same;
  for (const l of early) {
    if (l.stream === s && skip > 0) {
      skip--;
      continue;
    }
    show(l);
  }
  print = show;
  await done;
}

const PROGRESS_POLL_MS = 250;

/**
 * The reload, with its progress: while the hub replaces the instances one by one, which one it is
 * at goes to stderr (the answer's line to stdout).
 */
async function reload(client: ApiClient, id: string, json: boolean): Promise<void> {
  let done = false;
  const call = callOperation<AgentView & { reload: { detail: string } }>(client, 'agent/reload', { id }).finally(() => (done = true));
  let shown = '';
  while (!done) {
    await Promise.race([call.catch(() => undefined), new Promise((r) => setTimeout(r, PROGRESS_POLL_MS))]);
    if (done) break;
    const r = (await callOperation<AgentView>(client, 'agent/get', { id }).catch(() => null))?.reloading;
    const now = r ? `reloading instance ${r.instance + 1} of ${r.of}…` : '';
    if (now && now !== shown) process.stderr.write(`${now}\n`);
    shown = now;
  }
  const a = await call;
  process.stdout.write(json ? `${JSON.stringify(a, null, 2)}\n` : `${a.id}: ${a.reload.detail}\n`);
}

export function registerAgent(program: Command, client: () => ApiClient): void {
  const agent = program.command('agent').description('supervised programs');
  const print = (a: unknown): void => void process.stdout.write(JSON.stringify(a, null, 2) + '\n');

  agent
    .command('list')
    .description('every agent with its status and usage')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const list = await callOperation<AgentView[]>(client(), 'agent/list');
      if (o.json) print(list);
      else process.stdout.write(agentTable(list) + '\n');
    });
  agent
    .command('create <name> <command> [args...]')
    .description('create an agent: the command runs as given, never through a shell (put -- before arguments that start with -)')
    .option('--cwd <dir>', 'working directory')
    .option('--env <KEY=VALUE>', 'environment (repeatable)', collect, [])
    .option('--restart <policy>', 'always, on-failure or never')
    .option('--no-autostart', 'create it stopped')
    .option('--instances <n>', 'copies to run (HEARTH_INSTANCE 0..n-1)')
    .option('--port', 'give each instance its own PORT from the hub\'s range')
    .option('--watch', 'restart when a file under --cwd changes')
    .option('--cron-restart <cron>', 'restart on this cron schedule')
    .action(async (name: string, command: string, args: string[], o: CreateFlags) => {
      const instances = o.instances === undefined ? undefined : Number(o.instances);
      if (instances !== undefined && !Number.isInteger(instances)) throw new CliError(`--instances ${o.instances}: a whole number`);
      const body = {
        name,
        command,
        args,
        ...(o.cwd ? { cwd: o.cwd } : {}),
        ...(o.env.length ? { env: envOf(o.env) } : {}),
        ...(o.restart ? { restart: { policy: o.restart } } : {}),
        ...(instances !== undefined ? { instances } : {}),
        ...(o.port ? { port: true } : {}),
        ...(o.watch ? { watch: true } : {}),
        ...(o.cronRestart ? { cron_restart: o.cronRestart } : {}),
        autostart: o.autostart,
      };
      const a = await callOperation<AgentView>(client(), 'agent/create', body);
      process.stdout.write(`created agent ${a.id} (${a.status})\n`);
    });
  agent
    .command('reload <id>')
    .description('replace each instance in turn without downtime (a new process, ready, then the old one stops); progress on stderr')
    .option('--json', 'print the answer as JSON')
    .action((id: string, o: { json?: boolean }) => reload(client(), id, o.json === true));
  agent
    .command('logs <id>')
    .description("an agent's last lines; -f keeps following")
    .option('--stream <stream>', 'stdout or stderr (default both for -f, stdout otherwise)')
    .option('-n, --tail <n>', 'lines', '100')
    .option('-f, --follow', 'keep printing new lines')
    .action(async (id: string, o: { stream?: string; tail: string; follow?: boolean }) => {
      const c = client();
      const n = Number(o.tail);
      if (!Number.isInteger(n) || n < 1) throw new CliError(`--tail ${o.tail}: a whole number of lines, 1 or more`);
      if (o.follow) return tailAndFollow(c, id, o.stream, n);
      const got = await callOperation<{ lines: string[] }>(c, 'agent/logs', { id, stream: o.stream ?? 'stdout', tail: n });
      if (got.lines.length) process.stdout.write(got.lines.join('\n') + '\n');
    });
}
