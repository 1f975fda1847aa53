/**
 * The hub's cgroup v2 subtree, in which the kernel enforces its agents' limits:
 *
 *   <own>/hub            the hub, and whatever shared its cgroup (tini, s6, npx, a shell)
 *   <own>/agents         memory and cpu handed down to...
 *   <own>/agents/<id>    ...one group per agent (CgroupLimits)
 *
 * The kernel lets a non-root cgroup hand controllers down only while it holds no process ("no
 * internal processes"), so every process of <own> moves to the leaf `hub` first. Moving them
 * between groups under <own> changes no limit that applies to them: <own>'s still does.
 *
 * The hub builds this only in a cgroup that is its to manage: a container's own (a private cgroup
 * namespace), one delegated to its user, or a systemd unit with Delegate=yes. Any other cgroup
 * belongs to whoever made it (systemd, a login session), and a root hub could write it but must not.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmdirSync, statfsSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** statfs f_type of cgroup2. */
const CGROUP2_SUPER_MAGIC = 0x63677270;
const NEEDED = ['memory', 'cpu'] as const;
const HUB_LEAF = 'hub';
const AGENTS_GROUP = 'agents';
/** Rounds of moving <own>'s processes out, for those forked while the last round ran. */
const MOVE_ROUNDS = 5;

/** The file operations on cgroupfs, so that the tree can be built on a directory laid out like it. */
export interface CgroupFs {
  read(file: string): string;
  write(file: string, data: string): void;
  /** Throws EEXIST when it exists. */
  mkdir(dir: string): void;
  rmdir(dir: string): void;
  exists(path: string): boolean;
  /** The names of the child groups. */
  children(dir: string): string[];
  /** The uid that owns it. */
  owner(path: string): number;
}

export const nodeCgroupFs: CgroupFs = {
  read: (file) => readFileSync(file, 'utf8'),
  write: (file, data) => writeFileSync(file, data),
  mkdir: (dir) => mkdirSync(dir),
  rmdir: (dir) => rmdirSync(dir),
  exists: (path) => existsSync(path),
  children: (dir) => readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name),
  owner: (path) => statSync(path).uid,
};

/** What the detection asks of the machine it runs on. */
export interface CgroupHost {
  fs: CgroupFs;
  /** Is dir the mount point of a cgroup2 file system? */
  isCgroup2(dir: string): boolean;
  /** The text of /proc/self/cgroup. */
  selfCgroup(): string;
  uid: number;
  /** Does systemd (the user's manager when `user`) say Delegate=yes for this unit? */
  systemdDelegates(unit: string, user: boolean): boolean;
}

export const liveHost: CgroupHost = {
  fs: nodeCgroupFs,
  isCgroup2: (dir) => {
    try {
      return statfsSync(dir).type === CGROUP2_SUPER_MAGIC;
    } catch {
      return false;
    }
  },
  selfCgroup: () => readFileSync('/proc/self/cgroup', 'utf8'),
  uid: process.getuid?.() ?? 0,
  systemdDelegates: (unit, user) => {
    try {
      const args = [...(user ? ['--user'] : []), 'show', '--property=Delegate', '--value', '--', unit];
      return execFileSync('systemctl', args, { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }).trim() === 'yes';
    } catch {
      return false;
    }
  },
};

export interface CgroupDetection {
  usable: boolean;
  /** Why not, or what is used. */
  reason: string;
  /** The group under which agents get theirs (only when usable). */
  path?: string;
}

function errText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err.code === 'EROFS') return 'EROFS: the cgroup file system is mounted read-only, as a container has it unless given a writable one';
  return err.code ? `${err.code}: ${err.message}` : String(e);
}

export function errCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

function words(text: string): string[] {
  return text.split(/\s+/).filter(Boolean);
}

function no(reason: string): CgroupDetection {
  return { usable: false, reason };
}

