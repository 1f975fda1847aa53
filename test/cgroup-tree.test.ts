/**
 * The hub's cgroup v2 tree (<own>/hub, <own>/agents/<id>), built on a directory laid out like
 * cgroupfs that keeps the kernel's rules (helpers/fake-cgroupfs.ts): this machine's cgroup v2 has
 * no memory or cpu controller. The agent whose kill is reported runs for real.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AgentRuntime, type RuntimeDeps } from '../src/hub/agents/runtime.js';
import type { AgentState } from '../src/hub/agents/state.js';
import { newAgentRow } from '../src/hub/agents/manager.js';
import { createLogger } from '../src/hub/logger.js';
import { detectCgroupV2, type CgroupHost } from '../src/hub/supervisor/cgroup-tree.js';
import { CgroupLimits, enforcement } from '../src/hub/supervisor/limits.js';
import { onCleanup } from './helpers/cleanup.js';
import { FakeCgroupFs } from './helpers/fake-cgroupfs.js';
import { tempDir } from './helpers/tmp.js';
import { until } from './helpers/wait.js';

/** The machine as the detection sees it: this cgroupfs mounted, the hub in `own`. */
function hostOf(fs: FakeCgroupFs, own: string, o: Partial<CgroupHost> = {}): CgroupHost {
  return { fs, isCgroup2: (d) => d === fs.root, selfCgroup: () => `1:cpu:/\n0::${own}\n`, uid: 0, systemdDelegates: () => false, ...o };
}

const controls = (dir: string): string[] => readFileSync(join(dir, 'cgroup.subtree_control'), 'utf8').split(/\s+/).filter(Boolean).sort();
const file = (dir: string, name: string): string => readFileSync(join(dir, name), 'utf8');

/** A container's view: its own cgroup namespace, tini (1) and the hub (7) in it. */
function container(): { fs: FakeCgroupFs; agents: string } {
  const fs = new FakeCgroupFs({ namespaceRoot: true });
  fs.group('.', [1, 7]);
  return { fs, agents: join(fs.root, 'agents') };
}

