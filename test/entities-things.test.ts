/** Agent and task entity modules: valid discovery for every state, values the templates can read. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { agentEntities } from '../src/entities/agent.js';
import { discoveryMessage, discoveryTopic } from '../src/entities/discovery.js';
import { taskEntities } from '../src/entities/task.js';
import type { EntityContext } from '../src/entities/types.js';
import type { AgentState } from '../src/hub/agents/state.js';
import type { TaskState } from '../src/hub/tasks/state.js';
import { DiscoveryRegistry } from './helpers/ha-rules.js';

const ctx: EntityContext = { nodeId: 'n1', base: 'hearth/n1', discoveryPrefix: 'homeassistant', version: '1.0.0' };

const agent: AgentState = {
  id: 'bot', name: 'Bot', type: 'ai', status: 'stopped', reason: null, desired: 'stopped', pid: null, started_at: null, next_start_at: null,
  restarts: 0, last_exit_code: null, last_signal: null, health: 0, health_check: null, cpu_percent: null, memory_bytes: null, problem: false,
  limits: { memory: 'none', cpu: 'none' },
};
const task: TaskState = {
  id: 'backup', name: 'Backup', enabled: true, when: '0 3 * * *', next_run: null, last_run: null, last_result: null, last_duration_s: null,
  running: false, progress: 0, current_job: null, problem: false,
};

describe('agent and task entities', () => {
  it('are valid Home Assistant discovery in a fresh state and a busy one, with unique ids across both', () => {
    const registry = new DiscoveryRegistry();
    for (const [kind, view] of [
      ['agent', agentEntities(ctx, 'bot', agent)],
      ['agent', agentEntities(ctx, 'bot', { ...agent, status: 'failed', reason: 'crash_loop', problem: true, last_exit_code: 3, restarts: 10 })],
      ['task', taskEntities(ctx, 'backup', task)],
      ['task', taskEntities(ctx, 'backup', { ...task, running: true, progress: 40, last_result: 'failed', problem: true, last_run: new Date().toISOString() })],
    ] as const) {
      registry.assertValid(discoveryTopic(ctx, view.deviceId), discoveryMessage(ctx, view));
      assert.equal(view.stateTopic, `hearth/n1/${kind}/${kind === 'agent' ? 'bot' : 'backup'}`);
    }
  });

  it('reads null fields as unknown, not as the text "null" or a zero', () => {
    const v = taskEntities(ctx, 'backup', task);
    assert.equal(v.components.next_run!.value_template, '{{ value_json.next_run if value_json.next_run is not none else None }}');
    assert.equal(v.state.next_run, null);
    const a = agentEntities(ctx, 'bot', { ...agent, last_exit_code: 0 });
    assert.equal(a.state.last_exit_code, 0, 'exit code 0 is a value, kept as such');
    assert.match(a.components.last_exit_code!.value_template!, /is not none/);
  });

  it('commands go to the thing\'s own set topic with the words the command router takes', () => {
    const a = agentEntities(ctx, 'bot', agent).components;
    assert.deepEqual([a.running!.command_topic, a.running!.payload_on, a.running!.payload_off, a.restart!.payload_press], ['hearth/n1/agent/bot/set', 'start', 'stop', 'restart']);
    const t = taskEntities(ctx, 'backup', task).components;
    assert.deepEqual([t.run!.payload_press, t.enabled!.payload_on, t.enabled!.payload_off], ['run', 'enable', 'disable']);
    assert.equal(t.result!.p, 'event');
    assert.equal(t.result!.state_topic, 'hearth/n1/task/backup/event');
  });
});
