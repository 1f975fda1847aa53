/** procfs readers, per-group usage and resource limits, against real processes. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { onCleanup } from './helpers/cleanup.js';
import { tempDir } from './helpers/tmp.js';
import { until, untilTrue } from './helpers/wait.js';
import { groupMembers, groupsWithEnv, hasEnvEntry, isSameProcess, listProcesses, parseStat, startTimeOf } from '../src/hub/supervisor/procfs.js';
import { sampleGroups, usageByGroup } from '../src/hub/supervisor/process-stats.js';
import { CgroupLimits, MemoryWatch, cpuMax, enforcement, memoryMax } from '../src/hub/supervisor/limits.js';
import { detectCgroupV2 } from '../src/hub/supervisor/cgroup-tree.js';

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** A process group of its own (detached), killed and reaped when the file ends. */
function spawnGroup(command: string, args: string[], env?: NodeJS.ProcessEnv): ChildProcess & { pid: number } {
  const child = spawn(command, args, { detached: true, stdio: 'ignore', env });
  assert.ok(child.pid, `${command} started`);
  onCleanup(async () => {
    killGroup(child.pid!);
    await exited(child);
  });
  return child as ChildProcess & { pid: number };
}

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // gone
  }
}

describe('procfs', () => {
  it('finds every member of a process group, and tells a process from a pid reuse', async () => {
    const sh = spawnGroup('sh', ['-c', 'sleep 30 & sleep 30']);
    const members = await until('sh and both sleeps', () => groupMembers(sh.pid), (m) => m.length === 3);
    assert.ok(members.includes(sh.pid));
    const procs = listProcesses();
    for (const pid of members) {
      const p = procs.find((x) => x.pid === pid);
      assert.ok(p, `${pid} listed`);
      assert.equal(p.pgid, sh.pid);
      if (pid !== sh.pid) assert.equal(p.ppid, sh.pid, 'the sleeps are children of sh');
    }
    assert.deepEqual(groupMembers(sh.pid, procs).sort(), [...members].sort(), 'the same from a scan already made');
    const me = procs.find((x) => x.pid === process.pid);
    assert.ok(me, 'the test itself is listed');
    assert.notEqual(me.pgid, sh.pid, 'the test is not in that group');

    const start = startTimeOf(sh.pid);
    assert.ok(start && /^\d+$/.test(start));
    assert.equal(startTimeOf(sh.pid), start, 'stable');
    assert.equal(isSameProcess(sh.pid, start), true);
    assert.equal(isSameProcess(sh.pid, String(BigInt(start) + 1n)), false, 'another start time: another process');

    killGroup(sh.pid);
    await exited(sh);
    assert.equal(isSameProcess(sh.pid, start), false, 'after it exited');
    assert.equal(startTimeOf(sh.pid) === null || startTimeOf(sh.pid) !== start, true);
    // The sleeps may linger as zombies (if nothing reaps orphans here); a zombie is no member.
    await until('the group emptied', () => groupMembers(sh.pid), (m) => m.length === 0);
  });

  it('parses a command name with spaces and parentheses', async () => {
    const dir = tempDir();
    const odd = join(dir, 'a) (b c) d');
    copyFileSync('/bin/sleep', odd);
    const child = spawnGroup(odd, ['30']);
    // Listed once it runs the copy (before its exec, the pid is a node fork by another name).
    const p = (await until('the odd process listed', () => listProcesses().find((x) => x.pid === child.pid), (x) => x?.ppid === process.pid && readFileSync(`/proc/${child.pid}/stat`, 'utf8').includes('(a) (b c) d)')))!;
    assert.equal(p.pgid, child.pid);
    const comm = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
    assert.match(comm, /\(a\) \(b c\) d\)/, 'the name really is odd');
    assert.equal(startTimeOf(child.pid), p.startTime);
    assert.equal(isSameProcess(child.pid, p.startTime), true);

    assert.deepEqual(parseStat('42 (x) y) (z) S 1 42 42 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 12345 100 5 0'), {
      state: 'S',
      ppid: 1,
      pgid: 42,
      startTime: '12345',
    });
    assert.equal(parseStat('garbage'), undefined);
  });

  it('finds the groups whose processes carry an exact environment entry, children included', async () => {
    const name = 'HEARTH_TEST_MARK';
    const marker = `procfs-${process.pid}-${Date.now()}`;
    const env = (value: string): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, [name]: value });
    // A shell and the two sleeps it starts, which inherit its environment.
    const family = spawnGroup('sh', ['-c', 'sleep 30 & sleep 30'], env(`${marker}/a/0`));
    const single = spawnGroup('sleep', ['30'], env(`${marker}/a/1`));
    // Same value but for a suffix; the right value under a longer name; a value that starts with
    // the marker and sits first in the environment: none of these is the entry.
    const longer = spawnGroup('sleep', ['30'], env(`${marker}/a/0x`));
    const otherName = spawnGroup('sleep', ['30'], { PATH: process.env.PATH, [`X_${name}`]: `${marker}/a/0` });
    const first = spawnGroup('sleep', ['30'], { [name]: `${marker}/a/00`, PATH: process.env.PATH });
    // A process that never reaps its exited child: the zombie is no member.
    const withZombie = spawnGroup('sh', ['-c', 'sleep 0 & exec sleep 30'], env(`${marker}/z`));

    const a0 = await until('the shell and both sleeps found', () => groupsWithEnv(name, `${marker}/a/0`), (m) => m.get(family.pid)?.length === 3);
    assert.deepEqual([...a0.keys()], [family.pid], 'only the group with exactly that entry');
    assert.deepEqual([...a0.get(family.pid)!].sort(), [...groupMembers(family.pid)].sort(), 'every member of the group, the children too');
    assert.ok(a0.get(family.pid)!.includes(family.pid));

    const a1 = await until('the lone sleep found', () => groupsWithEnv(name, `${marker}/a/1`), (m) => m.size === 1);
    assert.deepEqual([...a1.entries()], [[single.pid, [single.pid]]]);
    await untilTrue('the other processes exec\'d', () => [longer, otherName, first].every((c) => readFileSync(`/proc/${c.pid}/cmdline`, 'utf8').startsWith('sleep')));
    assert.deepEqual([...groupsWithEnv(name, `${marker}/a/0x`).keys()], [longer.pid], 'the longer value is found by its own value');
    assert.deepEqual([...groupsWithEnv(name, `${marker}/a/00`).keys()], [first.pid]);
    assert.equal(groupsWithEnv(name, `${marker}/a/`).size, 0, 'a prefix of the values matches nothing');
    assert.equal(groupsWithEnv(name, `${marker}/a/0`).size, 1, 'still only the family, now that the others run sleep with their own environments');

    await untilTrue('the zombie there', () => listProcesses().some((p) => p.ppid === withZombie.pid && p.state === 'Z'));
    assert.deepEqual([...groupsWithEnv(name, `${marker}/z`).entries()], [[withZombie.pid, [withZombie.pid]]]);

    for (const c of [family, single, longer, otherName, first, withZombie]) {
      killGroup(c.pid);
      await exited(c);
    }
    // Orphaned sleeps may stay zombies for a moment (or for good, if nothing reaps orphans here).
    await until('nothing left with the marker', () => [`${marker}/a/0`, `${marker}/a/1`, `${marker}/a/0x`, `${marker}/a/00`, `${marker}/z`].map((v) => groupsWithEnv(name, v).size), (n) => n.every((x) => x === 0));
    assert.deepEqual(groupMembers(family.pid), []);
  });

  it('matches an environment entry whole, wherever it sits in the block', () => {
    const block = (...entries: string[]): Buffer => Buffer.from(entries.map((e) => `${e}\0`).join(''));
    const entry = Buffer.from('M=v');
    assert.equal(hasEnvEntry(block('M=v'), entry), true, 'alone');
    assert.equal(hasEnvEntry(block('A=1', 'M=v', 'B=2'), entry), true, 'in the middle');
    assert.equal(hasEnvEntry(Buffer.from('A=1\0M=v'), entry), true, 'last, with no final NUL');
    assert.equal(hasEnvEntry(block('M=vv', 'XM=v', 'A=M=v'), entry), false, 'a longer value, a longer name, inside a value');
    assert.equal(hasEnvEntry(block('M=vv', 'M=v'), entry), true, 'after a near miss');
    assert.equal(hasEnvEntry(Buffer.alloc(0), entry), false, 'a zombie\'s empty block');
  });

  it('is null and false for a pid that does not exist', () => {
    assert.equal(startTimeOf(2 ** 22 + 12345), null);
    assert.equal(isSameProcess(2 ** 22 + 12345, '1'), false);
    assert.deepEqual(groupMembers(2 ** 22 + 12345), []);
  });
});

