/**
 * The TCP ports something on this host listens on, from /proc/net/tcp and /proc/net/tcp6: every
 * local address (0.0.0.0, 127.0.0.1, ::…) in this network namespace, whoever owns the socket.
 * Reading is cheaper and truer than trying to bind each candidate: a bind test on 0.0.0.0 misses
 * a program listening on 127.0.0.1 only, and binding opens sockets the hub must then close.
 */
import { readFile } from 'node:fs/promises';

const TABLES = ['/proc/net/tcp', '/proc/net/tcp6'];
/** st column: TCP_LISTEN in the kernel's enum. */
const LISTEN = '0A';

/** Listening ports in one table's text: "sl local_address rem_address st …", the port in hex after the ':'. */
export function parseListening(text: string): number[] {
  const ports: number[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[3] !== LISTEN) continue;
    const port = parseInt(f[1]?.split(':')[1] ?? '', 16);
    if (Number.isInteger(port)) ports.push(port);
  }
  return ports;
}

export async function listeningPorts(): Promise<Set<number>> {
  const ports = new Set<number>();
  for (const table of TABLES) {
    let text: string;
    try {
      text = await readFile(table, 'utf8');
    } catch (e) {
      // A kernel without IPv6 has no tcp6.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    for (const port of parseListening(text)) ports.add(port);
  }
  return ports;
}
