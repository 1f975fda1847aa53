/** A private Mosquitto for one test: its own ports, config and lifetime. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { onCleanup } from './cleanup.js';
import { freePort } from './ports.js';
import { tempDir } from './tmp.js';
import { until } from './wait.js';

export interface MosquittoOptions {
  /** Retained messages and sessions saved at stop and read again at start. */
  persistence?: boolean;
  /** Users and their passwords (a password file made by mosquitto_passwd): anonymous clients are refused. */
  users?: Record<string, string>;
  /** Also an MQTT over TLS listener with this certificate chain and key (PEM files). */
  tls?: { certFile: string; keyFile: string };
  /** Also an MQTT over WebSockets listener. */
  websockets?: boolean;
}

export interface Mosquitto {
  /** The plain MQTT listener (always there: Mosquitto 2.0 will not start with WebSockets alone). */
  url: string;
  port: number;
  /** `mqtts://localhost:<port>` with `tls`. */
  tlsUrl?: string;
  /** `ws://127.0.0.1:<port>` with `websockets`. */
  wsUrl?: string;
  /** What it logged (connections, refusals), for tests that check what a client sent. */
  log(): string;
  stop(): Promise<void>;
  /** Starts it again on the same ports (retained messages survive only with `persistence`). */
  start(): Promise<void>;
}

const accepts = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });

export async function startMosquitto(opts: MosquittoOptions = {}): Promise<Mosquitto> {
  const dir = tempDir('hearth-mosquitto-');
  const port = await freePort();
  const tlsPort = opts.tls ? await freePort() : undefined;
  const wsPort = opts.websockets ? await freePort() : undefined;
  const lines = [`listener ${port} 127.0.0.1`];
  if (opts.tls) lines.push(`listener ${tlsPort} 127.0.0.1`, `certfile ${opts.tls.certFile}`, `keyfile ${opts.tls.keyFile}`);
  if (opts.websockets) lines.push(`listener ${wsPort} 127.0.0.1`, 'protocol websockets');
  if (opts.users) {
    const file = join(dir, 'passwords');
    writeFileSync(file, '');
    for (const [user, password] of Object.entries(opts.users)) execFileSync('mosquitto_passwd', ['-b', file, user, password]);
    lines.push('allow_anonymous false', `password_file ${file}`);
  } else {
    lines.push('allow_anonymous true');
  }
  lines.push(opts.persistence ? `persistence true\npersistence_location ${dir}/` : 'persistence false');
  lines.push('log_dest stderr', 'log_type error', 'log_type warning', 'log_type notice', 'log_type information', 'connection_messages true');
  if (process.getuid?.() === 0) lines.push('user root');
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, lines.join('\n') + '\n');
  let proc: ChildProcess | null = null;
  let log = '';
  const m: Mosquitto = {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    // The certificate names localhost: a client checks the name it connected to.
    ...(tlsPort ? { tlsUrl: `mqtts://localhost:${tlsPort}` } : {}),
    ...(wsPort ? { wsUrl: `ws://127.0.0.1:${wsPort}` } : {}),
    log: () => log,
    async start() {
      const p = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
      p.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
      proc = p;
      const died = new Promise<never>((_, reject) => p.once('exit', (code) => reject(new Error(`mosquitto exited with ${code}: ${log.slice(-1000)}`))));
      const ports = [port, tlsPort, wsPort].filter((n): n is number => n !== undefined);
      const ready = until('mosquitto to accept connections', async () => (await Promise.all(ports.map(accepts))).every(Boolean), (ok) => ok);
      await Promise.race([ready, died]);
    },
    async stop() {
      const p = proc;
      proc = null;
      if (!p || p.exitCode !== null) return;
      const gone = new Promise((resolve) => p.once('exit', resolve));
      p.kill('SIGTERM');
      await gone;
    },
  };
  onCleanup(() => m.stop());
  await m.start();
  return m;
}

/** A CA and a server certificate it signed for localhost and 127.0.0.1 (PEM files in a temp dir). */
export function makeCertificates(): { caFile: string; certFile: string; keyFile: string } {
  const dir = tempDir('hearth-certs-');
  const f = (name: string): string => join(dir, name);
  const ssl = (...args: string[]): void => void execFileSync('openssl', args, { stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=Hearth test CA');
  ssl('req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=localhost');
  writeFileSync(f('server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  ssl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.pem'), '-days', '2', '-extfile', f('server.ext'));
  return { caFile: f('ca.pem'), certFile: f('server.pem'), keyFile: f('server.key') };
}
