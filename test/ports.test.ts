/**
 * The port allocator on a real database: SQLite here, PostgreSQL with HEARTH_TEST_DB=postgres
 * (test/on-postgres/ports.test.ts). Real listening sockets, real restarts of the database.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { DataSource } from 'typeorm';
import { ConfigError, loadConfig } from '../src/hub/config/load.js';
import type { PortRange } from '../src/hub/config/settings.js';
import { openDatabase } from '../src/hub/db/data-source.js';
import { HTTP_STATUS, HubError } from '../src/hub/errors.js';
import { PortAllocator, type PortOwner } from '../src/hub/ports/allocator.js';
import { listeningPorts } from '../src/hub/ports/listening.js';
import { onCleanup } from './helpers/cleanup.js';
import { databaseEnv } from './helpers/database.js';
import { runCli } from './helpers/hub.js';
import { tempDir } from './helpers/tmp.js';

/** The hub's database on `dataDir` (the same one again after a close: a hub restart). */
async function openDb(dataDir: string): Promise<DataSource> {
  const ds = await openDatabase({ dataDir, url: (await databaseEnv(dataDir)).HEARTH_DATABASE_URL ?? '' });
  onCleanup(() => (ds.isInitialized ? ds.destroy() : undefined));
  return ds;
}

const agent = (id: string): PortOwner => ({ kind: 'agent', id });

// Below the ephemeral ports (32768+), where listen(0) and the other tests' servers never land.
let nextFirst = 20_000 + (process.pid % 200) * 40;
/** `size` ports in a row that nothing listens on. */
async function quietRange(size: number): Promise<PortRange> {
  const busy = await listeningPorts();
  for (;;) {
    const first = nextFirst;
    nextFirst += size;
    const ports = Array.from({ length: size }, (_, i) => first + i);
    if (ports.every((p) => !busy.has(p))) return { first, last: first + size - 1 };
  }
}

function listen(port: number, host: string): Promise<Server> {
  const server = createServer();
  onCleanup(() => new Promise((resolve) => server.close(resolve)));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

const close = (server: Server): Promise<void> => new Promise((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())));

/** A 409 whose words name the range. */
function rangeFull(range: PortRange, detail?: RegExp): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof HubError, `a HubError, not ${String(e)}`);
    assert.equal(HTTP_STATUS[e.kind], 409);
    assert.match(e.message, new RegExp(`port range ${range.first}-${range.last} \\(port_range, HEARTH_PORT_RANGE\\)`));
    if (detail) assert.match(e.message, detail);
    return true;
  };
}

