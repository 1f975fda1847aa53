/** A private Mosquitto for one test: its own port, config and lifetime. */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { onCleanup } from './cleanup.js';
import { freePort } from './ports.js';
import { tempDir } from './tmp.js';
import { until } from './wait.js';

export interface Mosquitto {
  url: string;
  port: number;
  stop(): Promise<void>;
  /** Starts it again on the same port (retained messages are gone: no persistence). */
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

export async function startMosquitto(): Promise<Mosquitto> {
  const dir = tempDir('hearth-mosquitto-');
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', ...(process.getuid?.() === 0 ? ['user root'] : [])].join('\n') + '\n',
  );
  let proc: ChildProcess | null = null;
  const m: Mosquitto = {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    async start() {
      const p = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
      proc = p;
      const died = new Promise<never>((_, reject) => p.once('exit', (code) => reject(new Error(`mosquitto exited with ${code}`))));
      await Promise.race([until('mosquitto to accept connections', () => accepts(port), 10_000), died]);
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
