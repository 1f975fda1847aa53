/**
 * A program run to its end: never through a shell, in a process group of its own, so that a cancel
 * or a timeout stops everything it started. Its stdout and stderr become the job's output, and a
 * stdout line `::progress N` (0-100) becomes the job's progress.
 */
import { statSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { Type } from '@sinclair/typebox';
import { childEnv, spawnGroup, stopGroup } from '../../supervisor/process-group.js';
import { groupMembers } from '../../supervisor/procfs.js';
import type { ActionOutcome, ActionType } from './types.js';
import { stopReason } from './stop-reason.js';

export const CommandAction = Type.Object(
  {
    type: Type.Literal('command'),
    command: Type.String({ minLength: 1, maxLength: 4096, description: 'the program; never run through a shell' }),
    args: Type.Optional(Type.Array(Type.String({ maxLength: 65536 }), { maxItems: 1000, description: 'each reaches the program as it is' })),
    cwd: Type.Optional(Type.String({ minLength: 1 })),
    env: Type.Optional(
      Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }), Type.String(), {
        additionalProperties: false, // TypeBox leaves names that miss the pattern allowed
        description: "over the hub's own environment",
      }),
    ),
  },
  { additionalProperties: false },
);

/** Seconds a cancelled program has between SIGTERM and SIGKILL. */
const STOP_TIMEOUT_S = 5;
/** How long the output pipes may stay open after the program and its group are gone. */
const DRAIN_MS = 2000;
/** Longest stdout line looked at for `::progress`. */
const MAX_LINE = 1024;
const PROGRESS = /^::progress[ \t]+(\d+(?:\.\d+)?|\.\d+)[ \t]*\r?$/;

/** Why cwd cannot be used, or null. (Node reports a missing cwd as a missing command.) */
function cwdProblem(cwd: string): string | null {
  try {
    return statSync(cwd).isDirectory() ? null : `${cwd} is not a directory`;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? `no directory ${cwd}` : `cannot use directory ${cwd} (${code ?? String(e)})`;
  }
}

function spawnProblem(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such command';
  if (code === 'EACCES') return 'permission denied';
  if (code === 'ENOEXEC') return 'not an executable';
  return e instanceof Error ? e.message : String(e);
}

/** Splits stdout into lines and reports each `::progress N`. */
class ProgressLines {
  private readonly decoder = new StringDecoder('utf8');
  private line = '';
  private overlong = false;

  constructor(private readonly report: (percent: number) => void) {}

  feed(chunk: Buffer): void {
    const parts = this.decoder.write(chunk).split('\n');
    const last = parts.pop() ?? '';
    for (const part of parts) {
      if (!this.overlong) this.take(this.line + part);
      this.line = '';
      this.overlong = false;
    }
    if (this.overlong) return;
    this.line += last;
    if (this.line.length > MAX_LINE) {
      this.line = '';
      this.overlong = true;
    }
  }

  /** The last line, when the output ends without a newline. */
  end(): void {
    const rest = this.line + this.decoder.end();
    if (!this.overlong && rest !== '') this.take(rest);
    this.line = '';
  }

  private take(line: string): void {
    const m = PROGRESS.exec(line);
    if (!m) return;
    const n = Number(m[1]);
    if (Number.isFinite(n) && n >= 0 && n <= 100) this.report(n);
  }
}

export const command: ActionType<typeof CommandAction> = {
  type: 'command',
  schema: CommandAction,

  async run(a, job): Promise<ActionOutcome> {
    const cannot = (why: string): ActionOutcome => ({ ok: false, error: `cannot start ${a.command}: ${why}` });
    if (job.signal.aborted) return { ok: false, error: stopReason(job.signal) };
    if (a.cwd !== undefined) {
      const why = cwdProblem(a.cwd);
      if (why) return cannot(why);
    }

    let child: ReturnType<typeof spawnGroup>;
    try {
      child = spawnGroup({ command: a.command, args: a.args ?? [], cwd: a.cwd, env: childEnv(a.env) });
    } catch (e) {
      return cannot(spawnProblem(e));
    }
    const pid = child.pid;
    if (pid === undefined) {
      // A missing command (or one we may not run) is reported by an 'error' event.
      const e = await new Promise<unknown>((resolve) => child.once('error', resolve));
      return cannot(spawnProblem(e));
    }
    child.on('error', () => undefined); // a failed kill: stopGroup does the killing
    job.process(pid);

    const progress = new ProgressLines((n) => job.progress(n));
    child.stdout?.on('data', (chunk: Buffer) => {
      job.output('stdout', chunk);
      progress.feed(chunk);
    });
    child.stderr?.on('data', (chunk: Buffer) => job.output('stderr', chunk));
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );

    let stopping: Promise<unknown> | undefined;
    const onAbort = (): void => {
      stopping ??= stopGroup(pid, 'SIGTERM', STOP_TIMEOUT_S).catch(() => undefined);
    };
    job.signal.addEventListener('abort', onAbort, { once: true });
    if (job.signal.aborted) onAbort();

    const { code, signal } = await exited;
    job.signal.removeEventListener('abort', onAbort);
    // Whatever it left running in its group goes with it: a job is over when its program is.
    if (stopping) await stopping;
    else if (groupMembers(pid).length > 0) await stopGroup(pid, 'SIGTERM', STOP_TIMEOUT_S).catch(() => undefined);
    // The pipes close once every writer is gone; one that escaped the group does not hold the job.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closed, new Promise<void>((resolve) => (timer = setTimeout(resolve, DRAIN_MS)))]);
    clearTimeout(timer);
    child.stdout?.destroy();
    child.stderr?.destroy();
    progress.end();
    job.process(null);

    if (signal) return { ok: false, exit_code: null, error: `killed by ${signal}` };
    if (code === 0 && !job.signal.aborted) return { ok: true, exit_code: 0 };
    if (code === 0) return { ok: false, exit_code: 0, error: `${stopReason(job.signal)} (exited with code 0)` };
    return { ok: false, exit_code: code, error: `exited with code ${String(code)}` };
  },
};
