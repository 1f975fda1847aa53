/** `hearth task …` and `hearth job …`: scheduled work and its runs. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { JobView } from '../../hub/jobs/types.js';
import type { TaskView } from '../../hub/tasks/state.js';
import { CliError, type ApiClient } from '../api-client.js';
import { table } from './table.js';

const when = (iso: string | null): string => (iso ? new Date(iso).toLocaleString() : '-');

/** A JSON body given inline or as @file. */
export function jsonArg(text: string): unknown {
  let raw = text;
  if (text.startsWith('@')) {
    try {
      raw = readFileSync(text.slice(1), 'utf8');
    } catch (e) {
      throw new CliError(`cannot read ${text.slice(1)}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
  }
  try {
    return JSON.parse(raw);
  } catch (e) {
    throw new CliError(`not JSON: ${(e as Error).message}`);
  }
}

export function registerTask(program: Command, client: () => ApiClient): void {
  const print = (a: unknown): void => void process.stdout.write(JSON.stringify(a, null, 2) + '\n');
  const task = program.command('task').description('scheduled and triggered work');
  task
    .command('list')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const list = await client().get<TaskView[]>('/api/tasks');
      if (o.json) return print(list);
      if (list.length === 0) return void process.stdout.write('no tasks\n');
      process.stdout.write(
        table(
          ['ID', 'ENABLED', 'WHEN', 'NEXT RUN', 'LAST RUN', 'RESULT'],
          list.map((t) => [t.id, t.enabled ? 'yes' : 'no', t.when, when(t.next_run), when(t.last_run), t.running ? `running ${t.progress}%` : (t.last_result ?? '-')]),
        ) + '\n',
      );
    });
  task.command('show <id>').description('one task with its next 5 runs, as JSON').action(async (id: string) => print(await client().get(`/api/tasks/${encodeURIComponent(id)}`)));
  task
    .command('create <json>')
    .description('create a task from JSON or @file, e.g. \'{"name": "backup", "schedule": "0 3 * * *", "action": {"type": "command", "command": "/usr/local/bin/backup"}}\'')
    .action(async (json: string) => {
      const t = await client().request<TaskView>('POST', '/api/tasks', jsonArg(json));
      process.stdout.write(`created task ${t.id}; next run ${when(t.next_run)}\n`);
    });
  task.command('update <id> <json>').description('change fields (JSON or @file)').action(async (id: string, json: string) => print(await client().request('PUT', `/api/tasks/${encodeURIComponent(id)}`, jsonArg(json))));
  task
    .command('run <id>')
    .description('run now (also while disabled); --wait follows it to the end')
    .option('--wait', 'wait for the job and print its progress')
    .action(async (id: string, o: { wait?: boolean }) => {
      const c = client();
      const answer = await c.request<JobView | { queued: true; position: number }>('POST', `/api/tasks/${encodeURIComponent(id)}/run`);
      if ('queued' in answer) return void process.stdout.write(`queued behind the run in progress (position ${answer.position})\n`);
      let job = answer;
      process.stdout.write(`job ${job.id} started\n`);
      if (!o.wait) return;
      let shown = -1;
      while (!['succeeded', 'failed', 'cancelled', 'interrupted', 'skipped'].includes(job.status)) {
        await new Promise((r) => setTimeout(r, 250));
        job = await c.get<JobView>(`/api/jobs/${job.id}`);
        if (job.progress !== shown) process.stdout.write(`progress ${(shown = job.progress)}%\n`);
      }
      process.stdout.write(`job ${job.id} ${job.status}${job.error ? `: ${job.error}` : ''}\n`);
      if (job.status !== 'succeeded') process.exitCode = 1;
    });
  for (const verb of ['enable', 'disable'] as const) {
    task.command(`${verb} <id>`).action(async (id: string) => {
      const t = await client().request<TaskView>('POST', `/api/tasks/${encodeURIComponent(id)}/${verb}`);
      process.stdout.write(`${t.id}: ${t.enabled ? 'enabled' : 'disabled'}\n`);
    });
  }
  task.command('delete <id>').action(async (id: string) => {
    await client().request('DELETE', `/api/tasks/${encodeURIComponent(id)}`);
    process.stdout.write(`deleted task ${id}\n`);
  });

  const job = program.command('job').description('runs of tasks (and later installs, deploys, uploads)');
  job
    .command('list')
    .option('--status <status>', 'pending, running, succeeded, failed, cancelled, interrupted, skipped')
    .option('--task <id>', 'of one task')
    .option('--json', 'print JSON')
    .action(async (o: { status?: string; task?: string; json?: boolean }) => {
      const q = new URLSearchParams({ ...(o.status ? { status: o.status } : {}), ...(o.task ? { task_id: o.task } : {}) });
      const list = await client().get<JobView[]>(`/api/jobs?${q.toString()}`);
      if (o.json) return print(list);
      process.stdout.write(
        table(
          ['ID', 'TASK', 'TRIGGER', 'STATUS', 'PROGRESS', 'STARTED', 'SECONDS', 'EXIT'],
          list.map((j) => [String(j.id), j.task_id ?? '-', j.trigger, j.status, `${j.progress}%`, when(j.started_at), j.duration_s === null ? '-' : String(j.duration_s), j.exit_code === null ? '-' : String(j.exit_code)]),
        ) + '\n',
      );
    });
  job.command('show <id>').action(async (id: string) => print(await client().get(`/api/jobs/${encodeURIComponent(id)}`)));
  job
    .command('logs <id>')
    .option('--stream <stream>', 'stdout or stderr', 'stdout')
    .action(async (id: string, o: { stream: string }) => {
      const text = await client().request<string>('GET', `/api/jobs/${encodeURIComponent(id)}/${o.stream === 'stderr' ? 'stderr' : 'stdout'}`);
      process.stdout.write(typeof text === 'string' ? text : JSON.stringify(text));
    });
  job.command('cancel <id>').action(async (id: string) => {
    const j = await client().request<JobView>('POST', `/api/jobs/${encodeURIComponent(id)}/cancel`);
    process.stdout.write(`job ${j.id}: ${j.status}\n`);
  });
}
