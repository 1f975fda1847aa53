/**
 * cgroup v2 as the kernel keeps it, on a temp directory laid out like cgroupfs: for the hub's
 * cgroup tree where the real hierarchy has no memory or cpu controller (this machine binds them to
 * cgroup v1). The rules are the kernel's (Documentation/admin-guide/cgroup-v2.rst), each checked
 * against this machine's cgroup2 with the controller it has there (hugetlb), errno for errno:
 * - mkdir makes the interface files: cgroup.*, and memory.* and cpu.* where the parent hands those
 *   controllers down; no other file can be created (EACCES);
 * - a pid written to cgroup.procs moves that process out of wherever it was (ESRCH when it is gone);
 * - "+c" in cgroup.subtree_control needs c in the group's cgroup.controllers (ENOENT), and a non-root
 *   group must hold no process (EBUSY: "no internal processes"); nor may a process be moved into a
 *   non-root group that hands controllers down (EBUSY);
 * - rmdir refuses a group that holds a process or a child group (EBUSY).
 * The root of a cgroup namespace (a container's view) is a non-root group: it has cgroup.type.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import type { CgroupFs } from '../../src/hub/supervisor/cgroup-tree.js';
import { tempDir } from './tmp.js';

function fail(code: string, what: string): never {
  throw Object.assign(new Error(`${code}: ${what}`), { code });
}

const words = (text: string): string[] => text.split(/\s+/).filter(Boolean);

export interface FakeCgroupOptions {
  /** The controllers of the hierarchy (the root's cgroup.controllers). */
  controllers?: string[];
  /** The root is a cgroup namespace's (a container's view), not the hierarchy's. */
  namespaceRoot?: boolean;
  /** Mounted read-only (a container's default): every change is EROFS. */
  readOnly?: boolean;
}

export class FakeCgroupFs implements CgroupFs {
  readonly root: string;
  /** Every change made, in order: `write <group>/<file> <data>`, `mkdir <group>`, `rmdir <group>`. */
  readonly log: string[] = [];
  /**
   * Processes that exit the moment something tries to move them: still listed by the read before,
   * ESRCH for the move, and gone from cgroup.procs after.
   */
  readonly exiting = new Set<string>();
  /** Processes the writer may not move (another user's): EACCES. */
  readonly foreign = new Set<string>();
  /** Owners other than the file's (what a chown would have made them), by path. */
  readonly owners = new Map<string, number>();
  private readonly realRoot: boolean;
  private readonly readOnly: boolean;

  constructor(o: FakeCgroupOptions = {}) {
    this.root = tempDir('hearth-cgroupfs-');
    this.realRoot = !o.namespaceRoot;
    this.readOnly = o.readOnly === true;
    writeFileSync(join(this.root, 'cgroup.controllers'), (o.controllers ?? ['cpuset', 'cpu', 'io', 'memory', 'pids']).join(' '));
    writeFileSync(join(this.root, 'cgroup.subtree_control'), '');
    writeFileSync(join(this.root, 'cgroup.procs'), '');
    if (o.namespaceRoot) writeFileSync(join(this.root, 'cgroup.type'), 'domain');
  }

  /** A group as something else made it (systemd, an earlier hub), holding these processes. */
  group(rel: string, pids: number[] = [], enabled: string[] = []): string {
    const dir = join(this.root, rel);
    if (!existsSync(dir)) {
      this.group(dirname(rel), [], []);
      this.makeGroup(dir);
    }
    if (enabled.length) this.setSubtree(dir, enabled);
    for (const pid of pids) this.place(dir, String(pid));
    return dir;
  }

  /** A process exits: the kernel takes it out of its group. */
  exit(pid: number): void {
    for (const dir of this.groups()) this.setProcs(dir, this.procs(dir).filter((p) => p !== String(pid)));
  }

  /** The kernel's OOM killer killed a process of the group: memory.events counts it. */
  countOomKill(dir: string): void {
    const file = join(dir, 'memory.events');
    const text = readFileSync(file, 'utf8');
    const n = Number(/^oom_kill (\d+)$/m.exec(text)![1]);
    writeFileSync(file, text.replace(/^oom_kill \d+$/m, `oom_kill ${n + 1}`));
  }

  procs(dir: string): string[] {
    return words(readFileSync(join(dir, 'cgroup.procs'), 'utf8'));
  }

  read(file: string): string {
    return readFileSync(file, 'utf8');
  }

  write(file: string, data: string): void {
    if (this.readOnly) fail('EROFS', `read-only file system, open '${file}'`);
    if (!existsSync(file)) fail('EACCES', `permission denied, open '${file}'`);
    const dir = dirname(file);
    if (basename(file) === 'cgroup.procs') this.move(dir, data.trim());
    else if (basename(file) === 'cgroup.subtree_control') this.subtreeControl(dir, words(data));
    else writeFileSync(file, data);
    this.log.push(`write ${this.rel(dir)}/${basename(file)} ${data}`);
  }

