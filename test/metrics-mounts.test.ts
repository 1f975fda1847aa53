/**
 * Host metrics measure what is the host's own: local mounts only (statfs on a network mount whose
 * server is gone blocks the event loop), and the network rate over the interfaces traffic leaves
 * through (virtual ones carry the same bytes again). linux.ts is pointed at a root of this test's
 * (a /proc and /sys of real files, in their real formats); the mount points it lists are real
 * local directories, so a network mount that was not left out would be measured and listed.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isDiskType } from '../src/hub/metrics/collector.js';
import { mounts, netBytes } from '../src/hub/metrics/linux.js';
import { startHub } from './helpers/hub.js';
import { tempDir } from './helpers/tmp.js';

/** A root with proc/self/mountinfo: this machine's own, then `extra` lines. */
function mountRoot(extra: string[]): string {
  const root = tempDir();
  mkdirSync(join(root, 'proc/self'), { recursive: true });
  writeFileSync(join(root, 'proc/self/mountinfo'), `${readFileSync('/proc/self/mountinfo', 'utf8')}${extra.join('\n')}\n`);
  return root;
}

/** A root with proc/net/dev (this machine's header) and sys/devices/virtual/net/<each virtual>. */
function netRoot(rows: Array<[name: string, rx: number, tx: number]>, virtual: string[]): string {
  const root = tempDir();
  mkdirSync(join(root, 'proc/net'), { recursive: true });
  const header = readFileSync('/proc/net/dev', 'utf8').split('\n').slice(0, 2);
  const lines = rows.map(([name, rx, tx]) => `${name.padStart(6)}: ${rx} 100 0 0 0 0 0 0 ${tx} 90 0 0 0 0 0 0`);
  writeFileSync(join(root, 'proc/net/dev'), `${[...header, ...lines].join('\n')}\n`);
  for (const v of virtual) mkdirSync(join(root, 'sys/devices/virtual/net', v, 'statistics'), { recursive: true });
  return root;
}

describe('metrics: local mounts and real interfaces', () => {
  it('measures local mounts only: nfs, cifs, smb3, 9p, ceph, glusterfs and FUSE ones (sshfs, rclone) are never statfs\'d', () => {
    const dir = tempDir();
    const network: Array<[type: string, source: string]> = [
      ['nfs', 'nas:/export'],
      ['nfs4', 'nas:/home'],
      ['cifs', '//nas/share'],
      ['smb3', '//nas/media'],
      ['9p', 'hostshare'],
      ['ceph', '10.0.0.1:6789:/'],
      ['glusterfs', 'gluster:/vol'],
      ['fuse.sshfs', 'me@host:/srv'],
      ['fuse.rclone', 'drive:'],
    ];
    const lines = network.map(([type, source], i) => {
      mkdirSync(join(dir, `net${i}`));
      return `${900 + i} 1 0:${90 + i} / ${dir}/net${i} rw,relatime shared:${i} - ${type} ${source} rw`;
    });
    // A local disk mounted on a path with a space: mountinfo writes it as \040.
    mkdirSync(join(dir, 'local disk'));
    lines.push(`950 1 254:9 / ${dir}/local\\040disk rw,relatime - ext4 /dev/vdz rw`);

    const listed = mounts(() => true, mountRoot(lines));
    const mine = listed.filter((m) => m.mount.startsWith(dir));
    assert.deepEqual(mine.map((m) => [m.type, m.fs, m.mount]), [['ext4', '/dev/vdz', `${dir}/local disk`]], 'only the local one, its path decoded');
    assert.ok(mine[0]!.size > 0, 'measured');
    assert.deepEqual(listed.filter((m) => network.some(([t]) => t === m.type)), [], 'no network type measured');
    assert.ok(listed.some((m) => m.mount === '/'), 'this machine\'s own root is read from its real mountinfo');
    assert.ok(mounts(isDiskType, mountRoot(lines)).every((m) => isDiskType(m.type)), 'the collector\'s choice of types still applies');
  });

  it('counts physical interfaces in the network total; virtual ones (lo, docker0, veth*, br-*) only when listed', () => {
    const rows: Array<[string, number, number]> = [
      ['lo', 5_000_000, 5_000_000],
      ['eth0', 1000, 100],
      ['wlan0', 2000, 200],
      ['docker0', 40_000, 4000],
      ['veth1a2b', 300_000, 30_000],
      ['br-3c4d5e', 6_000_000, 600_000],
    ];
    const root = netRoot(rows, ['lo', 'docker0', 'veth1a2b', 'br-3c4d5e']);
    assert.deepEqual(netBytes([], root), { rx: 3000, tx: 300 }, 'eth0 and wlan0 only');
    assert.deepEqual(netBytes(['docker0'], root), { rx: 43_000, tx: 4300 }, 'and docker0, listed');
    assert.deepEqual(netBytes(['lo', 'nosuch0'], root), { rx: 5_003_000, tx: 5_000_300 }, 'a listed name that is not there counts nothing');
  });

  it('counts a container\'s own interfaces, which are all virtual (its eth0 is a veth), but never loopback', () => {
    const root = netRoot([['lo', 9_000_000, 9_000_000], ['eth0', 7000, 700]], ['lo', 'eth0']);
    assert.deepEqual(netBytes([], root), { rx: 7000, tx: 700 });
  });

  it('the hub reports this machine\'s local disks and a network rate from its real /proc', async () => {
    const h = await startHub();
    const r = await h.api<{ disks: Array<{ mount: string; type: string }>; network_rx_bytes_per_s: number; network_tx_bytes_per_s: number }>('GET', '/api/system-metrics');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const root = r.body.disks.find((d) => d.mount === '/');
    const realRoot = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === '/');
    assert.equal(root?.type, realRoot?.split(' - ')[1]?.split(' ')[0], 'the root filesystem, with its type from mountinfo');
    assert.ok(Number.isInteger(r.body.network_rx_bytes_per_s) && r.body.network_rx_bytes_per_s >= 0);
    assert.ok(Number.isInteger(r.body.network_tx_bytes_per_s) && r.body.network_tx_bytes_per_s >= 0);
    await h.stop();
  });
});
