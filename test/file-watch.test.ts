/**
 * FileWatch: one report per burst of changes, ignored files never reported, new directories
 * watched, missing paths a problem, close() leaving nothing behind, and the polling fallback.
 * Real files in temp dirs and real inotify; "nothing reported" is shown by a watched change that
 * comes after the ignored ones and is the only thing reported.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { FileWatch, MAX_WATCHED_DIRS, type Burst, type WatchSpec } from '../src/hub/supervisor/file-watch.js';
import { onCleanup } from './helpers/cleanup.js';
import { tempDir } from './helpers/tmp.js';
import { until } from './helpers/wait.js';

const ROOT = join(import.meta.dirname, '..');
const CHILD = join(import.meta.dirname, 'fixtures/file-watch-child.ts');
const LINUX = process.platform === 'linux';

interface Seen {
  bursts: Burst[];
  problems: string[];
}

/** A started FileWatch (debounce 50 ms unless said), closed at the end of the file at the latest. */
async function watching(spec: Partial<WatchSpec> & Pick<WatchSpec, 'paths'>): Promise<{ w: FileWatch; seen: Seen }> {
  const seen: Seen = { bursts: [], problems: [] };
  const w = new FileWatch(
    { ignore: [], ignorePaths: [], debounceMs: 50, ...spec },
    (b) => seen.bursts.push(b),
    (p) => seen.problems.push(p),
  );
  onCleanup(() => w.close());
  await w.start();
  return { w, seen };
}

const files = (seen: Seen): string[] => seen.bursts.map((b) => b.file);
const bursts = (seen: Seen, n: number): Promise<Burst[]> =>
  until(`${n} burst(s)`, () => seen.bursts, (b) => b.length >= n, { timeoutMs: 30_000 });

/** inotify watches this process holds (Linux: /proc/self/fdinfo of its inotify descriptors). */
function inotifyWatches(): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) !== 'anon_inode:inotify') continue;
      n += readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('inotify wd:')).length;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

/** A process running test/fixtures/file-watch-child.ts; its JSON lines collected; killed at the end. */
function child(command: string, args: string[]): { proc: ChildProcess; lines: Array<Record<string, unknown>>; exited: Promise<number | null> } {
  const proc = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: Array<Record<string, unknown>> = [];
  createInterface({ input: proc.stdout! }).on('line', (l) => lines.push(JSON.parse(l) as Record<string, unknown>));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  onCleanup(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
  });
  return { proc, lines, exited };
}

