/**
 * When a reload's new process counts as ready: its ready signal (a line of stdout containing a
 * text, or `process.send('ready')` over IPC, PM2's wait_ready), else its health check's first
 * pass, else having stayed up for a moment; and with `port: true`, listening on its PORT itself.
 * It is not ready when it exits first or time runs out.
 */
import { HealthCheck, type HealthCheckDeps } from '../supervisor/health-checks.js';
import type { ProgramState } from '../supervisor/program.js';
import type { HealthCheckSpec } from '../supervisor/spec.js';
import type { ReadySignal } from './schema.js';

export const READY_TIMEOUT_S = 30;
/** How often a reload asks the health check of a new process. */
const READY_CHECK_INTERVAL_S = 0.2;
/** With neither a signal nor a check: up this long without exiting is ready. */
const GRACE_MS = 1000;

export interface Readiness {
  ready: boolean;
  detail: string;
}

/** What the new process does, as its Program reports it. */
export interface ReadyEvent {
  output?: Buffer;
  message?: unknown;
  state?: ProgramState;
}

export interface ReadyWatch {
  signal: ReadySignal | undefined;
  check: HealthCheckSpec | undefined;
  timeoutS: number;
  checkDeps: HealthCheckDeps;
  /**
   * The instance's PORT (port: true): the new process must listen on it itself, which a check
   * cannot tell (the old process answers on the same port), and `listens` says.
   */
  port?: number;
  listens: (pgid: number, port: number) => Promise<boolean>;
}

export class ReadyWait {
  readonly result: Promise<Readiness>;
  private settle!: (r: Readiness) => void;
  private done = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private check: HealthCheck | null = null;
  private lastCheck = '';
  /** The tail of stdout, so a text split between two chunks is still found. */
  private tail = '';
  /** Its own signal, check or time up has come; with a port, it must also listen (see ready()). */
  private passed: string | null = null;
  private listening = false;

  constructor(private readonly w: ReadyWatch) {
    this.result = new Promise((resolve) => (this.settle = resolve));
    this.timers.push(setTimeout(() => this.finish(false, `not ready within ${w.timeoutS} s (${this.awaited()})${this.lastCheck ? `: ${this.lastCheck}` : ''}`), w.timeoutS * 1000));
  }

  feed(e: ReadyEvent): void {
    if (this.done) return;
    const signal = this.w.signal;
    if (e.state) this.onState(e.state);
    if (e.output && signal?.type === 'stdout') {
      const text = this.tail + e.output.toString('utf8');
      if (text.includes(signal.contains)) return this.pass(`printed "${signal.contains}"`);
      this.tail = text.slice(-signal.contains.length);
    }
    if (e.message !== undefined && signal?.type === 'ipc' && e.message === 'ready') this.pass('sent ready');
  }

  private onState(s: ProgramState): void {
    if (s.status === 'running') {
      if (this.w.port !== undefined && s.pid !== null) this.watchListen(s.pid, this.w.port);
      else this.listening = true;
      if (this.w.signal) return;
      if (this.w.check) return this.startCheck();
      this.timers.push(setTimeout(() => this.pass(`up for ${GRACE_MS / 1000} s`), GRACE_MS));
    } else if (s.status !== 'starting') {
      const how = s.lastSignal ? `signal ${s.lastSignal}` : `code ${s.lastExitCode}`;
      this.finish(false, s.reason?.startsWith('spawn_error') ? s.reason : `the new process exited (${how}) before it was ready`);
    }
  }

  private startCheck(): void {
    // Asked often: a reload should not wait out the check's interval to learn the process is ready.
    this.check = new HealthCheck({ ...this.w.check!, interval_s: READY_CHECK_INTERVAL_S }, this.w.checkDeps);
    this.check.start((r) => {
      if (r.ok) this.pass(`health check passed: ${r.detail}`);
      else this.lastCheck = r.detail;
    });
  }

  /** Looks every READY_CHECK_INTERVAL_S whether the new process group listens on the port. */
  private watchListen(pgid: number, port: number): void {
    const look = async (): Promise<void> => {
      if (this.done) return;
      if (await this.w.listens(pgid, port).catch(() => false)) {
        this.listening = true;
        this.ready();
      } else if (!this.done) this.timers.push(setTimeout(() => void look(), READY_CHECK_INTERVAL_S * 1000));
    };
    void look();
  }

  private pass(detail: string): void {
    this.passed = detail;
    this.ready();
  }

  private ready(): void {
    if (this.passed !== null && this.listening) this.finish(true, this.w.port === undefined ? this.passed : `${this.passed}, listening on ${this.w.port}`);
  }

  private awaited(): string {
    if (this.passed !== null && !this.listening) return `it did not listen on its PORT ${this.w.port}`;
    const s = this.w.signal;
    if (s?.type === 'stdout') return `no line with "${s.contains}"`;
    if (s?.type === 'ipc') return "no process.send('ready')";
    return this.w.check ? 'no passing health check' : 'it did not stay up';
  }

  private finish(ready: boolean, detail: string): void {
    if (this.done) return;
    this.done = true;
    for (const t of this.timers) clearTimeout(t);
    this.check?.stop();
    this.settle({ ready, detail });
  }
}
