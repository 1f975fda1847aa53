/** A line device on TCP for tests: a greeting, an answer per line, every connection it took. */
import { createServer, type Socket } from 'node:net';
import { onCleanup } from './cleanup.js';

export interface LineServer {
  port: number;
  /** Every connection it took, in order (closed ones too). */
  sockets: Socket[];
  /** The connections still open. */
  open: Set<Socket>;
  stop(): Promise<void>;
}

/**
 * Listens on 127.0.0.1: sends `greeting` to each new connection, and for each line received
 * (trimmed) writes what `answer` returns, if anything. Stopped when the file ends at the latest.
 */
export async function startLineServer(answer: (line: string) => string | undefined, greeting?: string): Promise<LineServer> {
  const sockets: Socket[] = [];
  const open = new Set<Socket>();
  const server = createServer((s) => {
    sockets.push(s);
    open.add(s);
    s.on('close', () => open.delete(s));
    s.on('error', () => undefined);
    if (greeting !== undefined) s.write(greeting);
    let buf = '';
    s.on('data', (c) => {
      buf += c.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const reply = answer(buf.slice(0, i).trim());
        buf = buf.slice(i + 1);
        if (reply !== undefined) s.write(reply);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  let stopped: Promise<void> | null = null;
  const stop = (): Promise<void> =>
    (stopped ??= new Promise<void>((r) => {
      open.forEach((s) => s.destroy());
      server.close(() => r());
    }));
  onCleanup(stop);
  return { port: (server.address() as { port: number }).port, sockets, open, stop };
}
