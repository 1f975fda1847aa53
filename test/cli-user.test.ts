/**
 * `hearth user …`, `hearth token …`, `hearth auth whoami` and `hearth audit` against a running hub:
 * passwords are read from stdin (never the command line), and the audit tells the CLI's calls apart.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { api, cliEnv, runCli, startHub, type HubHandle } from './helpers/hub.js';

const CLI = join(import.meta.dirname, '../dist/cli/main.js');
let h: HubHandle;

/** The CLI with a line on stdin, as `echo "$PASSWORD" | hearth …` gives it. */
async function withStdin(args: string[], input: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  proc.stdin.end(input);
  const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
  return { code, stdout, stderr };
}

describe('hearth user, token and audit', () => {
  before(async () => {
    h = await startHub();
  });
  after(() => h.stop());

  it('adds a user with a piped password, changes its password and role, disables and deletes it', async () => {
    const env = cliEnv(h);
    const add = await withStdin(['user', 'add', 'carl', '--role', 'operator'], 'a good long password\n', env);
    assert.equal(add.code, 0, add.stderr);
    assert.equal(add.stdout.trim(), 'carl  operator');
    assert.equal((await api(h.http, null, 'POST', '/api/auth/login', { username: 'carl', password: 'a good long password' })).status, 200);

    const noPassword = await withStdin(['user', 'add', 'dora', '--role', 'viewer'], '', env);
    assert.equal(noPassword.code, 1);
    assert.match(noPassword.stderr, /no password given/);
    const badRole = await withStdin(['user', 'add', 'dora', '--role', 'boss'], 'a good long password\n', env);
    assert.equal(badRole.code, 1);
    assert.match(badRole.stderr, /role must be one of viewer, operator, admin/);

    assert.equal((await withStdin(['user', 'passwd', 'carl'], 'another long password\n', env)).code, 0);
    assert.equal((await api(h.http, null, 'POST', '/api/auth/login', { username: 'carl', password: 'a good long password' })).status, 401);
    assert.equal((await runCli(['user', 'role', 'carl', 'viewer'], env)).stdout.trim(), 'carl  viewer');
    assert.equal((await runCli(['user', 'disable', 'carl'], env)).stdout.trim(), 'carl  viewer  (disabled)');
    const list = await runCli(['user', 'list'], env);
    assert.equal(list.stdout.trim(), 'carl  viewer  (disabled)');
    assert.equal((await runCli(['user', 'enable', 'carl'], env)).stdout.trim(), 'carl  viewer');
    const del = await runCli(['user', 'delete', 'carl'], env);
    assert.equal(del.stdout.trim(), 'deleted user carl');
    assert.equal((await runCli(['user', 'list'], env)).stdout.trim(), 'no users (the admin token is the root user)');
  });

  it('a user\'s API token works as the CLI\'s --token, says who it is, and the audit shows the CLI as the edge', async () => {
    const env = cliEnv(h);
    assert.equal((await withStdin(['user', 'add', 'vic', '--role', 'viewer'], 'viewer password!\n', env)).code, 0);
    const session = await api<{ token: string }>(h.http, null, 'POST', '/api/auth/login', { username: 'vic', password: 'viewer password!' });
    const made = await runCli(['token', 'create', '{"name":"laptop"}'], { HEARTH_URL: h.http, HEARTH_ADMIN_TOKEN: session.body.token });
    assert.equal(made.code, 0, made.stderr);
    const secret = made.stdout.split('\n')[0]!;
    assert.match(secret, /^hth_[0-9a-f]{12}_/);
    const whoami = await runCli(['auth', 'whoami'], { HEARTH_URL: h.http, HEARTH_ADMIN_TOKEN: secret });
    assert.equal(whoami.stdout.trim(), 'vic (viewer, by api token)');
    const refused = await runCli(['agent', 'create', 'x', 'true'], { HEARTH_URL: h.http, HEARTH_ADMIN_TOKEN: secret });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /403 agent\/create needs the admin role; vic is a viewer/);
    const audit = await runCli(['audit', '--user', 'vic', '--json'], env);
    const entries = JSON.parse(audit.stdout) as Array<{ operation: string; edge: string; outcome: string }>;
    assert.deepEqual(
      entries.map((e) => [e.operation, e.edge, e.outcome]),
      [
        ['agent/create', 'cli', 'refused'],
        ['token/create', 'cli', 'ok'],
      ],
    );
    const table = await runCli(['audit', '--user', 'vic', '--limit', '1'], env);
    assert.match(table.stdout, /vic\s+viewer\s+cli\s+agent\/create\s+-\s+refused: agent\/create needs the admin role/);
  });
});
