/**
 * The supervision kernel: one program kept the way its owner asked. It spawns the program in its
 * own process group, restarts it by policy with exponential backoff, declares a crash loop, and
 * stops the whole group. Agents use it now; service-mode apps will too.
 */
import type { ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { BACKOFF_MAX_MS, type ProgramSpec, type ProgramStatus } from './spec.js';
import { conflict } from '../errors.js';
import { signalGroup, spawnGroup, stopGroup } from './process-group.js';
import { startTimeOf } from './procfs.js';

/**
 * Why the program could not be spawned, in words. Node reports a missing cwd exactly as a missing
 * command (ENOENT, naming the command), so on that error the directory is looked at: the same
 * words as a task's command action uses.
 */
function spawnProblem(e: Error, cwd: string | undefined): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (cwd !== undefined && (code === 'ENOENT' || code === 'ENOTDIR')) {
    try {
      if (!statSync(cwd).isDirectory()) return `${cwd} is not a directory`;
    } catch (s) {
      const why = (s as NodeJS.ErrnoException).code;
      return why === 'ENOENT' ? `no directory ${cwd}` : `cannot use directory ${cwd} (${why ?? String(s)})`;
    }
  }
  return e.message;
}

/** A spawn error's words, shortened in the middle: a reason is kept in 200 characters, a command or cwd may be longer. */
function spawnReason(e: Error, cwd: string | undefined): string {
  const why = spawnProblem(e, cwd);
  return `spawn_error: ${why.length <= 180 ? why : `${why.slice(0, 90)}…${why.slice(-89)}`}`;
}

export interface ProgramState {
  status: ProgramStatus;
  /** Why it is failed or stopped by itself: crash_loop, spawn_error, exited, unhealthy, memory_limit… */
  reason: string | null;
  pid: number | null;
  /** /proc start time of pid: with the pid, it tells our process from a later one with the same pid. */
  pidStartTime: string | null;
  startedAt: number | null;
  lastExitCode: number | null;
  lastSignal: string | null;
  /** Every start after the first, by policy or by request. */
  restarts: number;
  /** When the policy restarts will happen (status backoff). */
  nextStartAt: number | null;
}

export interface ProgramHooks {
  onState(state: ProgramState): void;
  onOutput(stream: 'stdout' | 'stderr', chunk: Buffer): void;
  /** The program exited by itself (not asked to stop). */
  onExit?(code: number | null, signal: string | null): void;
  /** A new process is up (every start and restart): where limits are applied. */
  onSpawn?(pid: number): void;
  /** A message the process sent over its IPC channel (spec.ipc). */
  onMessage?(message: unknown): void;
}

/**
 * A restart the owner asked for is not a failure: it starts afresh, with no backoff and no count
 * toward a crash loop. One by policy (unhealthy, over its memory limit) counts.
 */
type Why = 'user' | 'policy';

export class Program {
  private child: ChildProcess | null = null;
  private timer: NodeJS.Timeout | null = null;
  private state: ProgramState;
  /** Times of restarts by policy within the crash-loop window. */
  private recentRestarts: number[] = [];
  private quickFailures = 0;
  private stopping = false;
  private exited: Promise<void> = Promise.resolve();
  /**
   * Every start, stop and restart, whoever asks (REST, MQTT, a health check, the backoff timer),
   * runs after the one before has finished: two at once can neither double nor orphan a process.
   */
  private ops: Promise<unknown> = Promise.resolve();
  /** Operations started and not yet settled. */
  private inFlight = 0;

  constructor(
    private spec: ProgramSpec,
    private readonly hooks: ProgramHooks,
    initial: Partial<ProgramState> = {},
  ) {
    this.state = {
      status: 'stopped',
      reason: null,
      pid: null,
      pidStartTime: null,
      startedAt: null,
      lastExitCode: null,
      lastSignal: null,
      restarts: 0,
      nextStartAt: null,
      ...initial,
    };
  }

  get snapshot(): ProgramState {
    return { ...this.state };
  }

  get running(): boolean {
    return this.child !== null;
  }

  /** Restarts within the crash-loop window, for the health score. */
  get recentRestartCount(): number {
    this.pruneWindow(Date.now());
    return this.recentRestarts.length;
  }

  /** Takes effect at the next start. */
  setSpec(spec: ProgramSpec): void {
    this.spec = spec;
  }

  /** Starts it unless it runs already. */
  start(): Promise<void> {
    this.clearTimer();
    return this.serial(async () => {
      if (this.child) return;
      this.resetCounters();
      await this.spawn();
    });
  }

  /** Stops the whole process group; a pending restart is cancelled. */
  stop(reason: string | null = null): Promise<void> {
    this.clearTimer();
    return this.serial(() => this.halt(reason));
  }

  /** Stop (if running) and start again, as the owner asked or a health check decided. */
  restart(why: Why = 'user', reason: string | null = null): Promise<void> {
    this.clearTimer();
    return this.serial(async () => {
      await this.halt(reason);
      if (why === 'policy') this.recentRestarts.push(Date.now());
      else this.resetCounters();
      await this.spawn(true);
    });
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    // With nothing in flight the operation begins at once, so a start (or a restart after a crash)
    // reaches spawn() in this same turn rather than after whatever else is queued.
    this.inFlight++;
    const run = this.inFlight === 1 ? op() : this.ops.then(op, op);
    this.ops = run.catch(() => undefined);
    void this.ops.then(() => this.inFlight--);
    return run;
  }

