/** Keeps the hub's own thing up to date: latest metrics, counts per kind, problems, log level, Home Assistant's link. */
import type { EventBus } from './events.js';
import type { Extension } from './extension.js';
import { EndOfTurn } from './kinds/end-of-turn.js';
import type { HaState } from './ha-types.js';
import type { HostMetrics } from './metrics/types.js';
import { COUNTED_KINDS, type CountedKind } from './thing-types.js';
import { type ThingRegistry } from './things.js';

export class HubStatus implements Extension {
  readonly name = 'hub-status';
  private metrics: HostMetrics | null = null;
  private homeAssistant: HaState = 'off';
  private offs: Array<() => void> = [];
  /** Many things changing in one turn (a sample of 50 agents) make one refresh, not 50. */
  private readonly changed = new EndOfTurn<'things'>(() => this.refresh());

  constructor(
    private readonly nodeId: string,
    private readonly version: string,
    private readonly bus: EventBus,
    private readonly things: ThingRegistry,
    private logLevel: () => string,
  ) {}

  async start(): Promise<void> {
    this.offs = [
      this.bus.on('metrics.sampled', (m) => {
        this.metrics = m;
        this.refresh();
      }),
      this.bus.on('thing.changed', (t) => {
        if (t.kind !== 'hub') this.changed.add('things');
      }),
      this.bus.on('thing.removed', (t) => {
        if (t.kind !== 'hub') this.changed.add('things');
      }),
      this.bus.on('settings.changed', () => this.refresh()),
      this.bus.on('homeassistant.status', (s) => {
        this.homeAssistant = s.state;
        this.refresh();
      }),
    ];
  }

  async stop(): Promise<void> {
    this.offs.forEach((off) => off());
    this.offs = [];
  }

  counts(): Record<CountedKind, number> {
    return Object.fromEntries(COUNTED_KINDS.map((k) => [k, this.things.count(k)])) as Record<CountedKind, number>;
  }

  private refresh(): void {
    if (!this.metrics) return;
    const problems = this.things.problems();
    const prev = this.things.get('hub', this.nodeId);
    const state = { version: this.version, log_level: this.logLevel(), metrics: this.metrics, counts: this.counts(), problems, home_assistant: this.homeAssistant };
    // Metrics samples always publish; other refreshes only when something the hub shows changed.
    if (prev && prev.metrics === state.metrics && JSON.stringify(prev) === JSON.stringify(state)) return;
    this.things.upsert('hub', this.nodeId, state);
  }
}
