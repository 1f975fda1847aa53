/**
 * Serial ports without hardware: socat joins two pseudo-terminals back to back and links them at fixed
 * paths, so a simulated device opens one end and the code under test the other, as it would a
 * /dev/ttyUSB0. Killing socat makes both ports vanish (the links go away, whoever has an end open
 * reads end-of-file, i.e. a hangup); starting it again with the same links brings "the same" port back
 * for reconnect tests.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SerialPortStream } from '@serialport/stream';
import { serialBinding } from '../../src/bridges/devices/serial-binding.js';
import { onCleanup } from './cleanup.js';
import { tempDir } from './tmp.js';

export interface PtyPair {
  /** The two link paths; they stay the same across close() and open(). */
  a: string;
  b: string;
  /** The /dev/pts/N each link points to while open (new numbers after each open). */
  devices: { a: string; b: string } | null;
  /** Kills socat and waits for it: both ports vanish. Safe to call twice. */
  close(): Promise<void>;
  /** Starts socat again at the same link paths (after close()). */
  open(): Promise<void>;
}

const START_TIMEOUT_MS = 10_000;

/** Sends SIGTERM (SIGKILL if it lingers) and waits for the exit; a no-op on a process already gone. */
export async function reap(proc: ChildProcess, graceMs = 3000): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const gone = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  const hard = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(hard);
}

// A test process that dies before its after() hooks must not leave helpers behind: killed outright
// (SIGKILL, or a SIGTERM from `timeout`, which skips 'exit' handlers) only the kernel can tell them,
// so they run under `setpriv --pdeathsig KILL` (it execs them: same pid). The 'exit' hook covers
// uncaught errors where setpriv is missing.
const live = new Set<ChildProcess>();
process.once('exit', () => live.forEach((p) => p.kill('SIGKILL')));
const SETPRIV = '/usr/bin/setpriv';
const hasSetpriv = existsSync(SETPRIV);

/** spawn(), but the child dies with this process. */
export function spawnReaped(cmd: string, args: string[], opts: SpawnOptions): ChildProcess {
  const proc = hasSetpriv ? spawn(SETPRIV, ['--pdeathsig', 'KILL', '--', cmd, ...args], opts) : spawn(cmd, args, opts);
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  return proc;
}

/**
 * A connected pair of ptys linked at <dir>/<names.a> and <dir>/<names.b> (default: a fresh temp dir,
 * "a" and "b"). Pass the dir and names of an earlier pair, closed, to recreate its port.
 */
export async function openPtyPair(dir: string = tempDir('hearth-pty-'), names = { a: 'a', b: 'b' }): Promise<PtyPair> {
  let proc: ChildProcess | null = null;
  const pair: PtyPair = {
    a: resolve(join(dir, names.a)),
    b: resolve(join(dir, names.b)),
    devices: null,
    async open() {
      if (proc) throw new Error(`pty pair ${pair.a} is already open`);
      // raw,echo=0: bytes pass untouched (no CR/LF mapping, no echo, no line editing) like a serial line.
      const p = spawnReaped('socat', ['-d', '-d', `pty,raw,echo=0,link=${pair.a}`, `pty,raw,echo=0,link=${pair.b}`], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      proc = p;
      let log = '';
      // socat logs "PTY is /dev/pts/N" per end, then "starting data transfer loop" once both exist and
      // are linked: that line is the ready signal, no polling.
      pair.devices = await new Promise<{ a: string; b: string }>((ok, fail) => {
        const timer = setTimeout(() => fail(new Error(`socat did not start within ${START_TIMEOUT_MS} ms:\n${log}`)), START_TIMEOUT_MS);
        const done = (err: Error | null, devs?: { a: string; b: string }): void => {
          clearTimeout(timer);
          p.stderr!.off('data', onData);
          p.off('exit', onExit);
          if (err) fail(err);
          else ok(devs!);
        };
        const onData = (chunk: Buffer): void => {
          log += chunk.toString();
          if (!log.includes('starting data transfer loop')) return;
          const ptys = [...log.matchAll(/PTY is (\S+)/g)].map((m) => m[1]!);
          done(null, { a: ptys[0]!, b: ptys[1]! });
        };
        const onExit = (code: number | null): void => done(new Error(`socat exited with ${code} before linking the ptys (is socat installed?):\n${log}`));
        p.stderr!.on('data', onData);
        p.once('exit', onExit);
        p.once('error', (e) => done(new Error(`socat could not be started (apt-get install socat): ${e.message}`)));
      }).catch(async (e: unknown) => {
        await pair.close();
        throw e;
      });
      p.stderr!.resume(); // keep draining socat's log so it never blocks on a full pipe
      if (!existsSync(pair.a) || !existsSync(pair.b)) throw new Error(`socat started but ${pair.a} or ${pair.b} is missing`);
    },
    async close() {
      const p = proc;
      proc = null;
      pair.devices = null;
      if (p) await reap(p);
      // socat unlinks on SIGTERM; after a SIGKILL the links would dangle, and a vanished port must be gone.
      rmSync(pair.a, { force: true });
      rmSync(pair.b, { force: true });
    },
  };
  onCleanup(() => pair.close());
  await pair.open();
  return pair;
}

/**
 * The test's own end of a port, through the serialport library the hub uses; lines are split on \n.
 * Opening flushes what was pending on the port (serialport does), so open it before its peer talks.
 */
export interface PtyEnd {
  port: SerialPortStream;
  /** Everything received so far, and the complete lines of it (without \r\n). */
  text: string;
  lines: string[];
  write(data: string | Buffer): Promise<void>;
  /** The first line from index `from` on (default: any line not yet consumed by waitLine) matching `match`. */
  waitLine(match: RegExp | ((line: string) => boolean), timeoutMs?: number, from?: number): Promise<string>;
  close(): Promise<void>;
}

export async function openPtyEnd(path: string, baudRate = 115200): Promise<PtyEnd> {
  const port = new SerialPortStream({ binding: serialBinding, path, baudRate, autoOpen: false });
  await new Promise<void>((ok, fail) => port.open((e) => (e ? fail(e) : ok())));
  let cursor = 0;
  let waiters: Array<() => void> = [];
  const end: PtyEnd = {
    port,
    text: '',
    lines: [],
    write: (data) => new Promise((ok, fail) => port.write(data, (e) => (e ? fail(e) : port.drain((d) => (d ? fail(d) : ok()))))),
    waitLine(match, timeoutMs = 5000, from = cursor) {
      const test = typeof match === 'function' ? match : (l: string) => match.test(l);
      return new Promise((ok, fail) => {
        const check = (): boolean => {
          const i = end.lines.findIndex((l, j) => j >= from && test(l));
          if (i < 0) return false;
          cursor = Math.max(cursor, i + 1);
          clearTimeout(timer);
          ok(end.lines[i]!);
          return true;
        };
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== onLine);
          fail(new Error(`no line matching ${String(match)} on ${path} within ${timeoutMs} ms; got:\n${end.lines.slice(from).join('\n')}`));
        }, timeoutMs);
        const onLine = (): void => void (check() && (waiters = waiters.filter((w) => w !== onLine)));
        if (!check()) waiters.push(onLine);
      });
    },
    async close() {
      if (port.isOpen) await new Promise<void>((ok) => port.close(() => ok()));
    },
  };
  let partial = '';
  port.on('data', (chunk: Buffer) => {
    const s = chunk.toString('latin1');
    end.text += s;
    const parts = (partial + s).split('\n');
    partial = parts.pop()!;
    if (!parts.length) return;
    end.lines.push(...parts.map((l) => l.replace(/\r$/, '')));
    for (const w of [...waiters]) w();
  });
  port.on('error', () => undefined); // a vanished pty surfaces as 'close'; tests look at that, not at a crash
  onCleanup(() => end.close());
  return end;
}

