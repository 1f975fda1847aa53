/**
 * The registry of every thing the hub shows: its kind, id and current typed state.
 * Managers write here; the MQTT bridge and the API's WebSocket read the bus events it emits.
 */
import type { EventBus } from './events.js';
import type { ThingChange, ThingKind, ThingStates } from './thing-types.js';

export class ThingRegistry {
  private readonly things = new Map<string, ThingChange>();

  constructor(private readonly bus: EventBus) {}

  upsert<K extends ThingKind>(kind: K, id: string, state: ThingStates[K]): void {
    const change = { kind, id, state } as ThingChange;
    this.things.set(`${kind}/${id}`, change);
    this.bus.emit('thing.changed', change);
  }

  remove(kind: ThingKind, id: string): void {
    if (this.things.delete(`${kind}/${id}`)) this.bus.emit('thing.removed', { kind, id });
  }

  all(): ThingChange[] {
    return [...this.things.values()];
  }

  get<K extends ThingKind>(kind: K, id: string): ThingStates[K] | undefined {
    return this.things.get(`${kind}/${id}`)?.state as ThingStates[K] | undefined;
  }

  count(kind: string): number {
    let n = 0;
    for (const t of this.things.values()) if (t.kind === kind) n++;
    return n;
  }

  /** Things whose state says they have a problem (failed, crash loop, ...), as kind/id. */
  problems(): string[] {
    const out: string[] = [];
    for (const t of this.things.values()) {
      if (t.kind !== 'hub' && 'problem' in t.state && t.state.problem === true) out.push(`${t.kind}/${t.id}`);
    }
    return out;
  }
}
