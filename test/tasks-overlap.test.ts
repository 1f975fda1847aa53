/**
 * What happens to a run due while the last is still running (overlap skip, queue, allow) and the
 * queue's cap, through the real hub. Runs wait on a gate file the test opens, so "still running" is
 * a fact the test controls, not a race against a sleep.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { FINISHED, type JobView } from '../src/hub/jobs/types.js';
import { startHub, type HubHandle } from './helpers/hub.js';
import { pidsWith } from './helpers/procs.js';
import { taskCalls } from './helpers/tasks.js';
import { tempDir } from './helpers/tmp.js';
import { until, untilTrue } from './helpers/wait.js';

let h: HubHandle;

const { create, jobsOf } = taskCalls(() => h);
const run = (id: string) => h.api<JobView & { queued?: true; position?: number; error?: string }>('POST', `/api/tasks/${id}/run`);

/** A command that runs until its gate file exists; the file's path is in its command line. */
function gated(): { action: Record<string, unknown>; path: string; open: () => void } {
  const path = join(tempDir(), 'gate');
  return {
    path,
    action: { type: 'command', command: 'sh', args: ['-c', 'while [ ! -e "$0" ]; do sleep 0.05; done', path] },
    open: () => writeFileSync(path, ''),
  };
}

describe('task overlap', () => {
  before(async () => {
    h = await startHub();
  });

  it('skip records a skipped job, queue runs after, allow runs both at once', async () => {
    const gates = { skip: gated(), queue: gated(), allow: gated() };
    for (const overlap of ['skip', 'queue', 'allow'] as const) {
      await create({ name: `overlap ${overlap}`, overlap, action: gates[overlap].action });
      const first = await run(`overlap_${overlap}`);
      assert.equal(first.status, 202);
      assert.equal(first.body.status, 'running');
      const second = await run(`overlap_${overlap}`);
      assert.equal(second.status, 202);
      if (overlap === 'skip') assert.equal(second.body.status, 'skipped');
      if (overlap === 'queue') assert.deepEqual(second.body, { queued: true, position: 1 }, 'queued: no job yet');
      if (overlap === 'allow') assert.equal(second.body.status, 'running');
    }
    await untilTrue('both allowed runs at once', () => pidsWith(gates.allow.path).length === 2);
    assert.equal((await jobsOf('overlap_queue')).length, 1, 'the queued run waits');
    Object.values(gates).forEach((g) => g.open());

    const skip = await until('skip settled', () => jobsOf('overlap_skip'), (all) => all.every((j) => FINISHED.has(j.status)));
    assert.deepEqual(skip.map((j) => j.status).sort(), ['skipped', 'succeeded']);
    const [later, earlier] = await until('queue settled', () => jobsOf('overlap_queue'), (all) => all.length === 2 && all.every((j) => j.status === 'succeeded'));
    assert.ok(Date.parse(later!.started_at!) >= Date.parse(earlier!.ended_at!), 'the queued run started after the first ended');
    await until('allow settled', () => jobsOf('overlap_allow'), (all) => all.length === 2 && all.every((j) => j.status === 'succeeded'));
  });

  it('queues up to 10 runs behind the running one; the 11th request is refused with 409', async () => {
    const gate = gated();
    await create({ name: 'queue cap', overlap: 'queue', action: gate.action });
    assert.equal((await run('queue_cap')).body.status, 'running');
    for (let position = 1; position <= 10; position++) assert.deepEqual((await run('queue_cap')).body, { queued: true, position });
    const full = await run('queue_cap');
    assert.equal(full.status, 409, JSON.stringify(full.body));
    assert.match(full.body.error ?? '', /queue of runs is full \(10\)/);
    gate.open();
    // The running one and the ten that waited, one after the other.
    const all = await until('the 11 runs', () => jobsOf('queue_cap'), (jobs) => jobs.filter((j) => j.status === 'succeeded').length === 11, { timeoutMs: 20_000 });
    const byStart = [...all].sort((a, b) => a.id - b.id);
    for (let i = 1; i < byStart.length; i++) assert.ok(Date.parse(byStart[i]!.started_at!) >= Date.parse(byStart[i - 1]!.ended_at!), `run ${i + 1} waited for run ${i}`);
  });
});