describe('the hub\'s cgroup tree', () => {
  it('in a container\'s cgroup namespace: every process into <own>/hub first, then memory and cpu down to <own>/agents', () => {
    const { fs, agents } = container();
    const d = detectCgroupV2(fs.root, hostOf(fs, '/'));
    assert.deepEqual(d, { usable: true, reason: `cgroup v2: agents under ${agents} (the cgroup namespace of its container)`, path: agents });
    assert.deepEqual(fs.procs(fs.root), [], 'no process left where controllers are handed down');
    assert.deepEqual(fs.procs(join(fs.root, 'hub')), ['1', '7'], 'tini and the hub, in the leaf');
    assert.deepEqual(controls(fs.root), ['cpu', 'memory']);
    assert.deepEqual(controls(agents), ['cpu', 'memory']);
    // The kernel would refuse subtree_control (EBUSY) before the moves.
    assert.deepEqual(fs.log, [
      'mkdir hub',
      'write hub/cgroup.procs 1',
      'write hub/cgroup.procs 7',
      'write ./cgroup.subtree_control +memory +cpu',
      'mkdir agents',
      'write agents/cgroup.subtree_control +memory +cpu',
    ]);
    assert.deepEqual(enforcement({ memory_mb: 64, cpu_percent: 50 }, d), { memory: 'cgroup', cpu: 'cgroup' }, 'what the API\'s `limits` says');
  });

  it('puts each agent in <own>/agents/<id> with its memory.max, no swap, cpu.max; counts its OOM kills; removes empty groups', () => {
    const { fs, agents } = container();
    const cg = new CgroupLimits(detectCgroupV2(fs.root, hostOf(fs, '/')).path!, fs);
    // The hub's children are born in its leaf.
    fs.group('hub', [4242, 4343]);
    cg.apply('bot', 4242, { memory_mb: 64, cpu_percent: 50 });
    const bot = join(agents, 'bot');
    assert.equal(file(bot, 'memory.max'), String(64 * 1024 * 1024));
    assert.equal(file(bot, 'memory.swap.max'), '0');
    assert.equal(file(bot, 'cpu.max'), '50000 100000');
    assert.deepEqual(fs.procs(bot), ['4242']);
    assert.deepEqual(fs.procs(join(fs.root, 'hub')), ['1', '7', '4343'], 'moved out of the hub\'s leaf');

    assert.equal(cg.oomKills('bot'), 0);
    fs.countOomKill(bot);
    assert.equal(cg.oomKills('bot'), 1);
    assert.equal(cg.oomKills('nobody'), null, 'no group, no count');

    cg.apply('bot', 4242, { cpu_percent: 10 });
    assert.deepEqual([file(bot, 'memory.max'), file(bot, 'memory.swap.max'), file(bot, 'cpu.max')], ['max', 'max', '10000 100000'], 'a limit removed is lifted');

    cg.apply('busy', 4343, { memory_mb: 1 });
    fs.exit(4242);
    cg.releaseAll();
    assert.equal(existsSync(bot), false, 'the group of an agent that stopped goes');
    assert.equal(existsSync(join(agents, 'busy')), true, 'one still holding a process stays');
    assert.throws(() => cg.release('busy'), { code: 'EBUSY' });
  });

  it('a hub started again (kill -9, SIGHUP) in <own>/hub builds on its tree: no level deeper, empty groups gone, a leftover\'s kept', () => {
    const fs = new FakeCgroupFs({ namespaceRoot: true });
    fs.group('.', [], ['memory', 'cpu']);
    fs.group('hub', [1]);
    fs.group('agents', [], ['memory', 'cpu']);
    fs.group('agents/bot', [55]);
    fs.group('agents/old');
    // Born in the leaf, to tini that lives there.
    fs.group('hub', [99]);
    const d = detectCgroupV2(fs.root, hostOf(fs, '/hub'));
    assert.equal(d.path, join(fs.root, 'agents'));
    assert.equal(existsSync(join(fs.root, 'hub', 'hub')), false);
    assert.deepEqual(fs.log, ['rmdir agents/old'], 'nothing else to change');
    assert.deepEqual(fs.procs(join(d.path!, 'bot')), ['55'], 'the leftover, for the manager to stop');

    fs.exit(55);
    new CgroupLimits(d.path!, fs).apply('bot', 100, { memory_mb: 8 });
    assert.deepEqual(fs.procs(join(d.path!, 'bot')), ['100'], 'its next start reuses the group');
  });

  it('in a systemd unit: only with Delegate=yes, or when the cgroup was delegated to the hub\'s user; else nothing is touched', () => {
    const unit = (): FakeCgroupFs => {
      const fs = new FakeCgroupFs();
      fs.group('.', [], ['memory', 'cpu']);
      fs.group('system.slice', [], ['memory', 'cpu']);
      fs.group('system.slice/hearth.service', [42]);
      return fs;
    };
    const own = '/system.slice/hearth.service';
    const asked: string[] = [];
    const plain = unit();
    const refused = detectCgroupV2(plain.root, hostOf(plain, own, { systemdDelegates: (u, user) => (asked.push(`${u} user=${user}`), false) }));
    assert.equal(refused.usable, false);
    assert.match(refused.reason, /cgroup \/system\.slice\/hearth\.service is not delegated to it: run it as a systemd service with Delegate=yes/);
    assert.deepEqual(asked, ['hearth.service user=false']);
    assert.deepEqual(plain.log, [], 'a root hub could write it, and does not');
    assert.deepEqual(enforcement({ memory_mb: 64, cpu_percent: 50 }, refused), { memory: 'restart', cpu: 'unenforced' });

    const delegated = unit();
    const yes = detectCgroupV2(delegated.root, hostOf(delegated, own, { systemdDelegates: (u) => u === 'hearth.service' }));
    assert.equal(yes.reason, `cgroup v2: agents under ${join(delegated.root, own, 'agents')} (Delegate=yes on hearth.service)`);
    assert.deepEqual(delegated.procs(join(delegated.root, own, 'hub')), ['42']);

    const chowned = unit();
    chowned.owners.set(join(chowned.root, own), 1000);
    const byUser = detectCgroupV2(chowned.root, hostOf(chowned, own, { uid: 1000 }));
    assert.equal(byUser.reason, `cgroup v2: agents under ${join(chowned.root, own, 'agents')} (delegated to uid 1000)`);

    // Under the user's own systemd everything is the user's: no sign that this scope was handed over.
    const session = new FakeCgroupFs();
    const scope = 'user.slice/user-1000.slice/user@1000.service/app.slice/app-term.scope';
    session.group(scope, [42]);
    for (const dir of ['user.slice/user-1000.slice/user@1000.service', 'user.slice/user-1000.slice/user@1000.service/app.slice', scope]) session.owners.set(join(session.root, dir), 1000);
    const users: boolean[] = [];
    const terminal = detectCgroupV2(session.root, hostOf(session, `/${scope}`, { uid: 1000, systemdDelegates: (_u, user) => (users.push(user), false) }));
    assert.equal(terminal.usable, false);
    assert.deepEqual(users, [true], 'the user\'s systemd is asked');
    assert.deepEqual(session.log, []);
  });

  it('says why when the kernel or the setup refuses, and changes nothing it need not', () => {
    const cases: Array<{ name: string; fs: FakeCgroupFs; own?: string; host?: Partial<CgroupHost>; reason: RegExp; log?: string[] }> = [];
    const add = (name: string, fs: FakeCgroupFs, reason: RegExp, o: { own?: string; host?: Partial<CgroupHost>; log?: string[] } = {}): void => {
      cases.push({ name, fs, reason, ...o });
    };

    add('not cgroup2', container().fs, /^no cgroup2 file system mounted at /, { host: { isCgroup2: () => false } });
    const fewer = new FakeCgroupFs({ namespaceRoot: true, controllers: ['cpu', 'io'] });
    add('no memory controller', fewer, /^cgroup v2 at .* lacks the memory controller; it has: cpu io$/);
    add('not in cgroup v2', container().fs, /no 0:: line in \/proc\/self\/cgroup/, { host: { selfCgroup: () => '4:memory:/x\n' } });
    const unreadable = container().fs;
    add('/proc/self/cgroup unreadable', unreadable, /cannot read \/proc\/self\/cgroup \(EACCES/, {
      host: { selfCgroup: () => { throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' }); } },
    });
    const hostRoot = new FakeCgroupFs();
    hostRoot.group('.', [1, 7]);
    add('the root of the whole hierarchy', hostRoot, /the hub runs in the root cgroup, which is the whole system's/);
    // systemd delegated the unit, but its slice hands only cpu down.
    const cpuOnly = new FakeCgroupFs();
    cpuOnly.group('.', [], ['memory', 'cpu']);
    cpuOnly.group('system.slice', [], ['cpu']);
    cpuOnly.group('system.slice/hearth.service', [42]);
    add('memory not handed down', cpuOnly, /lacks the memory controller; it has: cpu \(its parent does not hand them down\)$/, {
      own: '/system.slice/hearth.service',
      host: { systemdDelegates: () => true },
    });
    const readOnly = new FakeCgroupFs({ namespaceRoot: true, readOnly: true });
    add('read-only (a container\'s default)', readOnly, /^cannot create .*\/hub \(EROFS: the cgroup file system is mounted read-only, as a container has it unless given a writable one\)$/);
    const foreign = container().fs;
    foreign.foreign.add('1');
    add('a process it may not move', foreign, /^cannot move process 1 from .* into .*\/hub \(EACCES/, { log: ['mkdir hub'] });

    for (const c of cases) {
      const d = detectCgroupV2(c.fs.root, hostOf(c.fs, c.own ?? '/', c.host));
      assert.equal(d.usable, false, c.name);
      assert.equal(d.path, undefined, c.name);
      assert.match(d.reason, c.reason, c.name);
      assert.deepEqual(c.fs.log, c.log ?? [], `${c.name}: what changed`);
      assert.deepEqual(controls(join(c.fs.root, c.own ?? '/')), [], `${c.name}: no controller handed down`);
    }
  });

  it('a process that exits while the hub moves the others is no obstacle', () => {
    const { fs, agents } = container();
    fs.exiting.add('1');
    assert.equal(detectCgroupV2(fs.root, hostOf(fs, '/')).path, agents);
    assert.deepEqual(fs.procs(join(fs.root, 'hub')), ['7']);
  });
});

/** MQTT and Home Assistant: not used by an agent without a health check. */
function unused<T extends object>(what: string): T {
  return new Proxy({} as T, {
    get: (_t, key) => {
      throw new Error(`${what}.${String(key)} is not used by this test`);
    },
  });
}

describe('an agent killed by the kernel for its memory', () => {
  it('says so, as its reason and in the log; a SIGKILL from anyone else does not', async () => {
    const { fs } = container();
    const d = detectCgroupV2(fs.root, hostOf(fs, '/'));
    const cg = new CgroupLimits(d.path!, fs);
    const logged: Array<Record<string, unknown>> = [];
    // A restart a minute away: the state between the exit and the restart is what is seen.
    const row = newAgentRow('hog', 'hog', 'process', { command: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)'], limits: { memory_mb: 64 }, restart: { delay_ms: 60_000, backoff: false } }, {});
    const deps: RuntimeDeps = {
      logsDir: tempDir(),
      logLimits: { maxBytes: 1024 * 1024, files: 1 },
      mqtt: unused('mqtt'),
      ha: unused('ha'),
      logger: createLogger('warn', { write: (line: string) => void logged.push(JSON.parse(line) as Record<string, unknown>) }),
      limits: (def) => enforcement(def.limits, d),
      changed: () => undefined,
      spawned: (r, pid) => {
        fs.group('hub', [pid]);
        cg.apply(r.id, pid, r.definition.limits ?? {});
      },
      oomKills: (r) => cg.oomKills(r.id),
      line: () => undefined,
      marker: (id) => `${id}@${d.path}`,
    };
    const rt = new AgentRuntime(row, [], deps);
    onCleanup(async () => {
      await rt.stop();
      await rt.close();
    });
    const running = async (): Promise<number> => (await until('the agent running', () => rt.state(), (s) => s.status === 'running' && s.pid !== null)).pid!;
    const exited = (): Promise<AgentState> => until('the agent waiting for its restart', () => rt.state(), (s) => s.status === 'backoff');

    await rt.start();
    const pid = await running();
    assert.deepEqual(fs.procs(cg.pathOf('hog')), [String(pid)]);
    // What the OOM killer does: the kill counted in the group's memory.events, then SIGKILL.
    fs.countOomKill(cg.pathOf('hog'));
    process.kill(pid, 'SIGKILL');
    const killed = await exited();
    assert.equal(killed.reason, 'killed by the kernel: over its memory limit (memory_mb 64)');
    assert.equal(killed.instance_states[0]!.reason, killed.reason);
    assert.equal(killed.last_signal, 'SIGKILL');
    assert.ok(logged.some((l) => l.msg === 'agent killed by the kernel: over its memory limit' && l.agent === 'hog' && l.memory_mb === 64), 'the hub\'s log says it');

    await rt.stop();
    assert.equal(rt.state().reason, null, 'stopped: no exit to explain');
    await rt.start();
    process.kill(await running(), 'SIGKILL');
    const other = await exited();
    assert.equal(other.reason, 'crashed', 'no OOM kill counted since it started');
    assert.equal(other.last_signal, 'SIGKILL');
  });
});
