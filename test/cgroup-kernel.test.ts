/**
 * Agents' limits as the kernel enforces them: a hub in a cgroup of the test's own, seen from a
 * cgroup namespace of its own as a container's hub is, puts an agent over its memory_mb where the
 * OOM killer stops it, and one over its cpu_percent where it is throttled. It needs cgroup v2 with
 * the memory and cpu controllers, and root; elsewhere it says why it cannot run.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { AgentView } from '../src/hub/agents/state.js';
import { cgroupV2Hierarchy } from '../src/hub/supervisor/cgroup-tree.js';
import { onCleanup } from './helpers/cleanup.js';
import { databaseEnv } from './helpers/database.js';
import { api, testEnv } from './helpers/hub.js';
import { tempDir } from './helpers/tmp.js';
import { until, untilTrue } from './helpers/wait.js';

const CLI = join(import.meta.dirname, '../dist/cli/main.js');

/** Where the test can run: the mount of a cgroup v2 with memory and cpu, or why not. */
function hierarchy(): { mount: string } | { reason: string } {
  const h = cgroupV2Hierarchy();
  if ('reason' in h) return h;
  if (process.getuid?.() !== 0) return { reason: 'creating a cgroup and a cgroup namespace for the hub needs root' };
  try {
    execFileSync('unshare', ['--version'], { stdio: 'ignore' });
  } catch {
    return { reason: 'util-linux unshare is missing: the hub needs a cgroup namespace of its own' };
  }
  return h;
}

const procsOf = (dir: string): string[] => readFileSync(join(dir, 'cgroup.procs'), 'utf8').split(/\s+/).filter(Boolean);

/** Kills every process of the group and its children, then removes them all. */
async function removeGroup(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  for (const child of readdirSync(dir, { withFileTypes: true })) if (child.isDirectory()) await removeGroup(join(dir, child.name));
  for (const pid of procsOf(dir)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  await untilTrue(`${dir} removed`, () => {
    try {
      rmdirSync(dir);
      return true;
    } catch {
      return false;
    }
  });
}

function stat(file: string): Record<string, number> {
  return Object.fromEntries(
    readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(' '))
      .map(([k, v]) => [k!, Number(v)]),
  );
}

/**
 * `hearth start` in `group`, inside new cgroup and mount namespaces with cgroup2 mounted again: the
 * group is the root of what the hub sees, as in a container with a private, writable cgroup.
 */
async function hubInGroup(group: string, mount: string): Promise<{ http: string; token: string; pid: number; stop: () => Promise<number | null> }> {
  const dataDir = tempDir();
  const inner = 'umount "$1" && mount -t cgroup2 cgroup2 "$1" && shift && exec "$@"';
  const outer = `echo $$ > "$1/cgroup.procs" && exec unshare --cgroup --mount sh -c '${inner}' sh "$2" "$3" "$4" start`;
  const proc = spawn('sh', ['-c', outer, 'sh', group, mount, process.execPath, CLI], {
    env: { ...process.env, ...testEnv(dataDir, { HEARTH_LOG_LEVEL: 'info', ...(await databaseEnv(dataDir)) }) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  onCleanup(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
  });
  const stderr: string[] = [];
  proc.stderr!.on('data', (c: Buffer) => stderr.push(c.toString()));
  let buf = '';
  const running = await new Promise<Record<string, unknown>>((resolve, reject) => {
    proc.stdout!.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          const doc = JSON.parse(line) as Record<string, unknown>;
          if (doc.msg === 'Hearth is running') resolve(doc);
        } catch {
          stderr.push(line);
        }
      }
    });
    void exited.then((code) => reject(new Error(`the hub exited (${code}) before it ran: ${stderr.join('')}`)));
  });
  return {
    http: String(running.http).replace('0.0.0.0', '127.0.0.1'),
    token: readFileSync(join(dataDir, 'admin-token'), 'utf8').trim(),
    pid: proc.pid!,
    stop: async () => {
      proc.kill('SIGTERM');
      return exited;
    },
  };
}

describe('agents\' limits on a real cgroup v2', () => {
  it('an agent over its memory_mb is killed by the kernel and says so; one over its cpu_percent is throttled', async (t) => {
    const h = hierarchy();
    if ('reason' in h) {
      t.skip(h.reason);
      return;
    }
    const group = join(h.mount, `hearth-test-${process.pid}-${Date.now()}`);
    mkdirSync(group);
    onCleanup(() => removeGroup(group));
    const handed = readFileSync(join(group, 'cgroup.controllers'), 'utf8');
    if (!/\bmemory\b/.test(handed) || !/\bcpu\b/.test(handed)) {
      t.skip(`the root cgroup does not hand memory and cpu down to a new group (its cgroup.controllers: ${handed.trim() || 'none'})`);
      return;
    }

    const hub = await hubInGroup(group, h.mount);
    assert.ok(procsOf(join(group, 'hub')).includes(String(hub.pid)), 'the hub moved itself into its leaf');
    assert.deepEqual(procsOf(group), [], 'and left no process where controllers are handed down');
    const call = <T>(method: string, path: string, body?: unknown) => api<T>(hub.http, hub.token, method, path, body);

    const hog = await call<AgentView>('POST', '/api/agents', {
      name: 'hog',
      command: process.execPath,
      args: ['-e', 'const a = []; setInterval(() => a.push(Buffer.alloc(16 * 1024 * 1024, 1)), 20)'],
      limits: { memory_mb: 64 },
      restart: { policy: 'never' },
    });
    assert.equal(hog.status, 201);
    assert.deepEqual(hog.body.limits, { memory: 'cgroup', cpu: 'none' });
    const killed = await until('the kernel to kill the hog', async () => (await call<AgentView>('GET', '/api/agents/hog')).body, (a) => a.status === 'failed', { timeoutMs: 30_000 });
    assert.equal(killed.reason, 'killed by the kernel: over its memory limit (memory_mb 64)');
    assert.equal(killed.last_signal, 'SIGKILL');
    assert.ok(stat(join(group, 'agents', 'hog', 'memory.events')).oom_kill! >= 1, 'the kernel counted it');

    const spin = await call<AgentView>('POST', '/api/agents', { name: 'spin', command: process.execPath, args: ['-e', 'for (;;) {}'], limits: { cpu_percent: 20 } });
    assert.equal(spin.status, 201);
    assert.deepEqual(spin.body.limits, { memory: 'none', cpu: 'cgroup' });
    const cpuStat = join(group, 'agents', 'spin', 'cpu.stat');
    await untilTrue('the spinner in its group', () => existsSync(cpuStat) && procsOf(join(group, 'agents', 'spin')).length > 0);
    const before = stat(cpuStat);
    const from = performance.now();
    const after = await until('two seconds of spinning', () => ({ s: stat(cpuStat), ms: performance.now() - from }), (x) => x.ms >= 2000, { everyMs: 100 });
    const share = (after.s.usage_usec! - before.usage_usec!) / 1000 / after.ms;
    assert.ok(share <= 0.3, `it had ${Math.round(share * 100)} % of a core, allowed 20 %`);
    assert.ok(after.s.nr_throttled! > before.nr_throttled! && after.s.throttled_usec! > before.throttled_usec!, 'the kernel throttled it');

    assert.equal(await hub.stop(), 0);
    assert.deepEqual(
      readdirSync(join(group, 'agents'), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name),
      [],
      'a hub that stops removes its agents\' groups',
    );
  });
});