describe('FileWatch', () => {
  it('reports a change to a file, naming it', async () => {
    const root = tempDir('hearth-watch-');
    writeFileSync(join(root, 'app.js'), 'v1');
    const { w, seen } = await watching({ paths: [root] });
    writeFileSync(join(root, 'app.js'), 'v2');
    const [b] = await bursts(seen, 1);
    assert.equal(b!.file, join(root, 'app.js'));
    assert.deepEqual(seen.problems, []);
    await w.close();
  });

  it('reports a burst of many writes once, with the first file and the count', async () => {
    const root = tempDir('hearth-watch-');
    const { w, seen } = await watching({ paths: [root], debounceMs: 200 });
    for (let i = 0; i < 100; i++) writeFileSync(join(root, `f${i}.js`), String(i));
    await bursts(seen, 1);
    // Whatever came of the 100 writes has been reported; the next change is a burst of its own.
    writeFileSync(join(root, 'after.js'), 'x');
    await bursts(seen, 2);
    assert.deepEqual(files(seen), [join(root, 'f0.js'), join(root, 'after.js')]);
    assert.ok(seen.bursts[0]!.count >= 100, `count ${seen.bursts[0]!.count}`);
    await w.close();
  });

  it('reports a writer that never stops (a burst lasts 10 debounce periods at most)', async () => {
    const root = tempDir('hearth-watch-');
    const log = join(root, 'busy.log');
    const { w, seen } = await watching({ paths: [root], debounceMs: 200 });
    // Another process, so that a busy moment of this one is not a quiet moment of the writer.
    const writer = child(process.execPath, ['-e', `let n = 0; setInterval(() => require('node:fs').writeFileSync(${JSON.stringify(log)}, String(++n)), 10)`]);
    await bursts(seen, 1);
    const at = readFileSync(log, 'utf8');
    await until('the writer to go on after the report', () => readFileSync(log, 'utf8'), (now) => now !== at && now !== '');
    writer.proc.kill();
    await writer.exited;
    assert.equal(seen.bursts[0]!.file, log);
    await w.close();
  });

  it('never reports ignored files: its globs, node_modules and .git at any depth, ignorePaths', async () => {
    const root = tempDir('hearth-watch-');
    for (const d of ['node_modules/pkg', 'src/node_modules/dep', '.git', 'src/.git', 'logs', 'build', 'tmp', 'src/gen']) mkdirSync(join(root, d), { recursive: true });
    // Each change reported at once: everything noticed is in the list.
    const { w, seen } = await watching({
      paths: [root],
      ignore: ['*.log', 'build/**', './tmp/', 'src/gen/*.ts'],
      ignorePaths: [join(root, 'logs')],
      debounceMs: 0,
    });
    const ignored = [
      'app.log',
      'src/deep.log',
      'build/out.js',
      'tmp/scratch.js',
      'src/gen/types.ts',
      'node_modules/pkg/index.js',
      'src/node_modules/dep/index.js',
      'node_modules/new-pkg/index.js', // a directory made after start, inside node_modules
      'lib/node_modules/x/index.js', // a node_modules made after start, in a new directory
      '.git/HEAD',
      'src/.git/index',
      'logs/stdout.log',
      'logs/notes.txt',
    ];
    for (const f of ignored) {
      mkdirSync(join(root, f, '..'), { recursive: true });
      writeFileSync(join(root, f), 'x');
    }
    writeFileSync(join(root, 'watched.js'), 'x');
    await until('watched.js reported', () => files(seen), (f) => f.includes(join(root, 'watched.js')));
    // lib/ is new and not ignored (its node_modules is).
    assert.deepEqual([...new Set(files(seen))], [join(root, 'lib'), join(root, 'watched.js')]);
    await w.close();
  });

  it('watches one directory at a time, never inside an ignored one, and close() removes every watch', { skip: !LINUX && 'reads /proc' }, async () => {
    const root = tempDir('hearth-watch-');
    for (let i = 0; i < 5; i++) mkdirSync(join(root, 'node_modules', `p${i}`, 'lib'), { recursive: true });
    mkdirSync(join(root, 'src'));
    for (let i = 0; i < 50; i++) writeFileSync(join(root, 'src', `f${i}.js`), 'x');
    const before = inotifyWatches();
    const { w } = await watching({ paths: [root] });
    assert.equal(inotifyWatches() - before, 2); // root and src: not one per file, none in node_modules
    await w.close();
    await until('the watches to be gone', () => inotifyWatches() - before, (n) => n === 0);
  });

  it('watches directories made after start, and what is written in them at once', async () => {
    const root = tempDir('hearth-watch-');
    const { w, seen } = await watching({ paths: [root], debounceMs: 0 });
    mkdirSync(join(root, 'a/b/c'), { recursive: true });
    writeFileSync(join(root, 'a/b/c/first.js'), 'x');
    await until('a/b/c/first.js reported', () => files(seen), (f) => f.includes(join(root, 'a/b/c/first.js')));
    writeFileSync(join(root, 'a/b/c/later.js'), 'x');
    await until('a/b/c/later.js reported', () => files(seen), (f) => f.includes(join(root, 'a/b/c/later.js')));
    // Removed and made again: watched again.
    rmSync(join(root, 'a'), { recursive: true });
    mkdirSync(join(root, 'a/b'), { recursive: true });
    await until('a/b reported again', () => files(seen).filter((f) => f === join(root, 'a/b')).length, (n) => n >= 2);
    writeFileSync(join(root, 'a/b/again.js'), 'x');
    await until('a/b/again.js reported', () => files(seen), (f) => f.includes(join(root, 'a/b/again.js')));
    assert.deepEqual(seen.problems, []);
    await w.close();
  });

  it('watches a file through its directory: a save by rename is seen, its neighbours are not', async () => {
    const root = tempDir('hearth-watch-');
    const config = join(root, 'config.json');
    writeFileSync(config, '{}');
    const { w, seen } = await watching({ paths: [config] });
    writeFileSync(join(root, 'other.js'), 'x');
    writeFileSync(`${config}.tmp`, '{"a":1}');
    renameSync(`${config}.tmp`, config); // as editors save
    await bursts(seen, 1);
    writeFileSync(config, '{"a":2}'); // the new file is watched too
    await bursts(seen, 2);
    assert.deepEqual(files(seen), [config, config]);
    await w.close();
  });

  it('says a watched path does not exist, and watches the others', async () => {
    const root = tempDir('hearth-watch-');
    mkdirSync(join(root, 'real'));
    const missing = join(root, 'missing');
    const { w, seen } = await watching({ paths: [missing, join(root, 'real')] });
    assert.deepEqual(seen.problems, [`watch: ${missing} does not exist`]);
    writeFileSync(join(root, 'real/x.js'), 'x');
    await bursts(seen, 1);
    assert.equal(seen.bursts[0]!.file, join(root, 'real/x.js'));
    await w.close();
  });

  it('reports nothing after close(), and leaves nothing that keeps the process alive', async () => {
    const root = tempDir('hearth-watch-');
    const closed = await watching({ paths: [root], debounceMs: 0 });
    const control = await watching({ paths: [root], debounceMs: 0 });
    await closed.w.close();
    await closed.w.close(); // idempotent
    writeFileSync(join(root, 'x.js'), 'x');
    // Both watch the same directory: the control's report comes with the same kernel events.
    await bursts(control.seen, 1);
    assert.deepEqual(closed.seen.bursts, []);
    await control.w.close();

    const c = child(process.execPath, ['--import', 'tsx', CHILD, root, 'close']);
    await until('the child to exit by itself', () => c.proc.exitCode, (code) => code !== null, { timeoutMs: 20_000 });
    assert.equal(c.proc.exitCode, 0);
    assert.deepEqual(c.lines, [{ started: true }, { closed: true }]);
  });

  it(`polls instead past ${MAX_WATCHED_DIRS} directories, and says so once`, async () => {
    const root = tempDir('hearth-watch-');
    for (let i = 0; i <= MAX_WATCHED_DIRS; i++) mkdirSync(join(root, `d${i}`));
    writeFileSync(join(root, 'd7/old.js'), 'v1');
    const { w, seen } = await watching({ paths: [root], ignore: ['*.log'] });
    assert.equal(seen.problems.length, 1);
    assert.match(seen.problems[0]!, new RegExp(`^watch: ${root} has more than ${MAX_WATCHED_DIRS} directories to watch; polling instead: every \\d+ s, \\d+ entries a scan`));
    writeFileSync(join(root, 'ignored.log'), 'x');
    writeFileSync(join(root, 'new.js'), 'x');
    await bursts(seen, 1);
    writeFileSync(join(root, 'd7/old.js'), 'v2');
    await bursts(seen, 2);
    assert.deepEqual(files(seen), [join(root, 'new.js'), join(root, 'd7/old.js')]);
    assert.equal(seen.problems.length, 1);
    await w.close();
  });

  const userns = LINUX && spawnSync('unshare', ['-Ur', 'true']).status === 0;
  it('polls instead when the kernel refuses more watches (ENOSPC), and says so', { skip: !userns && 'needs a user namespace (unshare -Ur) to lower the limit' }, async () => {
    const root = tempDir('hearth-watch-');
    for (let i = 0; i < 5; i++) mkdirSync(join(root, `d${i}`));
    // In a user namespace of its own, the child may hold 3 inotify watches.
    const limited = 'echo 3 > /proc/sys/user/max_inotify_watches && exec "$@"';
    const c = child('unshare', ['-Ur', 'sh', '-c', limited, 'sh', process.execPath, '--import', 'tsx', CHILD, root, 'watch']);
    await until('the child to watch', () => c.lines, (l) => l.some((x) => x.started === true), { timeoutMs: 30_000 });
    const problems = c.lines.filter((l) => 'problem' in l).map((l) => l.problem);
    assert.equal(problems.length, 1);
    assert.match(String(problems[0]), /^watch: the kernel refused an inotify watch \(ENOSPC: fs\.inotify\.max_user_watches\) after 3 directories; polling instead/);
    writeFileSync(join(root, 'd4/x.js'), 'x');
    await until('d4/x.js reported', () => c.lines, (l) => l.some((x) => (x.burst as Burst | undefined)?.file === join(root, 'd4/x.js')), { timeoutMs: 30_000 });
  });
});
