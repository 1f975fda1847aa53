/**
 * `hearth device …` where the output or input is special: list and ports (tables), command (text in,
 * lines out), write (field=value pairs), upload (a progress bar; Ctrl-C cancels it), watch (live).
 * The other device commands come from the operation table (cli/operations.ts).
 */
import { openAsBlob } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Command } from 'commander';
import WebSocket from 'ws';
import type { PortInfo } from '../../hub/devices/link.js';
import type { DeviceView } from '../../hub/devices/state.js';
import type { JobView } from '../../hub/jobs/types.js';
import { CliError, type ApiClient } from '../api-client.js';
import { callOperation } from '../operations.js';
import { table } from './table.js';

const POLL_MS = 250;

function deviceTable(devices: DeviceView[]): string {
  if (devices.length === 0) return 'no devices';
  return table(
    ['ID', 'PROTOCOL', 'TRANSPORT', 'STATUS', 'LAST SEEN', 'FIRMWARE'],
    devices.map((d) => [d.id, d.protocol, d.transport, d.status + (d.reason ? ` (${d.reason})` : ''), d.last_seen ?? '-', d.firmware_version ?? '-']),
  );
}

/** field=value pairs; values that read as JSON (numbers, true/false) are sent as such. */
export function valuesOf(pairs: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i <= 0) throw new CliError(`${p}: expected FIELD=VALUE`);
    const raw = p.slice(i + 1);
    let v: unknown = raw;
    try {
      v = JSON.parse(raw);
    } catch {
      // Not JSON: the text as it is.
    }
    out[p.slice(0, i)] = v;
  }
  return out;
}

/** Sends the file, then shows the job's progress until it ends; Ctrl-C cancels the job. */
async function upload(client: ApiClient, id: string, file: string, wait: boolean): Promise<void> {
  const size = (await stat(file).catch(() => null))?.size;
  if (size === undefined) throw new CliError(`${file}: no such file`);
  const form = new FormData();
  form.append('file', await openAsBlob(file), basename(file));
  let job = await client.request<JobView>('POST', `/api/devices/${encodeURIComponent(id)}/upload`, form);
  process.stdout.write(`upload job ${job.id}: ${basename(file)} (${size} bytes) to ${id}\n`);
  if (!wait) return;
  const cancel = (): void => void callOperation(client, 'job/cancel', { id: job.id }).catch(() => undefined);
  process.once('SIGINT', cancel);
  const tty = process.stdout.isTTY;
  let shown = -1;
  const show = (): void => {
    if (job.progress === shown) return;
    shown = job.progress;
    const bar = '#'.repeat(Math.floor(shown / 5)).padEnd(20, '.');
    process.stdout.write(tty ? `\r[${bar}] ${shown}%` : `${shown}%\n`);
  };
  try {
    while (job.status === 'pending' || job.status === 'running') {
      show();
      await new Promise((r) => setTimeout(r, POLL_MS));
      job = await callOperation<JobView>(client, 'job/get', { id: job.id });
    }
    show();
  } finally {
    process.off('SIGINT', cancel);
  }
  if (tty) process.stdout.write('\n');
  const last = job.steps.at(-1)?.message ?? '';
  if (job.status !== 'succeeded') throw new CliError(`upload ${job.status}: ${job.error ?? last}`);
  process.stdout.write(`upload succeeded in ${job.duration_s ?? '?'} s: ${last}\n`);
}

/** Prints telemetry and raw lines as they come, until interrupted. */
async function watch(client: ApiClient, id: string): Promise<void> {
  const url = `${client.url.replace(/^http/, 'ws')}/api/devices/${encodeURIComponent(id)}/telemetry?token=${encodeURIComponent(client.tokenValue ?? '')}`;
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.on('unexpected-response', (_req, res) => reject(new CliError(`cannot watch ${id}: ${res.statusCode ?? ''} from ${client.url}`)));
    ws.on('error', (e) => reject(new CliError(`cannot watch ${id}: ${e.message}`)));
    ws.on('close', (code, reason) => (code >= 4000 ? reject(new CliError(reason.toString())) : resolve()));
    ws.on('message', (raw) => {
      const msg = JSON.parse(raw.toString()) as { type: string; data: Record<string, unknown> };
      if (msg.type === 'line') process.stdout.write(`${msg.data.direction === 'tx' ? '>>' : '<<'} ${String(msg.data.line)}\n`);
      else if (msg.type === 'telemetry') process.stdout.write(`   ${JSON.stringify(msg.data.values)}\n`);
      else if (msg.type === 'state') process.stdout.write(`-- ${String(msg.data.status)}${msg.data.reason ? ` (${String(msg.data.reason)})` : ''}\n`);
    });
    process.once('SIGINT', () => ws.close());
  });
}

export function registerDevice(program: Command, client: () => ApiClient): void {
  const device = program.command('device').description('serial, TCP and Modbus devices');
  const print = (a: unknown): void => void process.stdout.write(JSON.stringify(a, null, 2) + '\n');

  device
    .command('list')
    .description('every device with its status')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const list = await callOperation<DeviceView[]>(client(), 'device/list');
      if (o.json) print(list);
      else process.stdout.write(deviceTable(list) + '\n');
    });
  device
    .command('ports')
    .description('the serial ports of the hub machine')
    .action(async () => {
      const ports = await callOperation<PortInfo[]>(client(), 'device/ports');
      process.stdout.write(ports.length ? table(['PATH', 'MANUFACTURER', 'SERIAL'], ports.map((p) => [p.path, p.manufacturer ?? '-', p.serialNumber ?? '-'])) + '\n' : 'no serial ports\n');
    });
  device
    .command('command <id> <text>')
    .description("send one command and print the device's answer")
    .action(async (id: string, text: string) => {
      const r = await callOperation<{ response: string[] }>(client(), 'device/command', { id, command: text });
      if (r.response.length) process.stdout.write(r.response.join('\n') + '\n');
    });
  device
    .command('write <id> <field=value...>')
    .description('write writable fields (Modbus registers and coils)')
    .action(async (id: string, pairs: string[]) => {
      const d = await callOperation<DeviceView>(client(), 'device/write', { id, values: valuesOf(pairs) });
      for (const name of Object.keys(valuesOf(pairs))) process.stdout.write(`${name} = ${JSON.stringify(d.telemetry[name] ?? null)}\n`);
    });
  device
    .command('upload <id> <file>')
    .description('send a file (G-code with flow control, or paced chunks) and show its progress; Ctrl-C cancels')
    .option('--no-wait', 'print the job id and return')
    .action(async (id: string, file: string, o: { wait: boolean }) => upload(client(), id, file, o.wait));
  device
    .command('watch <id>')
    .description('print telemetry and raw lines as they come (Ctrl-C ends)')
    .action(async (id: string) => watch(client(), id));
}
