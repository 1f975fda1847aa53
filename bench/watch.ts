/**
 * Watching an agent's files (`watch: true`), Hearth vs PM2, on a temp tree of 50,000 files in 521
 * directories (20 x 25 directories of 100 files each):
 *
 * 1. Cost, all at the same time: two hubs with one agent (`sleep`) whose cwd is the tree, one with
 *    `watch: true` and one without, and two PM2 daemons likewise (PM2 watches with chokidar 3, its
 *    dependency). What watching costs is the difference within each pair: the CPU seconds from
 *    start until settled (setting the watch up; 30 s settle), the CPU seconds over the next 30 s
 *    idle (threads' schedstat, to the nanosecond), and the resident memory at the end of those
 *    (sampled every 5 s). Each one's inotify watches are counted in /proc/<pid>/fdinfo. For
 *    scale, not a baseline: a Node process running `fs.watch(tree, { recursive: true })` vs an
 *    idle one, measured the same way.
 * 2. In this process, first FileWatch (debounce 0) alone, then chokidar with PM2's options alone:
 *    the JS heap (and external memory) each holds once watching, after a full GC, and a file of
 *    the tree rewritten until the watcher reports it.
 * 3. End to end: a file rewritten until the agent's new process runs, hub (its default 1 s
 *    debounce) and PM2 (restarts on the first event) alternating; both see every write, so each
 *    repetition waits until the other's restart is over too.
 *
 * Everything is stopped at the end (hubs by SIGTERM, `pm2 kill`), leftover sleeps with this
 * benchmark's markers killed, and the tree and homes removed.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { FileWatch } from '../src/hub/supervisor/file-watch.js';
import { api, assertBuilt, killChild, ROOT, spawnNode, startHub, stopHub, type Child, type HubProc } from './hub-process.js';
import { pm2, pm2DaemonPid, pm2Kill, pm2Start, pm2Version } from './pm2.js';
import { argvOf, killLeftoverSleeps, pidsNow, ppidOf, rssMiB, threadCpuSeconds } from './proc.js';
import { absoluteRow, median, ratioRow, round, withTimeout, type Result, type Row } from './types.js';

const TREE = { top: 20, mid: 25, files: 100 };
const FILES = TREE.top * TREE.mid * TREE.files;
const DIRS = 1 + TREE.top + TREE.top * TREE.mid;
const READY_MS = 180_000;
const SETTLE_MS = 30_000;
const WINDOW_MS = 30_000;
const SAMPLE_MS = 5000;
const DETECT_REPS = 20;
const E2E_REPS = 5;
/** After an end-to-end repetition: the other supervisor's restart (the hub's after its 1 s debounce) is over. */
const QUIET_MS = 2500;
const POLL_MS = 1;
/** The argument of each `sleep`, telling in /proc whose process is which. */
const MARK = { hubWatch: '200000.1', hubPlain: '200000.2', pm2Watch: '200000.3', pm2Plain: '200000.4' } as const;
/** "a few MB" and "no CPU while idle" (issue 13): within the noise of two hubs side by side. */
const GOAL = { memory: 0.1, megabytes: 5, setup: 0.1, idleCpu: 0.01, detect: 1 } as const;

/** PM2's watcher (pm2/lib/Watcher.js): chokidar, these options, restart on the first event. */
interface Chokidar {
  watch(path: string, opts: object): ChokidarWatcher;
}
interface ChokidarWatcher {
  on(event: 'ready', f: () => void): ChokidarWatcher;
  on(event: 'all', f: (event: string, path: string) => void): ChokidarWatcher;
  close(): Promise<void>;
}
const pm2Options = (cwd: string): object => ({ ignored: /[/\\]\.|node_modules/, persistent: true, ignoreInitial: true, cwd });

const fileAt = (tree: string, i: number): string =>
  join(tree, `pkg${i % TREE.top}`, `mod${Math.floor(i / TREE.top) % TREE.mid}`, `file${Math.floor(i / (TREE.top * TREE.mid)) % TREE.files}.js`);

function makeTree(tree: string): void {
  for (let i = 0; i < FILES; i++) {
    if (i < TREE.top * TREE.mid) mkdirSync(join(fileAt(tree, i), '..'), { recursive: true });
    writeFileSync(fileAt(tree, i), `// ${i}\n`);
  }
}

async function until<T>(what: string, timeoutMs: number, probe: () => T | undefined | null | false, everyMs = POLL_MS): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** The inotify watches a process holds (its inotify descriptors' fdinfo). */
function inotifyWatches(pid: number): number {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== 'anon_inode:inotify') continue;
      n += readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('inotify wd:')).length;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

