/**
 * An agent's health check, running on its own timer: http, tcp, command, an MQTT heartbeat, or a
 * Home Assistant entity.
 *
 * It reports one verdict per check; counting consecutive failures (and restarting) is the caller's.
 * The first check runs after min(interval_s, 2 s), so a fresh agent gets a verdict early; an MQTT
 * heartbeat gets its first verdict after interval_s (a heartbeat needs that long to be due). A tick
 * that comes while a check still runs is skipped: checks never overlap.
 */
import { spawn } from 'node:child_process';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import { connect } from 'node:net';
import type { HealthCheckSpec } from './spec.js';
import type { EntityState, HaAccess } from '../ha-access.js';
import type { MqttAccess } from '../mqtt-access.js';
import { childEnv } from './process-group.js';

export interface CheckResult {
  ok: boolean;
  detail: string;
  /** When the verdict was reached (ms since epoch). */
  at: number;
}

export interface HealthCheckDeps {
  mqtt: MqttAccess;
  ha: HaAccess;
  /** Working directory of a command check (the agent's). */
  cwd?: string;
  /** Extra environment of a command check (the agent's), over the hub's. */
  env?: Record<string, string>;
  /** The instance's PORT (agent `port: true`): `${PORT}` in an http URL, the port of a tcp check that names none. */
  port?: number;
}

export const CHECK_DEFAULTS = { interval_s: 30, timeout_s: 5 } as const;
/** The first check comes at most this long after start. */
const FIRST_CHECK_MAX_MS = 2000;
/** How much of a command's output a verdict quotes. */
const OUTPUT_KEEP = 2000;

type Outcome = Omit<CheckResult, 'at'>;

const seconds = (ms: number): string => `${Number((ms / 1000).toFixed(1))} s`;

function errorText(e: unknown): string {
  const err = e as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  return err?.code ?? err?.cause?.code ?? err?.message ?? String(e);
}

export class HealthCheck {
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  /** The running session; undefined when stopped. */
  private session: Session | undefined;

  constructor(
    private readonly spec: HealthCheckSpec,
    private readonly deps: HealthCheckDeps,
  ) {
    this.intervalMs = (spec.interval_s ?? CHECK_DEFAULTS.interval_s) * 1000;
    this.timeoutMs = (spec.timeout_s ?? CHECK_DEFAULTS.timeout_s) * 1000;
  }

  get running(): boolean {
    return this.session !== undefined;
  }

  /** Starts checking; onResult gets every verdict until stop(). Starting a running check restarts it. */
  start(onResult: (r: CheckResult) => void): void {
    this.stop();
    const s: Session = { stopped: false, busy: false, timers: [], inflight: undefined, unsubscribe: undefined };
    this.session = s;

    let tick: () => void;
    let firstMs: number;
    if (this.spec.type === 'mqtt') {
      const heartbeat = this.heartbeat(this.spec.topic, s);
      tick = () => {
        if (s.stopped) return;
        const r = heartbeat();
        if (r) onResult({ ...r, at: Date.now() });
      };
      firstMs = this.intervalMs;
    } else if (this.spec.type === 'ha_entity') {
      const entity = this.entity(this.spec.entity_id, this.spec.healthy_states ?? ['on'], s);
      tick = () => {
        if (s.stopped) return;
        const r = entity();
        if (r) onResult({ ...r, at: Date.now() });
      };
      firstMs = Math.min(this.intervalMs, FIRST_CHECK_MAX_MS);
    } else {
      tick = () => void this.runOnce(s, onResult);
      firstMs = Math.min(this.intervalMs, FIRST_CHECK_MAX_MS);
    }
    s.timers.push(
      setTimeout(() => {
        if (s.stopped) return;
        s.timers.push(setInterval(tick, this.intervalMs));
        tick();
      }, firstMs),
    );
  }

  /** Cancels the timers and any check in flight (a command's process group is killed); unsubscribes. */
  stop(): void {
    const s = this.session;
    if (!s) return;
    this.session = undefined;
    s.stopped = true;
    for (const t of s.timers) clearTimeout(t);
    s.inflight?.abort();
    s.unsubscribe?.();
  }

