/**
 * contrib/hearth.service: systemd itself checks it (`systemd-analyze verify`, where the command
 * exists), and its stop timeout outlasts the longest stop an agent may be given.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AgentCreate } from '../src/hub/agents/schema.js';
import { tempDir } from './helpers/tmp.js';

const UNIT = join(import.meta.dirname, '../contrib/hearth.service');
const CLI = join(import.meta.dirname, '../dist/cli/main.js');
const ANALYZE = '/usr/bin/systemd-analyze';

/** The unit's one value for `key` (the last one wins in systemd; the unit sets each once). */
function setting(unit: string, key: string): string {
  const values = [...unit.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]!);
  assert.equal(values.length, 1, `${key}= set once in the unit`);
  return values[0]!;
}

/**
 * The unit as it would be installed, but starting the hub this checkout built: its ExecStart names
 * `hearth` by its install path, which need not exist here, and verify insists the command does.
 */
function unitAgainstThisBuild(unit: string): string {
  const dir = tempDir();
  mkdirSync(join(dir, 'bin'));
  // As `npm install -g` installs it: a link named hearth to the executable main.js.
  symlinkSync(CLI, join(dir, 'bin', 'hearth'));
  const execStart = setting(unit, 'ExecStart');
  assert.match(execStart, /^\/\S+\/hearth start$/, 'ExecStart runs `hearth start` by an absolute path');
  const file = join(dir, 'hearth.service');
  writeFileSync(file, unit.replace(`ExecStart=${execStart}`, `ExecStart=${join(dir, 'bin', 'hearth')} start`));
  return file;
}

/** What systemd-analyze verify says of a unit: nothing at all when it is sound. */
function verify(file: string): { status: number | null; said: string } {
  const r = spawnSync(ANALYZE, ['verify', '--man=no', file], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, said: (r.stdout + r.stderr).trim() };
}

describe('contrib/hearth.service', () => {
  it('passes systemd-analyze verify without a word', (t) => {
    if (!existsSync(ANALYZE)) return t.skip(`${ANALYZE} is not installed (Debian's systemd package has it)`);
    assert.ok(existsSync(CLI), 'the build (dist/cli/main.js) exists');
    const unit = readFileSync(UNIT, 'utf8');
    assert.deepEqual(verify(unitAgainstThisBuild(unit)), { status: 0, said: '' });

    // The check is a real one: a misspelt value, an unknown key or a missing command is reported.
    for (const [broken, says] of [
      [unit.replace('KillMode=mixed', 'KillMode=mixd'), /Failed to parse kill mode/],
      [unit.replace('Delegate=yes', 'Delegate=yes\nDelgate=yes'), /Unknown key 'Delgate'/],
    ] as const) {
      assert.match(verify(unitAgainstThisBuild(broken)).said, says);
    }
    const dir = tempDir();
    const missing = join(dir, 'hearth.service');
    writeFileSync(missing, unit.replace(/^ExecStart=\S+/m, `ExecStart=${join(dir, 'nowhere', 'hearth')}`));
    assert.match(verify(missing).said, /Command .*nowhere\/hearth is not executable/);
  });

  it('waits longer for the hub to stop than the longest stop an agent may have', (t) => {
    if (!existsSync(ANALYZE)) return t.skip(`${ANALYZE} is not installed (Debian's systemd package has it)`);
    const longestAgentStopS = AgentCreate.properties.stop_timeout_s.maximum;
    assert.equal(typeof longestAgentStopS, 'number');
    const unit = readFileSync(UNIT, 'utf8');
    // systemd's own reading of the time span (62min, 1h 2min, 3720…).
    const parsed = execFileSync(ANALYZE, ['timespan', setting(unit, 'TimeoutStopSec')], { encoding: 'utf8' });
    const stopS = Number(/μs: (\d+)/.exec(parsed)?.[1]) / 1e6;
    // Agents stop together, after the running jobs (15 s at most); a group killed at its timeout
    // gets 5 s more to go; then the database closes. A minute covers all of that.
    assert.ok(stopS >= longestAgentStopS! + 60, `TimeoutStopSec is ${stopS} s; agents may take ${longestAgentStopS} s to stop`);
    assert.equal(setting(unit, 'KillMode'), 'mixed', 'SIGTERM to the hub alone, so it stops its agents in order');
  });
});