  mkdir(dir: string): void {
    if (this.readOnly) fail('EROFS', `read-only file system, mkdir '${dir}'`);
    if (existsSync(dir)) fail('EEXIST', `file already exists, mkdir '${dir}'`);
    if (!existsSync(join(dirname(dir), 'cgroup.procs'))) fail('ENOENT', `no such file or directory, mkdir '${dir}'`);
    this.log.push(`mkdir ${this.rel(dir)}`);
    this.makeGroup(dir);
  }

  rmdir(dir: string): void {
    if (this.readOnly) fail('EROFS', `read-only file system, rmdir '${dir}'`);
    if (!existsSync(dir)) fail('ENOENT', `no such file or directory, rmdir '${dir}'`);
    if (this.procs(dir).length > 0 || this.children(dir).length > 0) fail('EBUSY', `resource busy or locked, rmdir '${dir}'`);
    this.log.push(`rmdir ${this.rel(dir)}`);
    // The interface files go with the group.
    rmSync(dir, { recursive: true });
  }

  exists(path: string): boolean {
    return existsSync(path);
  }

  children(dir: string): string[] {
    return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  }

  owner(path: string): number {
    return this.owners.get(path) ?? statSync(path).uid;
  }

  private rel(dir: string): string {
    return relative(this.root, dir) || '.';
  }

  private isRoot(dir: string): boolean {
    return this.realRoot && relative(this.root, dir) === '';
  }

  private groups(dir = this.root): string[] {
    return [dir, ...this.children(dir).flatMap((c) => this.groups(join(dir, c)))];
  }

  private setProcs(dir: string, pids: string[]): void {
    writeFileSync(join(dir, 'cgroup.procs'), pids.map((p) => `${p}\n`).join(''));
  }

  private place(dir: string, pid: string): void {
    for (const g of this.groups()) this.setProcs(g, this.procs(g).filter((p) => p !== pid));
    this.setProcs(dir, [...this.procs(dir), pid]);
  }

  private move(dir: string, pid: string): void {
    if (this.exiting.has(pid)) {
      this.exit(Number(pid));
      fail('ESRCH', 'no such process, write');
    }
    if (this.foreign.has(pid)) fail('EACCES', 'permission denied, write');
    if (!this.isRoot(dir) && words(this.read(join(dir, 'cgroup.subtree_control'))).length > 0) fail('EBUSY', 'resource busy or locked, write');
    this.place(dir, pid);
  }

  private subtreeControl(dir: string, changes: string[]): void {
    const available = words(this.read(join(dir, 'cgroup.controllers')));
    const enabled = new Set(words(this.read(join(dir, 'cgroup.subtree_control'))));
    for (const change of changes) {
      const c = change.slice(1);
      if (!available.includes(c)) fail('ENOENT', 'no such file or directory, write');
      if (change.startsWith('+')) {
        if (!this.isRoot(dir) && this.procs(dir).length > 0) fail('EBUSY', 'resource busy or locked, write');
        enabled.add(c);
      } else enabled.delete(c);
    }
    this.setSubtree(dir, [...enabled]);
  }

  /** Hands these controllers down: every child group gets them, with their interface files. */
  private setSubtree(dir: string, enabled: string[]): void {
    writeFileSync(join(dir, 'cgroup.subtree_control'), enabled.join(' '));
    for (const c of this.children(dir)) this.interfaceFiles(join(dir, c), enabled);
  }

  private makeGroup(dir: string): void {
    mkdirSync(dir);
    writeFileSync(join(dir, 'cgroup.procs'), '');
    writeFileSync(join(dir, 'cgroup.subtree_control'), '');
    writeFileSync(join(dir, 'cgroup.type'), 'domain');
    this.interfaceFiles(dir, words(this.read(join(dirname(dir), 'cgroup.subtree_control'))));
  }

  private interfaceFiles(dir: string, controllers: string[]): void {
    writeFileSync(join(dir, 'cgroup.controllers'), controllers.join(' '));
    const files: Record<string, Record<string, string>> = {
      memory: { 'memory.max': 'max', 'memory.swap.max': 'max', 'memory.events': 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n' },
      cpu: { 'cpu.max': 'max 100000', 'cpu.stat': 'usage_usec 0\nnr_throttled 0\nthrottled_usec 0\n' },
    };
    for (const c of controllers) {
      for (const [name, initial] of Object.entries(files[c] ?? {})) if (!existsSync(join(dir, name))) writeFileSync(join(dir, name), initial);
    }
  }
}
