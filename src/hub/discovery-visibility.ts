/**
 * Devices the user deleted in Home Assistant: the hub stops publishing them, persisted, until the
 * user shows them again through the API or panel.
 */
import type { DataSource, Repository } from 'typeorm';
import type { EventBus } from './events.js';
import { HiddenDevice, type HiddenDeviceRow } from './db/schema.js';

export class DiscoveryVisibility {
  private readonly repo: Repository<HiddenDeviceRow>;
  private hidden = new Map<string, number>();

  constructor(
    db: DataSource,
    private readonly bus: EventBus,
  ) {
    this.repo = db.getRepository(HiddenDevice);
  }

  async load(): Promise<void> {
    this.hidden = new Map((await this.repo.find()).map((r) => [r.device_id, r.hidden_at]));
  }

  isHidden(deviceId: string): boolean {
    return this.hidden.has(deviceId);
  }

  list(): Array<{ device_id: string; hidden_at: string }> {
    return [...this.hidden].map(([device_id, at]) => ({ device_id, hidden_at: new Date(at).toISOString() }));
  }

  async hide(deviceId: string): Promise<void> {
    const at = Date.now();
    await this.repo.save({ device_id: deviceId, hidden_at: at });
    this.hidden.set(deviceId, at);
    this.bus.emit('bridge.event', { type: 'device_hidden', data: { device_id: deviceId } });
  }

  /**
   * The device no longer exists (its thing was deleted): the row goes, without `discovery.shown`,
   * so that a new thing with the same id is published. Returns false when it was not hidden.
   */
  async forget(deviceId: string): Promise<boolean> {
    if (!this.hidden.has(deviceId)) return false;
    // Synchronously first: a thing re-created at once must already be visible.
    this.hidden.delete(deviceId);
    await this.repo.delete({ device_id: deviceId });
    return true;
  }

  /** Returns false when the device was not hidden. */
  async show(deviceId: string): Promise<boolean> {
    if (!this.hidden.has(deviceId)) return false;
    await this.repo.delete({ device_id: deviceId });
    this.hidden.delete(deviceId);
    this.bus.emit('discovery.shown', { device_id: deviceId });
    return true;
  }
}
