/**
 * `hearth task …` and `hearth job …` where the output is special: lists (tables), `task run --wait`
 * (follows the job to its end) and `job logs` (text). The other commands come from the operation
 * table (cli/operations.ts).
 */
import type { Command } from 'commander';
import type { JobView } from '../../hub/jobs/types.js';
import type { TaskView } from '../../hub/tasks/state.js';
import type { ApiClient } from '../api-client.js';
import { callOperation } from '../operations.js';
import { table } from './table.js';

const when = (iso: string | null): string => (iso ? new Date(iso).toLocaleString() : '-');

const FINISHED = ['succeeded', 'failed', 'cancelled', 'interrupted', 'skipped'];

export function registerTask(program: Command, client: () => ApiClient): void {
  const print = (a: unknown): void => void process.stdout.write(JSON.stringify(a, null, 2) + '\n');
  const task = program.command('task').description('scheduled and triggered work');
  task
    .command('list')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const list = await callOperation<TaskView[]>(client(), 'task/list');
      if (o.json) return print(list);
      if (list.length === 0) return void process.stdout.write('no tasks\n');
      process.stdout.write(
        table(
          ['ID', 'ENABLED', 'WHEN', 'NEXT RUN', 'LAST RUN', 'RESULT'],
          list.map((t) => [t.id, t.enabled ? 'yes' : 'no', t.when, when(t.next_run), when(t.last_run), t.running ? `running ${t.progress}%` : (t.last_result ?? '-')]),
        ) + '\n',
      );
    });
  task
    .command('run <id>')
    .description('run now (also while disabled); --wait follows it to the end')
    .option('--wait', 'wait for the job and print its progress')
    .action(async (id: string, o: { wait?: boolean }) => {
      const c = client();
      const answer = await callOperation<JobView | { queued: true; position: number }>(c, 'task/run', { id });
      if ('queued' in answer) return void process.stdout.write(`queued behind the run in progress (position ${answer.position})\n`);
      let job = answer;
      process.stdout.write(`job ${job.id} started\n`);
      if (!o.wait) return;
      let shown = -1;
      while (!FINISHED.includes(job.status)) {
        await new Promise((r) => setTimeout(r, 250));
        job = await callOperation<JobView>(c, 'job/get', { id: job.id });
        if (job.progress !== shown) process.stdout.write(`progress ${(shown = job.progress)}%\n`);
      }
      process.stdout.write(`job ${job.id} ${job.status}${job.error ? `: ${job.error}` : ''}\n`);
      if (job.status !== 'succeeded') process.exitCode = 1;
    });

  const job = program.command('job').description('runs of tasks, uploads (and later installs, deploys)');
  job
    .command('list')
    .option('--status <status>', 'pending, running, succeeded, failed, cancelled, interrupted, skipped')
    .option('--task <id>', 'of one task')
    .option('--json', 'print JSON')
    .action(async (o: { status?: string; task?: string; json?: boolean }) => {
      const list = await callOperation<JobView[]>(client(), 'job/list', { ...(o.status ? { status: o.status } : {}), ...(o.task ? { task_id: o.task } : {}) });
      if (o.json) return print(list);
      process.stdout.write(
        table(
          ['ID', 'TASK', 'TRIGGER', 'STATUS', 'PROGRESS', 'STARTED', 'SECONDS', 'EXIT'],
          list.map((j) => [String(j.id), j.task_id ?? '-', j.trigger, j.status, `${j.progress}%`, when(j.started_at), j.duration_s === null ? '-' : String(j.duration_s), j.exit_code === null ? '-' : String(j.exit_code)]),
        ) + '\n',
      );
    });
  job
    .command('logs <id>')
    .option('--stream <stream>', 'stdout or stderr', 'stdout')
    .action(async (id: string, o: { stream: string }) => {
      const text = await client().request<string>('GET', `/api/jobs/${encodeURIComponent(id)}/${o.stream === 'stderr' ? 'stderr' : 'stdout'}`);
      process.stdout.write(typeof text === 'string' ? text : JSON.stringify(text));
    });
}