/** Anonymous memory of a process (its private heap, not the binary's pages), MiB. */
function anonMiB(pid: number): number {
  const m = /^Anonymous:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
  if (!m) throw new Error(`no Anonymous in /proc/${pid}/smaps_rollup`);
  return Number(m[1]) / 1024;
}

/** Live `sleep <mark>` children of parent. */
function marked(mark: string, parent: number): number[] {
  return pidsNow().filter((pid) => {
    const argv = argvOf(pid);
    return argv?.length === 2 && basename(argv[0]!) === 'sleep' && argv[1] === mark && ppidOf(pid) === parent;
  });
}

/** A watcher in this process, started with what to call for each file it reports; its close. */
type Starter = (reported: (file: string) => void) => Promise<() => Promise<void>>;

const startFileWatch =
  (tree: string): Starter =>
  async (reported) => {
    const w = new FileWatch({ paths: [tree], ignore: [], ignorePaths: [], debounceMs: 0 }, (b) => reported(b.file), (m) => process.stderr.write(`bench: watch: FileWatch: ${m}\n`));
    await w.start();
    return () => w.close();
  };

const startChokidar =
  (tree: string, chokidar: Chokidar): Starter =>
  async (reported) => {
    const w = chokidar.watch(tree, pm2Options(tree));
    await withTimeout(new Promise<void>((resolve) => w.on('ready', resolve)), READY_MS, 'chokidar to be ready');
    w.on('all', (_event, path) => reported(join(tree, path)));
    return () => w.close();
  };

/** The JS heap and external memory of this process after a full collection, MiB. */
const heapAfterGc = (() => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  return (): number => {
    gc();
    const m = process.memoryUsage();
    return (m.heapUsed + m.external) / 1048576;
  };
})();

/**
 * Starts a watcher on the tree (the heap it holds then, after a full GC), then rewrites files of
 * it one at a time, each until the watcher reports it.
 */
async function inProcess(tree: string, start: Starter, offset: number): Promise<{ ms: number[]; startMs: number; heapMiB: number }> {
  let waiting: { file: string; resolve: () => void } | null = null;
  const heap0 = heapAfterGc();
  const t0 = performance.now();
  const close = await start((file) => {
    if (file === waiting?.file) waiting.resolve();
  });
  const startMs = performance.now() - t0;
  const heapMiB = heapAfterGc() - heap0;
  const ms: number[] = [];
  try {
    for (let r = 0; r < DETECT_REPS; r++) {
      const file = fileAt(tree, 7 * r + offset);
      const seen = new Promise<void>((resolve) => (waiting = { file, resolve }));
      const t1 = performance.now();
      writeFileSync(file, `// rev ${r}\n`);
      await withTimeout(seen, 10_000, `${file} to be reported`);
      ms.push(performance.now() - t1);
      await sleep(100); // the write's other events
    }
  } finally {
    await close();
  }
  return { ms, startMs, heapMiB };
}

/** `node -e src tree`, once it has printed its first line (a JSON document). */
async function nodeHelper(src: string, tree: string): Promise<{ child: Child; first: Record<string, unknown> }> {
  const child = spawnNode(['-e', src, tree]);
  const first = await withTimeout(
    new Promise<string>((resolve) => child.stdoutLines.once('line', resolve)),
    READY_MS,
    'a helper to start',
  );
  return { child, first: JSON.parse(first) as Record<string, unknown> };
}
const RECURSIVE_SRC = `const t0 = performance.now(); require('node:fs').watch(process.argv[1], { recursive: true }, () => {});
console.log(JSON.stringify({ ms: performance.now() - t0 }));`;
const IDLE_SRC = `console.log('{}'); setInterval(() => {}, 1 << 30);`;