/** Why the group cannot have memory and cpu limits (they are not available in it), or null. */
function missingControllers(dir: string, fs: CgroupFs, hybrid: boolean): string | null {
  let available: string[];
  try {
    available = words(fs.read(join(dir, 'cgroup.controllers')));
  } catch (e) {
    return `cannot read ${join(dir, 'cgroup.controllers')}: ${errText(e)}`;
  }
  const missing = NEEDED.filter((c) => !available.includes(c));
  if (missing.length === 0) return null;
  const where = hybrid ? ' (a hybrid setup: the controllers are bound to cgroup v1 hierarchies)' : '';
  return `cgroup v2 at ${dir} lacks the ${missing.join(' and ')} controller${missing.length > 1 ? 's' : ''}; it has: ${available.join(' ') || 'none'}${where}`;
}

/** The hub's own cgroup v2 path ("0::/x/y" in /proc/self/cgroup), relative to the mount. */
function ownCgroup(text: string): string | undefined {
  const line = text.split('\n').find((l) => l.startsWith('0::'));
  return line?.slice(3);
}

/**
 * Why this group is the hub's to manage, or null. `rel` is its path in the hub's cgroup namespace.
 * The root of a namespace has cgroup.type; the root of the whole hierarchy does not.
 */
function mayManage(mount: string, rel: string, host: CgroupHost): string | null {
  const dir = join(mount, rel);
  if (rel === '/') return host.fs.exists(join(dir, 'cgroup.type')) ? 'the cgroup namespace of its container' : null;
  // Delegation as the kernel documents it: the group handed to a user, its parent not.
  if (host.uid !== 0 && host.fs.owner(dir) === host.uid && host.fs.owner(dirname(dir)) !== host.uid) return `delegated to uid ${host.uid}`;
  const unit = basename(rel);
  if (/\.(service|scope)$/.test(unit) && host.systemdDelegates(unit, host.uid !== 0)) return `Delegate=yes on ${unit}`;
  return null;
}

/**
 * The group the tree is built in, and why the hub may. A hub already in `<base>/hub` (moved there
 * by an earlier start in this process or by its parent's, or put there by systemd's
 * DelegateSubgroup=hub) builds in <base> again rather than one level deeper.
 */
function baseOf(mount: string, own: string, host: CgroupHost): { base: string; why: string } | { reason: string } {
  if (own !== '/' && basename(own) === HUB_LEAF) {
    const why = mayManage(mount, dirname(own), host);
    if (why) return { base: join(mount, dirname(own)), why };
  }
  const why = mayManage(mount, own, host);
  if (why) return { base: join(mount, own), why };
  if (own === '/') return { reason: 'the hub runs in the root cgroup, which is the whole system\'s: run it in a cgroup of its own' };
  return {
    reason: `the hub's cgroup ${own} is not delegated to it: run it as a systemd service with Delegate=yes, or in a container with a private, writable cgroup namespace`,
  };
}

/** Creates dir unless it exists. */
export function ensureGroup(fs: CgroupFs, dir: string): void {
  try {
    fs.mkdir(dir);
  } catch (e) {
    if (errCode(e) !== 'EEXIST') throw e;
  }
}

/** Moves every process of `from` into `to`; why it could not, or null. */
function moveAll(fs: CgroupFs, from: string, to: string): string | null {
  for (let round = 0; round < MOVE_ROUNDS; round++) {
    const pids = words(fs.read(join(from, 'cgroup.procs')));
    if (pids.length === 0) return null;
    // A pid moves the whole process, every thread of it.
    for (const pid of pids) {
      try {
        fs.write(join(to, 'cgroup.procs'), pid);
      } catch (e) {
        if (errCode(e) === 'ESRCH') continue; // it exited meanwhile
        return `cannot move process ${pid} from ${from} into ${to} (${errText(e)})`;
      }
    }
  }
  return `${from} still holds processes after ${MOVE_ROUNDS} rounds of moving them into ${to}: ${words(fs.read(join(from, 'cgroup.procs'))).join(' ')}`;
}