describe('process stats', () => {
  it('sums a whole group: a child burning CPU counts, and so does its memory', async () => {
    const sh = spawnGroup('sh', ['-c', `${JSON.stringify(process.execPath)} -e 'for(;;){}' & sleep 30`]);
    const idle = spawnGroup('sh', ['-c', 'sleep 30 & sleep 30']);
    await until('sh, node and sleep', () => groupMembers(sh.pid), (m) => m.length === 3);
    await until('sh and two sleeps', () => groupMembers(idle.pid), (m) => m.length === 3);

    const first = (await sampleGroups([sh.pid, idle.pid])).get(sh.pid);
    assert.ok(first);
    assert.equal(first.pids.length, 3);
    // pidusage's CPU % is the use since its previous reading of that pid: sample again until the
    // busy loop has had some of it (however loaded the machine), and compare with the idle group.
    const both = await until('CPU measured in the busy group', () => sampleGroups([sh.pid, idle.pid]), (s) => (s.get(sh.pid)?.cpu_percent ?? 0) > 0, { everyMs: 200 });
    const second = both.get(sh.pid)!;
    assert.deepEqual([...second.pids].sort(), [...first.pids].sort());
    assert.ok(second.cpu_percent > both.get(idle.pid)!.cpu_percent, `cpu ${second.cpu_percent}% with a busy loop, ${both.get(idle.pid)!.cpu_percent}% without`);
    assert.ok(second.cpu_percent < 100 * 64, 'plausible');
    // The leader is a shell: the group's memory includes the node child's (tens of MiB).
    assert.ok(second.memory_bytes > 10 * 1024 * 1024, `memory ${second.memory_bytes} bytes`);
  });

  it('does no work for no group, and reports an empty group as empty', async () => {
    assert.equal((await sampleGroups([])).size, 0);
    const none = await sampleGroups([2 ** 22 + 54321]);
    assert.deepEqual(none.get(2 ** 22 + 54321), { cpu_percent: 0, memory_bytes: 0, pids: [] });
  });

  it('does not throw for processes that vanished between the scan and the measure', async () => {
    const gone = spawnGroup('true', []);
    await exited(gone);
    const alive = spawnGroup('sleep', ['30']);
    // Until it sleeps, it may still be exec'ing (with nothing mapped yet: no RSS).
    await untilTrue('sleep sleeping', () => listProcesses().find((p) => p.pid === alive.pid)?.state === 'S');
    // Alone: pidusage rejects a lone missing pid.
    const lone = await usageByGroup(new Map([[gone.pid, [gone.pid]]]));
    assert.deepEqual(lone.get(gone.pid), { cpu_percent: 0, memory_bytes: 0, pids: [] });
    // With others: it leaves it out.
    const both = await usageByGroup(
      new Map([
        [gone.pid, [gone.pid]],
        [alive.pid, [alive.pid]],
      ]),
    );
    assert.deepEqual(both.get(gone.pid)?.pids, []);
    assert.deepEqual(both.get(alive.pid)?.pids, [alive.pid]);
    assert.ok(both.get(alive.pid)!.memory_bytes > 0);
  });
});

