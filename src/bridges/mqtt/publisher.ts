/**
 * Publishes every thing's Home Assistant discovery and state: only what changed, removes what
 * disappeared, everything again on (re)connect and when Home Assistant comes online, stale configs
 * cleared at start, and devices the user deleted in Home Assistant left alone until shown again.
 */
import { discoveryMessage, discoveryTopic, hubDeviceId, thingDeviceId } from '../../entities/discovery.js';
import type { EntityContext, Platform, ThingView } from '../../entities/types.js';
import type { DiscoveryVisibility } from '../../hub/discovery-visibility.js';
import type { Logger } from '../../hub/logger.js';
import { COUNTED_KINDS, type ThingChange, type ThingRef } from '../../hub/thing-types.js';

export interface Outbox {
  readonly connected: boolean;
  publish(topic: string, payload: string, opts: { retain: boolean }): Promise<void>;
}

interface Known {
  ref: ThingRef;
  stateTopic: string;
}

interface Sent {
  config: string;
  state: string;
  /** field -> platform of what Home Assistant has now, to send removals once. */
  platforms: Record<string, Platform>;
}

export class DiscoveryPublisher {
  /** Every device this hub produces now, by discovery object id. */
  private readonly known = new Map<string, Known>();
  /** What Home Assistant was last sent for each device; recorded only once the send succeeded. */
  private readonly sent = new Map<string, Sent>();
  /** Devices cleared while disconnected: cleared on the next connect. */
  private readonly pendingClears = new Map<string, string>();
  /** Our own empty configs, so their echo is not taken for a deletion by the user. */
  private readonly selfCleared = new Set<string>();
  /**
   * Bumped each time a device stops being known (removed, or deleted in Home Assistant): a send
   * that started before does not record what it sent for the device that came after.
   */
  private readonly generations = new Map<string, number>();

  constructor(
    private readonly ctx: EntityContext,
    private readonly out: Outbox,
    private readonly visibility: DiscoveryVisibility,
    private readonly logger: Logger,
    /** The entity layer: src/entities/registry's viewOf. */
    private readonly viewOf: (ctx: EntityContext, thing: ThingChange) => ThingView,
  ) {}

  /** Is this discovery object id one of this hub's (and not another node's)? */
  isOurs(deviceId: string): boolean {
    const hub = hubDeviceId(this.ctx);
    if (deviceId === hub) return true;
    return COUNTED_KINDS.some((k) => deviceId.startsWith(`${hub}_${k}_`));
  }

  async update(thing: ThingChange, force = false): Promise<void> {
    const view = this.viewOf(this.ctx, thing);
    if (this.visibility.isHidden(view.deviceId)) return;
    const generation = this.generation(view.deviceId);
    this.known.set(view.deviceId, { ref: { kind: thing.kind, id: thing.id }, stateTopic: view.stateTopic });
    this.pendingClears.delete(view.deviceId);
    if (!this.out.connected) return;
    const prev = this.sent.get(view.deviceId);
    const removed: Record<string, Platform> = {};
    for (const [field, p] of Object.entries(prev?.platforms ?? {})) if (!(field in view.components)) removed[field] = p;
    const config = JSON.stringify(discoveryMessage(this.ctx, view, removed));
    const state = JSON.stringify(view.state);
    const sends: Array<Promise<void>> = [];
    if (force || prev?.config !== config) sends.push(this.out.publish(discoveryTopic(this.ctx, view.deviceId), config, { retain: true }));
    if (force || prev?.state !== state) sends.push(this.out.publish(view.stateTopic, state, { retain: true }));
    await Promise.all(sends);
    // Removed (and maybe re-created) meanwhile: what Home Assistant has now is the removal, and
    // the device that came after sends its own.
    if (!this.known.has(view.deviceId) || this.generation(view.deviceId) !== generation) return;
    const platforms = Object.fromEntries(Object.entries(view.components).map(([f, c]) => [f, c.p]));
    this.sent.set(view.deviceId, { config, state, platforms });
  }

  async remove(ref: ThingRef): Promise<void> {
    // Settled before the first await: a thing re-created while the clears are out is not touched.
    const gone = [...this.known].filter(([, k]) => k.ref.kind === ref.kind && k.ref.id === ref.id);
    for (const [deviceId] of gone) this.forget(deviceId);
    if (gone.length === 0 && ref.kind !== 'hub') {
      // Not known: deleted in Home Assistant (hidden). Its last state is still retained under the
      // view's convention, and its id must be free for a new thing of the same name.
      const deviceId = thingDeviceId(this.ctx, ref.kind, ref.id);
      const forgetting = this.visibility.isHidden(deviceId) ? this.visibility.forget(deviceId) : Promise.resolve();
      await Promise.all([forgetting, this.clear(deviceId, `${this.ctx.base}/${ref.kind}/${ref.id}`)]);
      return;
    }
    await Promise.all(gone.map(([deviceId, k]) => this.clear(deviceId, k.stateTopic)));
  }

  /** Everything again: after (re)connecting, or when Home Assistant restarts. */
  async republishAll(things: ThingChange[]): Promise<void> {
    const clears = [...this.pendingClears];
    this.pendingClears.clear();
    await Promise.all(clears.map(([id, topic]) => this.clear(id, topic)));
    await Promise.all(things.map((t) => this.update(t, true)));
  }

  /** Retained configs found under this hub's ids at start that it no longer produces. */
  async clearStale(retained: Map<string, string | undefined>): Promise<string[]> {
    const stale = [...retained.keys()].filter((id) => this.isOurs(id) && !this.known.has(id));
    await Promise.all(stale.map((id) => this.clear(id, retained.get(id))));
    return stale;
  }

  /**
   * A config topic of ours emptied by someone else: Home Assistant deleting the device at the
   * user's request. The hub stops publishing it until the user shows it again.
   */
  async onConfigCleared(deviceId: string): Promise<void> {
    if (this.selfCleared.delete(deviceId)) return;
    if (!this.known.has(deviceId)) return;
    this.forget(deviceId);
    await this.visibility.hide(deviceId);
    this.logger.info({ device: deviceId }, 'Home Assistant deleted this device; no longer publishing it');
  }

  private generation(deviceId: string): number {
    return this.generations.get(deviceId) ?? 0;
  }

  /** No longer known nor sent; a send still out for it records nothing. */
  private forget(deviceId: string): void {
    this.known.delete(deviceId);
    this.sent.delete(deviceId);
    this.generations.set(deviceId, this.generation(deviceId) + 1);
  }

  private async clear(deviceId: string, stateTopic: string | undefined): Promise<void> {
    if (!this.out.connected) {
      this.pendingClears.set(deviceId, stateTopic ?? '');
      return;
    }
    this.selfCleared.add(deviceId);
    const sends = [this.out.publish(discoveryTopic(this.ctx, deviceId), '', { retain: true })];
    if (stateTopic && stateTopic.startsWith(`${this.ctx.base}/`)) sends.push(this.out.publish(stateTopic, '', { retain: true }));
    await Promise.all(sends);
  }
}