export async function benchWatch(): Promise<Result> {
  assertBuilt();
  const version = pm2Version();
  const sleepPath = execFileSync('sh', ['-c', 'command -v sleep'], { encoding: 'utf8' }).trim();
  const preexisting = new Set(pidsNow());
  const tmp = mkdtempSync(join(tmpdir(), 'hearth-bench-watch-'));
  const tree = join(tmp, 'tree');
  const dirs = { hubWatch: join(tmp, 'hub-watch'), hubPlain: join(tmp, 'hub-plain'), pm2Watch: join(tmp, 'pm2-watch'), pm2Plain: join(tmp, 'pm2-plain') };
  const hubs: HubProc[] = [];
  const pm2Homes: string[] = [];
  const helpers: Child[] = [];
  const details: Record<string, unknown> = { files: FILES, dirs: DIRS, settle_ms: SETTLE_MS, window_ms: WINDOW_MS, pm2_version: version };
  const cleanup: Record<string, unknown> = {};
  const notes: string[] = [];
  try {
    let t = performance.now();
    makeTree(tree);
    details.make_tree_ms = round(performance.now() - t, 0);

    // --- 1. Cost -------------------------------------------------------------------------------
    const agent = (mark: string, watch: boolean): Record<string, unknown> => ({ name: 'app', command: sleepPath, args: [mark], cwd: tree, ...(watch ? { watch: true } : {}) });
    const app = (mark: string, watch: boolean) => ({ name: 'app', script: sleepPath, args: [mark], interpreter: 'none' as const, autorestart: true as const, cwd: tree, watch });
    for (const d of Object.values(dirs)) mkdirSync(d);
    const hubWatch = await startHub(dirs.hubWatch);
    hubs.push(hubWatch);
    const hubPlain = await startHub(dirs.hubPlain);
    hubs.push(hubPlain);
    for (const home of [dirs.pm2Watch, dirs.pm2Plain]) {
      pm2Homes.push(home);
      await pm2(home, ['ping']); // starts the daemon
    }
    const daemon = { watch: pm2DaemonPid(dirs.pm2Watch), plain: pm2DaemonPid(dirs.pm2Plain) };
    // The CPU each supervisor has used before it is given its agent: setting up counts from here.
    const before = { hubWatch: threadCpuSeconds(hubWatch.pid), hubPlain: threadCpuSeconds(hubPlain.pid), pm2Watch: threadCpuSeconds(daemon.watch), pm2Plain: threadCpuSeconds(daemon.plain) };

    await api(hubPlain, 'POST', '/api/agents', agent(MARK.hubPlain, false));
    t = performance.now();
    await api(hubWatch, 'POST', '/api/agents', agent(MARK.hubWatch, true));
    await until('the hub to watch the tree', READY_MS, () => inotifyWatches(hubWatch.pid) >= DIRS, 10);
    const hubReadyMs = performance.now() - t;
    await pm2Start(dirs.pm2Plain, 'plain.json', [app(MARK.pm2Plain, false)]);
    t = performance.now();
    await pm2Start(dirs.pm2Watch, 'watch.json', [app(MARK.pm2Watch, true)]);
    await until("PM2's daemon to watch the tree", READY_MS, () => inotifyWatches(daemon.watch) >= DIRS + FILES, 10);
    const pm2ReadyMs = performance.now() - t;

    const recursive = await nodeHelper(RECURSIVE_SRC, tree);
    helpers.push(recursive.child);
    const idle = await nodeHelper(IDLE_SRC, tree);
    helpers.push(idle.child);

    const pids = { hubWatch: hubWatch.pid, hubPlain: hubPlain.pid, pm2Watch: daemon.watch, pm2Plain: daemon.plain, recursive: recursive.child.pid, idle: idle.child.pid };
    type Who = keyof typeof pids;
    const r2 = (o: Record<string, number>, d = 2): Record<string, number> => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, round(v, d)]));
    const each = <T>(f: (pid: number) => T): Record<Who, T> => Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, f(pid)])) as Record<Who, T>;
    const supervised = [[MARK.hubWatch, pids.hubWatch], [MARK.hubPlain, pids.hubPlain], [MARK.pm2Watch, pids.pm2Watch], [MARK.pm2Plain, pids.pm2Plain]] as const;
    await until('one sleep under each supervisor', 30_000, () => supervised.every(([mark, parent]) => marked(mark, parent).length === 1));
    // V8 gives pages back a while after a burst of work (its memory reducer), at another moment in
    // each process: RSS is sampled all along, and compared at the end of the idle window.
    const t1 = performance.now();
    const rssTrace: Array<Record<string, number>> = [];
    const sampleTo = async (endMs: number): Promise<void> => {
      for (let at = (rssTrace.length + 1) * SAMPLE_MS; at <= endMs; at += SAMPLE_MS) {
        await sleep(t1 + at - performance.now());
        rssTrace.push({ at_s: at / 1000, ...r2(each(rssMiB), 1) });
      }
    };
    await sampleTo(SETTLE_MS);
    const watches = each(inotifyWatches);
    const cpu0 = each(threadCpuSeconds);
    await sampleTo(SETTLE_MS + WINDOW_MS);
    const cpu1 = each(threadCpuSeconds);
    const rss = each(rssMiB);
    const anon = each(anonMiB);
    const idleCpu = Object.fromEntries((Object.keys(pids) as Who[]).map((k) => [k, cpu1[k] - cpu0[k]])) as Record<Who, number>;
    for (const c of helpers.splice(0)) await killChild(c);

    // Two identical hubs differ by a few MiB, more while one has given pages back and the other
    // not yet: the differences are taken at each sample of the idle window, and their median kept.
    const inWindow = rssTrace.filter((x) => x.at_s > SETTLE_MS / 1000);
    const medianDiff = (a: Who, b: Who): number => median(inWindow.map((x) => x[a] - x[b]));
    const added = {
      rss: { hearth: medianDiff('hubWatch', 'hubPlain'), pm2: medianDiff('pm2Watch', 'pm2Plain'), recursive: medianDiff('recursive', 'idle') },
      anon: { hearth: anon.hubWatch - anon.hubPlain, pm2: anon.pm2Watch - anon.pm2Plain, recursive: anon.recursive - anon.idle },
      setup: {
        hearth: cpu0.hubWatch - before.hubWatch - (cpu0.hubPlain - before.hubPlain),
        pm2: cpu0.pm2Watch - before.pm2Watch - (cpu0.pm2Plain - before.pm2Plain),
        recursive: cpu0.recursive - cpu0.idle,
      },
      idle: { hearth: idleCpu.hubWatch - idleCpu.hubPlain, pm2: idleCpu.pm2Watch - idleCpu.pm2Plain, recursive: idleCpu.recursive - idleCpu.idle },
    };
    Object.assign(details, {
      rss_mib_end_of_window: r2(rss, 1),
      anonymous_mib_end_of_window: r2(anon, 1),
      rss_mib_every_5s: rssTrace,
      inotify_watches: watches,
      cpu_before_the_agent_s: r2(before, 3),
      cpu_until_settled_s: r2(cpu0, 3),
      cpu_idle_window_s: r2(idleCpu, 4),
      ready_ms: { hub: round(hubReadyMs, 0), pm2: round(pm2ReadyMs, 0), node_recursive_fs_watch_call: round(Number(recursive.first.ms), 0) },
      added_by_watching: { rss_mib: r2(added.rss, 1), anonymous_mib: r2(added.anon, 1), setup_cpu_s: r2(added.setup, 3), idle_cpu_s: r2(added.idle, 4) },
    });

    // --- 2. Detection, in this process -------------------------------------------------------------
    const chokidar = createRequire(join(ROOT, 'node_modules/pm2/package.json'))('chokidar') as Chokidar;
    const fw = await inProcess(tree, startFileWatch(tree), 1);
    const ch = await inProcess(tree, startChokidar(tree, chokidar), 2);
    details.detect_ms = { filewatch: fw.ms.map((x) => round(x, 2)), chokidar: ch.ms.map((x) => round(x, 2)) };
    details.in_process_start_ms = { filewatch: round(fw.startMs, 0), chokidar: round(ch.startMs, 0) };
    details.in_process_heap_held_mib = { filewatch: round(fw.heapMiB, 2), chokidar: round(ch.heapMiB, 1) };

    // --- 3. End to end: a write until the agent's new process runs -----------------------------------
    await sleep(QUIET_MS);
    const e2e = { hub: [] as number[], pm2: [] as number[] };
    for (let r = 0; r < E2E_REPS; r++) {
      for (const who of r % 2 === 0 ? (['hub', 'pm2'] as const) : (['pm2', 'hub'] as const)) {
        const [mark, parent] = who === 'hub' ? [MARK.hubWatch, pids.hubWatch] : [MARK.pm2Watch, pids.pm2Watch];
        const before = new Set(marked(mark, parent));
        const t0 = performance.now();
        writeFileSync(fileAt(tree, 1000 + 2 * r + (who === 'hub' ? 0 : 1)), `// e2e ${r}\n`);
        await until(`a new sleep ${mark} under ${parent}`, 30_000, () => marked(mark, parent).some((pid) => !before.has(pid)));
        e2e[who].push(round(performance.now() - t0, 1));
        await sleep(QUIET_MS);
      }
    }
    details.end_to_end_ms = e2e;

    // --- Results ---------------------------------------------------------------------------------
    const med = { fw: median(fw.ms), ch: median(ch.ms), hub: median(e2e.hub), pm2: median(e2e.pm2) };
    const e2eRow: Row = {
      metric: 'file rewritten until the agent runs again, median ms (hub, 1 s debounce, vs PM2, none)',
      unit: 'ms',
      hearth: round(med.hub, 0),
      baseline: round(med.pm2, 0),
      ratio: med.hub / med.pm2,
      goal: '-',
      met: null,
    };
    const rows = [
      ratioRow(`watching ${FILES} files: JS heap the watcher holds after a full GC, MiB (FileWatch vs chokidar as PM2 uses it)`, 'MiB', round(fw.heapMiB, 2), round(ch.heapMiB, 1), GOAL.memory),
      ratioRow(`watching ${FILES} files: RSS it adds to the supervisor, MiB (hub vs PM2 daemon)`, 'MiB', round(added.rss.hearth, 1), round(added.rss.pm2, 1), GOAL.memory),
      absoluteRow(`watching ${FILES} files: RSS it adds to the hub, MiB`, 'MiB', round(added.rss.hearth, 1), GOAL.megabytes),
      ratioRow(`watching ${FILES} files: CPU s to set it up (hub vs PM2 daemon)`, 's', round(added.setup.hearth, 3), round(added.setup.pm2, 3), GOAL.setup),
      absoluteRow(`watching ${FILES} files: hub CPU s it adds over ${WINDOW_MS / 1000} s idle`, 's', round(added.idle.hearth, 4), GOAL.idleCpu),
      ratioRow('file rewritten until reported, median ms (FileWatch, debounce 0, vs chokidar as PM2 uses it)', 'ms', round(med.fw, 2), round(med.ch, 2), GOAL.detect),
      e2eRow,
    ];
    notes.push(
      `watch: a tree of ${FILES} files in ${DIRS} directories (made in ${details.make_tree_ms} ms); PM2 ${version} (chokidar 3). inotify watches: hub with the watching agent ${watches.hubWatch} ` +
        `(without ${watches.hubPlain}), PM2 daemon ${watches.pm2Watch} (without ${watches.pm2Plain}), Node 20's recursive fs.watch ${watches.recursive}. ` +
        `Watching in ${round(hubReadyMs, 0)} ms (hub) vs ${round(pm2ReadyMs, 0)} ms (PM2); Node's recursive fs.watch call blocked its event loop ${round(Number(recursive.first.ms), 0)} ms.`,
      `watch cost (with minus without; RSS: median over the idle window): RSS hub ${round(added.rss.hearth, 1)} MiB, PM2 daemon ${round(added.rss.pm2, 1)} MiB, Node recursive fs.watch ${round(added.rss.recursive, 1)} MiB (vs an idle node); ` +
        `anonymous memory alone (end of the window) ${round(added.anon.hearth, 1)} / ${round(added.anon.pm2, 1)} / ${round(added.anon.recursive, 1)} MiB; ` +
        `CPU to set up hub ${round(added.setup.hearth, 3)} s, PM2 ${round(added.setup.pm2, 3)} s, Node recursive ${round(added.setup.recursive, 3)} s; ` +
        `CPU over ${WINDOW_MS / 1000} s idle: hub ${round(idleCpu.hubWatch, 4)} s vs ${round(idleCpu.hubPlain, 4)} s without, PM2 ${round(idleCpu.pm2Watch, 4)} s vs ${round(idleCpu.pm2Plain, 4)} s, ` +
        `Node recursive ${round(idleCpu.recursive, 4)} s vs idle node ${round(idleCpu.idle, 4)} s.`,
      `watch detection: ${DETECT_REPS} rewrites each, FileWatch ${round(Math.min(...fw.ms), 2)}-${round(Math.max(...fw.ms), 2)} ms, chokidar ${round(Math.min(...ch.ms), 2)}-${round(Math.max(...ch.ms), 2)} ms ` +
        `(started in ${round(fw.startMs, 0)} vs ${round(ch.startMs, 0)} ms in this process, holding ${round(fw.heapMiB, 2)} vs ${round(ch.heapMiB, 1)} MiB of heap). End to end (${E2E_REPS} each, alternating): hub ${e2e.hub.join(', ')} ms (${round(med.hub - 1000, 0)} ms after the 1000 ms debounce); PM2 ${e2e.pm2.join(', ')} ms.`,
    );
    return { name: 'watch', rows, details, notes };
  } finally {
    for (const c of helpers) await killChild(c);
    for (const hub of hubs) {
      const s = await stopHub(hub);
      cleanup[`hub_${hub.pid}_stop`] = { code: s.code, signal: s.signal, ms: round(s.ms, 0), killed_after_timeout: s.killed };
    }
    for (const home of pm2Homes) cleanup[`pm2_${basename(home)}`] = await pm2Kill(home);
    // Our own markers only, and not a process that was there before this bench began.
    cleanup.leftover_sleeps_killed = await killLeftoverSleeps(preexisting, Object.values(MARK));
    rmSync(tmp, { recursive: true, force: true });
    details.cleanup = cleanup;
    process.stderr.write(`bench: watch cleanup: ${JSON.stringify(cleanup)}\n`);
  }
}