const FIXTURES = fileURLToPath(new URL('../fixtures/devices/', import.meta.url));

export interface Sim {
  proc: ChildProcess;
  /** The simulator's own stdout/stderr (not the port's traffic). */
  output: string;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/**
 * Runs test/fixtures/devices/<name>.mjs on a port path and resolves once it has opened it (it prints
 * "ready" on stdout then), so the port's first bytes are already on their way.
 */
export async function startSim(name: 'marlin-sim' | 'meter-sim', path: string, args: string[] = []): Promise<Sim> {
  const proc = spawnReaped(process.execPath, [join(FIXTURES, `${name}.mjs`), path, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const sim: Sim = {
    proc,
    output: '',
    exited: new Promise((r) => proc.once('exit', (code, signal) => r(code ?? (signal ? -1 : null)))),
    stop: () => reap(proc),
  };
  onCleanup(() => sim.stop());
  let timer: NodeJS.Timeout | undefined;
  const ready = new Promise<void>((ok, fail) => {
    const onData = (c: Buffer): void => {
      sim.output += c.toString();
      if (/^ready$/m.test(sim.output)) ok();
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    void sim.exited.then((code) => fail(new Error(`${name} exited with ${code} before opening ${path}:\n${sim.output}`)));
    // Opening a path that is no tty (a FIFO without a writer) can block forever: fail instead.
    timer = setTimeout(() => fail(new Error(`${name} did not open ${path} within ${START_TIMEOUT_MS} ms:\n${sim.output}`)), START_TIMEOUT_MS);
  });
  try {
    await ready;
  } catch (e) {
    await sim.stop();
    throw e;
  } finally {
    clearTimeout(timer);
  }
  return sim;
}

/**
 * What a port listing should say on this machine, found another way than the hub does: every tty
 * with hardware behind it in sysfs (consoles and ptys have none), minus 8250 UARTs the kernel made
 * without a chip (type 0), each as its /dev/serial/by-id name when udev gave it one. Sorted paths.
 */
export function serialPortsOfThisMachine(): string[] {
  const ports = new Set<string>();
  for (const name of readdirSync('/sys/class/tty')) {
    if (!existsSync(`/sys/class/tty/${name}/device`) || !existsSync(`/dev/${name}`)) continue;
    const type = existsSync(`/sys/class/tty/${name}/type`) ? readFileSync(`/sys/class/tty/${name}/type`, 'utf8').trim() : null;
    if (type === '0') continue;
    ports.add(`/dev/${name}`);
  }
  const byId = '/dev/serial/by-id';
  for (const link of existsSync(byId) ? readdirSync(byId) : []) {
    const target = `/dev/${basename(realpathSync(join(byId, link)))}`;
    ports.delete(target);
    ports.add(join(byId, link));
  }
  return [...ports].sort();
}
