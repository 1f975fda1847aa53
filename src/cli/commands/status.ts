/** `hearth status`: the running hub's info, through its API. */
import type { Command } from 'commander';
import type { HubInfo } from '../../hub/info.js';
import type { ApiClient } from '../api-client.js';
import { callOperation } from '../operations.js';

export function formatDuration(s: number): string {
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return d > 0 ? `${d}d ${h}h ${m}m` : h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m ${s % 60}s` : `${s}s`;
}

function formatHa(h: HubInfo['home_assistant']): string {
  const where = h.url ? ` ${h.url}` : '';
  const why = h.last_error ? ` (${h.last_error})` : '';
  if (h.state === 'connected') return `connected to${where}${h.version ? `, version ${h.version}` : ''}`;
  if (h.state === 'off') return `bridge off${why}`;
  return `${h.state.replace('_', ' ')}${where}${why}`;
}

export function formatStatus(i: HubInfo): string {
  const c = i.counts;
  return [
    `Hearth ${i.version} on node ${i.node_id}, up ${formatDuration(i.uptime_s)} (since ${i.started_at})`,
    `MQTT      ${i.broker.mode} broker ${i.broker.url}, ${i.broker.connected ? 'connected' : 'NOT connected'}; topics under ${i.base_topic}`,
    `Home Assistant ${formatHa(i.home_assistant)}`,
    `Database  ${i.database}`,
    `API       port ${i.http.port}`,
    `Things    ${c.agent} agents, ${c.task} tasks, ${c.device} devices`,
    `Problems  ${i.problems.length === 0 ? 'none' : i.problems.join(', ')}`,
    `Log level ${i.log_level}`,
  ].join('\n');
}

export function registerStatus(program: Command, client: () => ApiClient): void {
  program
    .command('status')
    .description("print the running hub's info")
    .option('--json', 'print the raw JSON')
    .action(async (o: { json?: boolean }) => {
      const info = await callOperation<HubInfo>(client(), 'info');
      process.stdout.write((o.json ? JSON.stringify(info, null, 2) : formatStatus(info)) + '\n');
    });
}