  private resetCounters(): void {
    this.quickFailures = 0;
    this.recentRestarts = [];
  }

  private async halt(reason: string | null): Promise<void> {
    const child = this.child;
    if (!child?.pid) {
      this.set({ status: 'stopped', reason, nextStartAt: null });
      return;
    }
    this.stopping = true;
    this.set({ status: 'stopping' });
    try {
      await stopGroup(child.pid, this.spec.stopSignal, this.spec.stopTimeoutS);
    } catch (e) {
      // EPERM: a process of another user in the group. It runs on; say so rather than hang.
      this.stopping = false;
      this.set({ status: 'running', reason: `could not stop: ${(e as Error).message}` });
      throw conflict(`could not stop it: ${(e as Error).message}`);
    }
    await this.exited;
    this.stopping = false;
    this.set({ status: 'stopped', reason, pid: null, pidStartTime: null });
  }

  /** `again`: this start is a restart, and counts as one. */
  private async spawn(again = false): Promise<void> {
    const restarts = this.state.restarts + (again ? 1 : 0);
    // The process first, the news after: reporting 'starting' (state, MQTT, log) would delay it.
    let child: ChildProcess;
    try {
      child = spawnGroup({ command: this.spec.command, args: this.spec.args, cwd: this.spec.cwd, env: this.spec.env, ipc: this.spec.ipc });
    } catch (e) {
      this.set({ status: 'failed', reason: spawnReason(e as Error, this.spec.cwd), nextStartAt: null, restarts });
      return;
    }
    // A missing command or cwd is reported by an 'error' event, not a throw.
    const spawned = new Promise<Error | null>((resolve) => {
      child.once('spawn', () => resolve(null));
      child.once('error', (e) => resolve(e));
    });
    this.set({ status: 'starting', reason: null, nextStartAt: null, restarts });
    const failed = await spawned;
    if (failed) {
      this.set({ status: 'failed', reason: spawnReason(failed, this.spec.cwd), pid: null, pidStartTime: null });
      return;
    }
    this.child = child;
    child.stdout!.on('data', (c: Buffer) => this.hooks.onOutput('stdout', c));
    child.stderr!.on('data', (c: Buffer) => this.hooks.onOutput('stderr', c));
    if (this.spec.ipc) {
      child.on('message', (m: unknown) => this.hooks.onMessage?.(m));
      // A channel the program closes, or a broken one, is its business: never the hub's crash.
      child.on('error', () => undefined);
    }
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => {
      this.onExit(child, code, signal);
      resolve();
    }));
    this.hooks.onSpawn?.(child.pid!);
    this.set({ status: 'running', pid: child.pid!, pidStartTime: startTimeOf(child.pid!), startedAt: Date.now() });
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return;
    this.child = null;
    const ranMs = Date.now() - (this.state.startedAt ?? Date.now());
    this.state.lastExitCode = code;
    this.state.lastSignal = signal;
    if (this.stopping) return;
    // What the program left behind in its group goes with it: no orphans, no duplicates later.
    // Before any new spawn: once the group is empty its id could be a new process's.
    signalGroup(child.pid!, 'SIGKILL');
    const failed = code !== 0 || signal !== null;
    const delay = this.restartDelay(failed, ranMs);
    // No wait asked for: straight back up, without a backoff state in between, and the
    // replacement spawned before anyone hears of the exit.
    if (delay === 0) void this.serial(() => this.spawn(true));
    this.hooks.onExit?.(code, signal);
    if (delay === null) {
      this.set({ status: failed ? 'failed' : 'stopped', reason: failed ? 'exited' : 'completed', pid: null, pidStartTime: null });
    } else if (delay === 'crash_loop') {
      this.set({ status: 'failed', reason: 'crash_loop', pid: null, pidStartTime: null, nextStartAt: null });
    } else if (delay > 0) {
      this.set({ status: 'backoff', reason: failed ? 'crashed' : 'exited', pid: null, pidStartTime: null, nextStartAt: Date.now() + delay });
      this.timer = setTimeout(() => {
        this.timer = null;
        void this.serial(() => this.spawn(true));
      }, delay);
    }
  }

  /** After an exit by itself: the wait before the restart, null for none by policy, or a crash loop. */
  private restartDelay(failed: boolean, ranMs: number): number | null | 'crash_loop' {
    const { restart } = this.spec;
    if (!(restart.policy === 'always' || (restart.policy === 'on-failure' && failed))) return null;
    const now = Date.now();
    this.pruneWindow(now);
    this.quickFailures = ranMs >= restart.min_uptime_s * 1000 ? 0 : this.quickFailures + 1;
    // A crash loop: max_restarts within window_s, or (since backoff spaces restarts out) as many
    // runs in a row that each died before min_uptime_s, as PM2 counts unstable restarts.
    if (this.recentRestarts.length >= restart.max_restarts || this.quickFailures > restart.max_restarts) return 'crash_loop';
    this.recentRestarts.push(now);
    return restart.backoff ? Math.min(restart.delay_ms * 2 ** Math.max(0, this.quickFailures - 1), BACKOFF_MAX_MS) : restart.delay_ms;
  }

  private pruneWindow(now: number): void {
    const from = now - this.spec.restart.window_s * 1000;
    this.recentRestarts = this.recentRestarts.filter((t) => t >= from);
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private set(patch: Partial<ProgramState>): void {
    this.state = { ...this.state, ...patch };
    this.hooks.onState(this.snapshot);
  }
}