describe('limits', () => {
  it('detects whether cgroup v2 can be used, and says why not', () => {
    const d = detectCgroupV2();
    assert.equal(typeof d.usable, 'boolean');
    assert.equal(typeof d.reason, 'string');
    if (d.usable === false) {
      assert.ok(d.reason.length > 0, 'a reason');
      assert.equal(d.path, undefined);
    } else {
      assert.ok(d.path, 'where agents get their groups');
    }
    const none = detectCgroupV2(tempDir());
    assert.equal(none.usable, false, 'a plain directory is no cgroup2 mount');
    assert.match(none.reason, /no cgroup2/);
  });

  it('writes memory.max, cpu.max and cgroup.procs for an agent, and releases it', () => {
    const base = tempDir();
    const cg = new CgroupLimits(base);
    cg.apply('bot', 12345, { memory_mb: 256, cpu_percent: 50 });
    const dir = join(base, 'bot');
    assert.equal(readFileSync(join(dir, 'memory.max'), 'utf8'), String(256 * 1024 * 1024));
    assert.equal(readFileSync(join(dir, 'cpu.max'), 'utf8'), '50000 100000');
    assert.equal(readFileSync(join(dir, 'cgroup.procs'), 'utf8'), '12345');
    cg.apply('bot', 12346, { memory_mb: 128 });
    assert.equal(readFileSync(join(dir, 'cpu.max'), 'utf8'), 'max 100000', 'a limit removed is lifted');
    assert.throws(() => cg.apply('../x', 1, {}), /cgroup name/);

    // A real cgroup directory's files vanish with it; a plain one's must be removed first.
    for (const f of ['memory.max', 'cpu.max', 'cgroup.procs']) rmSync(join(dir, f));
    cg.release('bot');
    assert.equal(existsSync(dir), false);
    cg.release('bot'); // nothing left: fine

    assert.equal(memoryMax({}), 'max');
    assert.equal(memoryMax({ memory_mb: 0.5 }), String(512 * 1024));
    assert.equal(cpuMax({ cpu_percent: 250 }), '250000 100000', 'two and a half cores');
    assert.equal(cpuMax({ cpu_percent: 0.01 }), '1000 100000', 'the kernel minimum');
  });

  it('MemoryWatch restarts only after the limit was exceeded `samples` times in a row', () => {
    const w = new MemoryWatch(100, 3);
    assert.equal(w.observe(150), false);
    assert.equal(w.observe(150), false);
    assert.equal(w.observe(90), false, 'back under: the streak restarts');
    assert.equal(w.observe(101), false);
    assert.equal(w.observe(200), false);
    assert.equal(w.observe(300), true);
    assert.equal(w.observe(300), true, 'still over');
    w.reset();
    assert.equal(w.observe(300), false, 'counting afresh after a restart');
    assert.equal(w.observe(100), false, 'at the limit is not over it');

    const one = new MemoryWatch(10, 1);
    assert.equal(one.observe(11), true);
    const dflt = new MemoryWatch(10);
    assert.deepEqual([dflt.observe(11), dflt.observe(11), dflt.observe(11)], [false, false, true], 'three samples by default');
  });

  it('reports how each limit is enforced', () => {
    const yes = { usable: true };
    const no = { usable: false };
    assert.deepEqual(enforcement(undefined, yes), { memory: 'none', cpu: 'none' });
    assert.deepEqual(enforcement({}, no), { memory: 'none', cpu: 'none' });
    assert.deepEqual(enforcement({ memory_mb: 100 }, yes), { memory: 'cgroup', cpu: 'none' });
    assert.deepEqual(enforcement({ memory_mb: 100 }, no), { memory: 'restart', cpu: 'none' });
    assert.deepEqual(enforcement({ cpu_percent: 50 }, yes), { memory: 'none', cpu: 'cgroup' });
    assert.deepEqual(enforcement({ cpu_percent: 50 }, no), { memory: 'none', cpu: 'unenforced' });
    assert.deepEqual(enforcement({ memory_mb: 1, cpu_percent: 1 }, yes), { memory: 'cgroup', cpu: 'cgroup' });
    assert.deepEqual(enforcement({ memory_mb: 1, cpu_percent: 1 }, no), { memory: 'restart', cpu: 'unenforced' });
  });
});