/** Hands memory and cpu down to dir's children. */
function enable(fs: CgroupFs, dir: string): void {
  const enabled = words(fs.read(join(dir, 'cgroup.subtree_control')));
  const missing = NEEDED.filter((c) => !enabled.includes(c));
  if (missing.length > 0) fs.write(join(dir, 'cgroup.subtree_control'), missing.map((c) => `+${c}`).join(' '));
}

/** Removes every empty child group of dir (one that holds a process stays). */
export function removeEmptyGroups(fs: CgroupFs, dir: string): void {
  for (const name of fs.children(dir)) {
    try {
      fs.rmdir(join(dir, name));
    } catch (e) {
      if (errCode(e) !== 'EBUSY' && errCode(e) !== 'ENOENT') throw e;
    }
  }
}

/**
 * Builds the tree in base: the hub's processes into the leaf first (the kernel refuses the rest
 * while base holds one), then memory and cpu for base's children, then the agents' group. Groups of
 * agents left by an earlier hub that are empty now go; one still holding a leftover process stays,
 * for the agent's next start to reuse once the leftover is stopped.
 */
function build(base: string, why: string, fs: CgroupFs): CgroupDetection {
  const leaf = join(base, HUB_LEAF);
  const agents = join(base, AGENTS_GROUP);
  try {
    ensureGroup(fs, leaf);
  } catch (e) {
    return no(`cannot create ${leaf} (${errText(e)})`);
  }
  const stuck = moveAll(fs, base, leaf);
  if (stuck) return no(stuck);
  try {
    enable(fs, base);
  } catch (e) {
    return no(`cannot enable memory and cpu in ${join(base, 'cgroup.subtree_control')} (${errText(e)})`);
  }
  try {
    ensureGroup(fs, agents);
    enable(fs, agents);
    removeEmptyGroups(fs, agents);
  } catch (e) {
    return no(`cannot create ${agents} with memory and cpu enabled (${errText(e)})`);
  }
  return { usable: true, reason: `cgroup v2: agents under ${agents} (${why})`, path: agents };
}

/**
 * The cgroup2 mount (the whole hierarchy at root, or its unified part in a hybrid setup) when it
 * offers the memory and cpu controllers; else why not. Reads only.
 */
export function cgroupV2Hierarchy(root = '/sys/fs/cgroup', host: CgroupHost = liveHost): { mount: string } | { reason: string } {
  const mount = [root, join(root, 'unified')].find((d) => host.isCgroup2(d));
  if (!mount) return { reason: `no cgroup2 file system mounted at ${root} or ${join(root, 'unified')}` };
  const lacking = missingControllers(mount, host.fs, mount !== root);
  return lacking ? { reason: lacking } : { mount };
}

/**
 * Can the hub put its agents into cgroups with memory and cpu limits? When its cgroup is its to
 * manage, builds the tree (see the top of this file) and says where agents go.
 */
export function detectCgroupV2(root = '/sys/fs/cgroup', host: CgroupHost = liveHost): CgroupDetection {
  const hierarchy = cgroupV2Hierarchy(root, host);
  if ('reason' in hierarchy) return no(hierarchy.reason);
  const { mount } = hierarchy;
  const hybrid = mount !== root;

  let own: string | undefined;
  try {
    own = ownCgroup(host.selfCgroup());
  } catch (e) {
    return no(`cannot read /proc/self/cgroup (${errText(e)})`);
  }
  if (own === undefined) return no('the hub is not in a cgroup v2 group (no 0:: line in /proc/self/cgroup)');
  if (!host.fs.exists(join(mount, own, 'cgroup.procs'))) return no(`the hub's cgroup ${own} is not visible at ${join(mount, own)}`);

  const place = baseOf(mount, own, host);
  if ('reason' in place) return no(place.reason);
  const notHanded = missingControllers(place.base, host.fs, hybrid);
  if (notHanded) return no(`${notHanded} (its parent does not hand them down)`);
  return build(place.base, place.why, host.fs);
}
