/**
 * The TCP ports something on this host listens on, from /proc/net/tcp and /proc/net/tcp6: every
 * local address (0.0.0.0, 127.0.0.1, ::…) in this network namespace, whoever owns the socket.
 * Reading is cheaper and truer than trying to bind each candidate: a bind test on 0.0.0.0 misses
 * a program listening on 127.0.0.1 only, and binding opens sockets the hub must then close.
 * With the sockets' inodes, the same tables also say whether one process group listens on a port.
 */
import { readFile, readdir, readlink } from 'node:fs/promises';
import { goneOrHidden, groupMembers } from '../supervisor/procfs.js';

const TABLES = ['/proc/net/tcp', '/proc/net/tcp6'];
/** st column: TCP_LISTEN in the kernel's enum. */
const LISTEN = '0A';

interface ListeningSocket {
  port: number;
  /** The socket's inode: what /proc/<pid>/fd/<n> links to as socket:[inode]. */
  inode: string;
}

/** Listening sockets in one table's text: "sl local_address rem_address st … uid timeout inode …", the port in hex after the ':'. */
function parseListeningSockets(text: string): ListeningSocket[] {
  const sockets: ListeningSocket[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[3] !== LISTEN) continue;
    const port = parseInt(f[1]?.split(':')[1] ?? '', 16);
    const inode = f[9] ?? '';
    if (Number.isInteger(port) && /^\d+$/.test(inode)) sockets.push({ port, inode });
  }
  return sockets;
}

/** Listening ports in one table's text. */
export function parseListening(text: string): number[] {
  return parseListeningSockets(text).map((s) => s.port);
}

/** One table's text; undefined for tcp6 on a kernel without IPv6. */
async function readTable(table: string): Promise<string | undefined> {
  try {
    return await readFile(table, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

export async function listeningPorts(): Promise<Set<number>> {
  const ports = new Set<number>();
  for (const table of TABLES) {
    for (const port of parseListening((await readTable(table)) ?? '')) ports.add(port);
  }
  return ports;
}

/** The inodes of the sockets the processes hold open (their fds linking to socket:[inode]). */
async function socketInodes(pids: number[]): Promise<Set<string>> {
  const inodes = new Set<string>();
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = await readdir(`/proc/${pid}/fd`);
    } catch (e) {
      if (goneOrHidden(e)) continue;
      throw e;
    }
    for (const fd of fds) {
      let link: string;
      try {
        link = await readlink(`/proc/${pid}/fd/${fd}`);
      } catch (e) {
        // The fd was closed since the listing, or the process is gone.
        if (goneOrHidden(e)) continue;
        throw e;
      }
      if (link.startsWith('socket:[')) inodes.add(link.slice(8, -1));
    }
  }
  return inodes;
}

/**
 * Whether any process of the group `pgid` has a TCP socket in LISTEN state on `port` (IPv4 or
 * IPv6), from /proc/net/tcp{,6} (the socket inode) and /proc/<pid>/fd/* (socket:[inode]) of the
 * group's members. With SO_REUSEPORT an old and a new process listen on one port, each on a socket
 * of its own: a connection cannot tell which one answers, the inodes can. A socket inherited from
 * another group (a passed fd) counts for both. Members the hub may not read are skipped.
 * The group's fds are read first: a table read costs the kernel a walk of its whole socket hash
 * (milliseconds), which a group holding no socket at all does without.
 */
export async function groupListensOn(pgid: number, port: number): Promise<boolean> {
  const inodes = await socketInodes(groupMembers(pgid));
  if (inodes.size === 0) return false;
  for (const table of TABLES) {
    const text = await readTable(table);
    if (text !== undefined && parseListeningSockets(text).some((s) => s.port === port && inodes.has(s.inode))) return true;
  }
  return false;
}