describe('port allocator', () => {
  it('gives 20 owners allocating at once 20 different ports', async () => {
    const range = await quietRange(40);
    const ports = new PortAllocator(await openDb(tempDir()), range);
    const owners = Array.from({ length: 20 }, (_, i) => agent(`web_${i}`));
    // Two instances each: every port of the range is wanted, so a port given twice would leave one short.
    const got = await Promise.all(owners.map((o) => ports.assign(o, 2)));
    const all = got.flat();
    assert.equal(new Set(all).size, 40, `40 distinct ports: ${all.join(' ')}`);
    assert.ok(all.every((p) => p >= range.first && p <= range.last), 'all in the range');
    for (const [i, o] of owners.entries()) assert.deepEqual(await ports.of(o), got[i], `${o.id} holds what it was given`);
  });

  it('skips a port another program listens on, on any address, and keeps an owner its port when its own program listens on it', async () => {
    const range = await quietRange(3);
    const ports = new PortAllocator(await openDb(tempDir()), range);
    const other = await listen(range.first + 1, '127.0.0.1');
    const web = await ports.assign(agent('web'), 2);
    assert.deepEqual(web, [range.first, range.first + 2], 'the port in use is skipped');

    // The agent's own program now listens on its port: still its port.
    const own = await listen(range.first, '0.0.0.0');
    assert.deepEqual(await ports.assign(agent('web'), 2), web);
    await assert.rejects(ports.assign(agent('api'), 1), rangeFull(range, /0 of 3 are free \(2 held by Hearth, 1 in use by other programs\)/));
    await close(own);
    await close(other);
    assert.deepEqual(await ports.assign(agent('api'), 1), [range.first + 1], 'free once nothing listens on it');

    // Whichever address a program listens on (IPv6 ones are in /proc/net/tcp6).
    for (const host of ['127.0.0.1', '0.0.0.0', '::1', '::']) {
      const server = await listen(0, host);
      const { port } = server.address() as AddressInfo;
      const one = { first: port, last: port };
      const alone = new PortAllocator(await openDb(tempDir()), one);
      await assert.rejects(alone.assign(agent('web'), 1), rangeFull(one, /1 in use by other programs/), `a server on ${host} port ${port}`);
      await close(server);
      assert.deepEqual(await alone.assign(agent('web'), 1), [port]);
    }
  });

  it('keeps the ports an owner holds across calls and across a restart of the hub', async () => {
    const dataDir = tempDir();
    const range = await quietRange(10);
    const before = await openDb(dataDir);
    const first = new PortAllocator(before, range);
    const web = await first.assign(agent('web'), 3);
    const api = await first.assign(agent('api'), 2);
    assert.deepEqual(await first.assign(agent('web'), 3), web);
    await first.release(agent('web'));
    assert.deepEqual(await first.assign(agent('api'), 2), api, 'kept, though lower ports are free now');

    await before.destroy();
    // The agent's programs outlived the hub (kill -9): they still listen on their ports.
    for (const port of api) await listen(port, '127.0.0.1');
    const again = new PortAllocator(await openDb(dataDir), range);
    assert.deepEqual(await again.of(agent('api')), api, 'stored');
    assert.deepEqual(await again.assign(agent('api'), 2), api, 'the same after the restart');
    const more = await again.assign(agent('api'), 4);
    assert.deepEqual(more, [...api, ...web.slice(0, 2)], 'scaling up keeps the ports it had and takes the lowest free');
  });

  it('release frees every port of an owner for the next one', async () => {
    const range = await quietRange(2);
    const ports = new PortAllocator(await openDb(tempDir()), range);
    const web = await ports.assign(agent('web'), 2);
    await assert.rejects(ports.assign(agent('api'), 1), rangeFull(range));
    await ports.release(agent('web'));
    assert.deepEqual(await ports.of(agent('web')), []);
    assert.deepEqual(await ports.assign(agent('api'), 2), web);
  });

  it('release with keep drops only the higher instances', async () => {
    const range = await quietRange(4);
    const ports = new PortAllocator(await openDb(tempDir()), range);
    const web = await ports.assign(agent('web'), 4);
    await ports.release(agent('web'), 2);
    assert.deepEqual(await ports.of(agent('web')), web.slice(0, 2));
    assert.deepEqual(await ports.assign(agent('api'), 2), web.slice(2), 'the released ones go to the next owner');
    assert.deepEqual(await ports.assign(agent('web'), 2), web.slice(0, 2));
  });

  it('a full range answers 409 naming the range, and changes nothing', async () => {
    const range = await quietRange(4);
    const ports = new PortAllocator(await openDb(tempDir()), range);
    const web = await ports.assign(agent('web'), 1);
    const api = await ports.assign(agent('api'), 1);
    await assert.rejects(ports.assign(agent('api'), 4), rangeFull(range, /it needs 3, 2 of 4 are free \(2 held by Hearth, 0 in use/));
    await assert.rejects(ports.assign({ kind: 'app', id: 'shop' }, 3), rangeFull(range));
    assert.deepEqual(await ports.of(agent('api')), api, 'what it held, nothing more');
    assert.deepEqual(await ports.of({ kind: 'app', id: 'shop' }), []);
    assert.deepEqual(await ports.of(agent('web')), web);
    const rest = await ports.assign({ kind: 'app', id: 'shop' }, 2);
    assert.equal(new Set([...web, ...api, ...rest]).size, 4, 'the two free ports were still free');
  });

  it('moves a port that is outside the range after the setting changed, keeping the ones inside', async () => {
    const dataDir = tempDir();
    const wide = await quietRange(4);
    const before = await openDb(dataDir);
    assert.deepEqual(await new PortAllocator(before, wide).assign(agent('web'), 2), [wide.first, wide.first + 1]);
    await before.destroy();
    const narrow = { first: wide.first + 1, last: wide.last };
    const ports = new PortAllocator(await openDb(dataDir), narrow);
    assert.deepEqual(await ports.assign(agent('web'), 2), [wide.first + 2, wide.first + 1]);
    assert.deepEqual(await ports.of(agent('web')), [wide.first + 2, wide.first + 1]);
  });
});

describe('port range setting', () => {
  it('defaults to 8100-8999 and is read from the environment and hearth.yaml', () => {
    const dir = tempDir();
    assert.deepEqual(loadConfig({ flags: {}, env: { HEARTH_DATA_DIR: dir } }).settings.portRange, { first: 8100, last: 8999 });
    assert.deepEqual(loadConfig({ flags: {}, env: { HEARTH_DATA_DIR: dir, HEARTH_PORT_RANGE: '9000 - 9009' } }).settings.portRange, { first: 9000, last: 9009 });
    writeFileSync(join(dir, 'hearth.yaml'), 'port_range: 20000-20000\n');
    assert.deepEqual(loadConfig({ flags: {}, env: { HEARTH_DATA_DIR: dir } }).settings.portRange, { first: 20000, last: 20000 });
  });

  const bad: Array<[string, RegExp]> = [
    ['8100', /"8100" is not a port range \(first-last, like 8100-8999\)/],
    ['80-90', /"80-90": ports must be from 1024 to 65535/],
    ['8100-70000', /ports must be from 1024 to 65535/],
    ['9000-8100', /"9000-8100": the first port must not be above the last/],
  ];
  for (const [value, message] of bad) {
    it(`refuses ${value}, naming the setting`, () => {
      assert.throws(
        () => loadConfig({ flags: {}, env: { HEARTH_DATA_DIR: tempDir(), HEARTH_PORT_RANGE: value } }),
        (e: unknown) => {
          assert.ok(e instanceof ConfigError);
          assert.match(e.message, /^setting port_range \(from HEARTH_PORT_RANGE\): /);
          assert.match(e.message, message);
          return true;
        },
      );
    });
  }

  it('a bad HEARTH_PORT_RANGE stops `hearth start` with exit code 2 and the message', async () => {
    const r = await runCli(['start'], { HEARTH_DATA_DIR: tempDir(), HEARTH_PORT_RANGE: '9000-8100' });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /hearth: setting port_range \(from HEARTH_PORT_RANGE\): "9000-8100": the first port must not be above the last/);
  });
});