  private async runOnce(s: Session, onResult: (r: CheckResult) => void): Promise<void> {
    if (s.stopped || s.busy) return; // the previous check still runs: skip this tick
    s.busy = true;
    const ac = new AbortController();
    s.inflight = ac;
    let r: Outcome;
    try {
      r = await this.check(ac.signal);
    } catch (e) {
      r = { ok: false, detail: `check failed: ${errorText(e)}` };
    } finally {
      s.busy = false;
      if (s.inflight === ac) s.inflight = undefined;
    }
    if (s.stopped || ac.signal.aborted) return;
    onResult({ ...r, at: Date.now() });
  }

  private check(signal: AbortSignal): Promise<Outcome> {
    const spec = this.spec;
    switch (spec.type) {
      case 'http':
        return this.http(this.deps.port === undefined ? spec.url : spec.url.replaceAll('${PORT}', String(this.deps.port)), spec.expect_status, signal);
      case 'tcp': {
        const port = spec.port ?? this.deps.port;
        if (port === undefined) return Promise.resolve({ ok: false, detail: 'a tcp check needs a port (or the agent port: true)' });
        return this.tcp(spec.host ?? '127.0.0.1', port, signal);
      }
      case 'command':
        return this.command(spec.command, spec.args ?? [], signal);
      case 'mqtt':
      case 'ha_entity':
        throw new Error(`a ${spec.type} check is not run, it is listened to`);
    }
  }

