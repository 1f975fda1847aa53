/**
 * `hearth user add|passwd|role|disable|enable` and `hearth audit`: passwords are read without being
 * shown (or from stdin, for scripts), never taken from the command line where `ps` would show them.
 * `user list|show|delete` come from the operation table (cli/operations.ts).
 */
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import type { AuditView } from '../../hub/users/audit.js';
import type { UserView } from '../../hub/users/store.js';
import { ROLES } from '../../hub/users/types.js';
import { CliError, type ApiClient } from '../api-client.js';
import { callOperation } from '../operations.js';
import { table } from './table.js';

/** One line from stdin: typed without echo on a terminal, or piped in. */
async function readPassword(prompt: string): Promise<string> {
  const tty = process.stdin.isTTY === true;
  const rl = createInterface({ input: process.stdin, output: tty ? process.stderr : undefined, terminal: tty });
  if (tty) {
    process.stderr.write(prompt);
    // Print nothing of what is typed.
    (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = () => undefined;
  }
  const line = await new Promise<string | null>((resolve) => {
    rl.once('line', resolve);
    rl.once('close', () => resolve(null));
  });
  rl.close();
  if (tty) process.stderr.write('\n');
  if (line === null || line === '') throw new CliError('no password given (type it, or pipe it: echo "$PASSWORD" | hearth user …)');
  return line;
}

function role(text: string): (typeof ROLES)[number] {
  const r = ROLES.find((x) => x === text);
  if (!r) throw new CliError(`role must be one of ${ROLES.join(', ')}, not "${text}"`);
  return r;
}

const say = (u: UserView): string => `${u.username}  ${u.role}${u.enabled ? '' : '  (disabled)'}`;

export function registerUser(program: Command, client: () => ApiClient): void {
  const user = program.command('user').description('users and their roles (admin)');
  const update = async (username: string, change: Record<string, unknown>): Promise<void> => {
    const u = await callOperation<UserView>(client(), 'user/update', { username, ...change });
    process.stdout.write(say(u) + '\n');
  };
  user
    .command('add <username>')
    .description(`add a user; the password is read from the terminal or stdin`)
    .requiredOption('--role <role>', ROLES.join(' | '))
    .action(async (username: string, o: { role: string }) => {
      const r = role(o.role);
      const u = await callOperation<UserView>(client(), 'user/create', { username, role: r, password: await readPassword(`password for ${username}: `) });
      process.stdout.write(say(u) + '\n');
    });
  user
    .command('passwd <username>')
    .description('set a new password (read from the terminal or stdin); the user\'s sessions end')
    .action(async (username: string) => update(username, { password: await readPassword(`new password for ${username}: `) }));
  user
    .command('role <username> <role>')
    .description(`change the role (${ROLES.join(', ')}); the user's sessions end`)
    .action(async (username: string, r: string) => update(username, { role: role(r) }));
  user
    .command('disable <username>')
    .description('refuse the user\'s logins, sessions and tokens')
    .action(async (username: string) => update(username, { enabled: false }));
  user
    .command('enable <username>')
    .description('let a disabled user in again')
    .action(async (username: string) => update(username, { enabled: true }));

  program
    .command('audit')
    .description('who changed what, newest first (admin)')
    .option('--limit <n>', 'at most this many', '50')
    .option('--user <username>', 'only this user\'s calls')
    .option('--operation <name>', 'only this operation (agent/create, …)')
    .option('--since <time>', 'only calls at or after this ISO time')
    .option('--json', 'print JSON')
    .action(async (o: { limit: string; user?: string; operation?: string; since?: string; json?: boolean }) => {
      const list = await callOperation<AuditView[]>(client(), 'audit/list', { limit: o.limit, username: o.user, operation: o.operation, since: o.since });
      if (o.json) return void process.stdout.write(JSON.stringify(list, null, 2) + '\n');
      if (list.length === 0) return void process.stdout.write('nothing recorded\n');
      process.stdout.write(
        table(
          ['TIME', 'USER', 'ROLE', 'EDGE', 'OPERATION', 'THING', 'OUTCOME'],
          list.map((e) => [new Date(e.at).toLocaleString(), e.username, e.role, e.edge, e.operation, e.thing ?? '-', e.outcome === 'ok' ? 'ok' : `${e.outcome}: ${e.error ?? ''}`]),
        ) + '\n',
      );
    });
}
