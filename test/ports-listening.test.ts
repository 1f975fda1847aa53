/**
 * groupListensOn against real process groups: which group holds a listening socket on a port,
 * even when two of them listen on the same port (SO_REUSEPORT, as during a reload).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { groupListensOn } from '../src/hub/ports/listening.js';
import { onCleanup } from './helpers/cleanup.js';
import { freePort } from './helpers/ports.js';

/**
 * A socket with SO_REUSEPORT that binds and listens on $HOST:$PORT when told (a line on stdin), and
 * exits at the next line. It says 'ready' before and 'listening' after.
 */
const LISTENER = `
import os, socket, sys
host = os.environ['HOST']
s = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
print('ready', flush=True)
sys.stdin.readline()
s.bind((host, int(os.environ['PORT'])))
s.listen()
print('listening', flush=True)
sys.stdin.readline()
`;

interface Group {
  pgid: number;
  /** Tells it to listen, and waits until it says it does. */
  listen(): Promise<void>;
  /** Lets it exit (the next line), and waits until it has. */
  end(): Promise<void>;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** The group of a detached child, killed and reaped when the file ends. */
function groupOf(child: ChildProcess): number {
  const pgid = child.pid;
  assert.ok(pgid, 'started');
  onCleanup(async () => {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // gone
    }
    await exited(child);
  });
  return pgid;
}

/** A process group of its own: the listener, under a shell when `nested` (so it is not the leader). */
async function listenerGroup(host: string, port: number, nested: boolean): Promise<Group> {
  // '; :' keeps the shell from exec'ing python: python stays its child.
  const [cmd, args] = nested ? ['sh', ['-c', '/usr/bin/python3 -c "$0"; :', LISTENER]] : ['/usr/bin/python3', ['-c', LISTENER]];
  const child = spawn(cmd as string, args as string[], { detached: true, stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, HOST: host, PORT: String(port) } });
  const pgid = groupOf(child);
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async (expected: string): Promise<void> => {
    const { value, done } = await lines.next();
    assert.equal(done ? 'the end of its output' : value, expected);
  };
  await next('ready');
  return {
    pgid,
    listen: async () => {
      child.stdin!.write('listen\n');
      await next('listening');
    },
    end: async () => {
      child.stdin!.end('exit\n');
      await exited(child);
    },
  };
}

describe('groupListensOn', () => {
  it("tells each group's own listening socket on a shared port, before, during and after", async () => {
    const port = await freePort();
    const other = await freePort();
    const old = await listenerGroup('127.0.0.1', port, true);
    const fresh = await listenerGroup('127.0.0.1', port, false);
    const idle = groupOf(spawn('sleep', ['30'], { detached: true, stdio: 'ignore' }));
    const listens = async (): Promise<boolean[]> => Promise.all([old, fresh].map((g) => groupListensOn(g.pgid, port)).concat(groupListensOn(idle, port)));

    assert.deepEqual(await listens(), [false, false, false], 'sockets made, none listening');

    await old.listen();
    assert.deepEqual(await listens(), [true, false, false], 'the old one (a child of its group leader) listens; the new one only has a socket');
    assert.equal(await groupListensOn(old.pgid, other), false, 'not on another port');

    await fresh.listen();
    assert.deepEqual(await listens(), [true, true, false], 'both on the same port, each on its own socket');

    await old.end();
    assert.deepEqual(await listens(), [false, true, false], 'the old one gone, the new one still there');

    await fresh.end();
    assert.deepEqual(await listens(), [false, false, false]);
    assert.equal(await groupListensOn(2 ** 22 + 12345, port), false, 'no such group');
  });

  it('sees a listener on IPv6', async () => {
    const port = await freePort();
    const v6 = await listenerGroup('::1', port, false);
    assert.equal(await groupListensOn(v6.pgid, port), false);
    await v6.listen();
    assert.equal(await groupListensOn(v6.pgid, port), true);
    await v6.end();
    assert.equal(await groupListensOn(v6.pgid, port), false);
  });
});