  /** GET url; ok on expect_status, or on any 2xx or 3xx. Redirects are not followed. */
  private http(url: string, expect: number | undefined, stop: AbortSignal): Promise<Outcome> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const signal = AbortSignal.any([stop, timeout]);
    const get = url.startsWith('https:') ? httpsGet : httpGet;
    return new Promise<Outcome>((resolve) => {
      let settled = false;
      const done = (r: Outcome): void => {
        if (settled) return;
        settled = true;
        resolve(r);
      };
      const fail = (e: unknown): void => {
        if (timeout.aborted) done({ ok: false, detail: `no answer from ${url} within ${seconds(this.timeoutMs)}` });
        else if (stop.aborted) done({ ok: false, detail: 'stopped' });
        else done({ ok: false, detail: `${url}: ${errorText(e)}` });
      };
      try {
        // agent: false: a connection of its own each time, closed after (a check is about connecting too).
        const req = get(url, { signal, agent: false, headers: { 'user-agent': 'hearth-health-check' } }, (res: IncomingMessage) => {
          const status = res.statusCode ?? 0;
          res.resume(); // the body is not needed
          res.on('error', () => undefined);
          const ok = expect !== undefined ? status === expect : status >= 200 && status < 400;
          const wanted = expect !== undefined ? String(expect) : '2xx or 3xx';
          done({ ok, detail: ok ? `HTTP ${status}` : `HTTP ${status} (expected ${wanted})` });
          req.destroy();
        });
        req.on('error', fail);
      } catch (e) {
        fail(e);
      }
    });
  }

  /** A TCP connection to host:port within the timeout. */
  private tcp(host: string, port: number, stop: AbortSignal): Promise<Outcome> {
    const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    return new Promise<Outcome>((resolve) => {
      const sock = connect({ host, port });
      let settled = false;
      const done = (r: Outcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        stop.removeEventListener('abort', onAbort);
        sock.destroy();
        resolve(r);
      };
      const onAbort = (): void => done({ ok: false, detail: 'stopped' });
      const timer = setTimeout(() => done({ ok: false, detail: `no connection to ${where} within ${seconds(this.timeoutMs)}` }), this.timeoutMs);
      stop.addEventListener('abort', onAbort);
      sock.on('connect', () => done({ ok: true, detail: `connected to ${where}` }));
      sock.on('error', (e) => done({ ok: false, detail: `${where}: ${errorText(e)}` }));
    });
  }

  /**
   * Runs command with args (no shell) in a process group of its own; ok on exit 0. On timeout or stop
   * the whole group is killed; whatever the command left running in its group is killed after it exits.
   */
  private command(command: string, args: string[], stop: AbortSignal): Promise<Outcome> {
    return new Promise<Outcome>((resolve) => {
      let settled = false;
      let verdict: Outcome | undefined; // set when we kill it (timeout, stop)
      let output = '';
      const child = spawn(command, args, {
        cwd: this.deps.cwd,
        // The agent's own environment: the hub's without its HEARTH_ secrets, plus the agent's env.
        env: this.deps.env ?? childEnv(),
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const keep = (chunk: Buffer): void => {
        output = (output + chunk.toString('utf8')).slice(-OUTPUT_KEEP);
      };
      child.stdout?.on('data', keep);
      child.stderr?.on('data', keep);
      const killGroup = (): void => {
        if (child.pid === undefined) return;
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      };
      const done = (r: Outcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        stop.removeEventListener('abort', onAbort);
        resolve(r);
      };
      const onAbort = (): void => {
        verdict ??= { ok: false, detail: 'stopped' };
        killGroup();
      };
      const timer = setTimeout(() => {
        verdict ??= { ok: false, detail: `${command} timed out after ${seconds(this.timeoutMs)} and was killed` };
        killGroup();
      }, this.timeoutMs);
      stop.addEventListener('abort', onAbort);
      if (stop.aborted) onAbort();

      child.on('error', (e) => {
        // Could not start it (ENOENT, EACCES…): there is no process, hence no 'exit'.
        if (child.pid === undefined) done({ ok: false, detail: `${command}: ${errorText(e)}` });
      });
      child.on('exit', (code, signal) => {
        killGroup(); // leftovers in its group
        const finish = (): void => {
          clearTimeout(grace);
          child.stdout?.destroy();
          child.stderr?.destroy();
          if (verdict) return done(verdict);
          const last = output.trim().split('\n').pop()?.trim();
          const said = last ? `: ${last.slice(0, 300)}` : '';
          if (code === 0) return done({ ok: true, detail: `exit 0${said}` });
          done({ ok: false, detail: `${code !== null ? `exit ${code}` : `killed by ${signal}`}${said}` });
        };
        // Its last output may still be in the pipes; a process that left the group may hold them open.
        const grace = setTimeout(finish, 200);
        child.once('close', finish);
      });
    });
  }

  /** The verdict of an MQTT heartbeat check at a tick; undefined for no verdict at this tick. */
  private heartbeat(topic: string, s: Session): () => Outcome | undefined {
    const mqtt = this.deps.mqtt;
    let lastBeat: number | undefined;
    // Whether the next tick must wait: after a time without MQTT, a heartbeat gets one interval to come.
    let warmingUp = false;
    s.unsubscribe = mqtt.subscribe(topic, () => {
      lastBeat = Date.now();
    });
    // A heartbeat sent every interval_s arrives a little more or less than interval_s apart; timeout_s
    // is the grace allowed on top.
    const window = this.intervalMs + this.timeoutMs;
    return () => {
      const now = Date.now();
      if (!mqtt.connected) {
        // The hub's own MQTT connection is down: that says nothing about the agent.
        warmingUp = true;
        return undefined;
      }
      if (lastBeat !== undefined && now - lastBeat <= window) {
        warmingUp = false;
        return { ok: true, detail: `heartbeat on ${topic} ${seconds(now - lastBeat)} ago` };
      }
      if (warmingUp) {
        warmingUp = false;
        return undefined;
      }
      return {
        ok: false,
        detail: lastBeat === undefined ? `no heartbeat on ${topic} yet` : `no heartbeat on ${topic} for ${seconds(now - lastBeat)}`,
      };
    };
  }

  /** The verdict of a Home Assistant entity check at a tick: the entity's state, followed as it changes. */
  private entity(entityId: string, healthy: string[], s: Session): () => Outcome | undefined {
    const ha = this.deps.ha;
    let state: EntityState | null | undefined;
    let refusal: string | undefined;
    s.unsubscribe = ha.watchEntity(
      entityId,
      (now) => {
        state = now;
        refusal = undefined;
      },
      (why) => (refusal = why),
    );
    return () => {
      if (refusal !== undefined) return { ok: false, detail: `cannot follow ${entityId}: ${refusal}` };
      // Home Assistant away, or its answer not yet in: that says nothing about the program.
      if (!ha.connected || state === undefined) return undefined;
      if (state === null) return { ok: false, detail: `${entityId} does not exist in Home Assistant` };
      const ok = healthy.includes(state.state);
      return { ok, detail: ok ? `${entityId} is ${state.state}` : `${entityId} is ${state.state} (healthy: ${healthy.join(', ')})` };
    };
  }
}

interface Session {
  stopped: boolean;
  busy: boolean;
  timers: NodeJS.Timeout[];
  inflight: AbortController | undefined;
  unsubscribe: (() => void) | undefined;
}
