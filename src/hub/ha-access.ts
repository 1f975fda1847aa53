/**
 * What managers may do with Home Assistant without knowing the bridge (as MqttAccess is for
 * MQTT): call a service, have Home Assistant evaluate a trigger, follow an entity. The Home
 * Assistant bridge implements it; without Home Assistant configured, every call says so.
 */

/** A service call as Home Assistant's `call_service` takes it. */
export interface ServiceCall {
  domain: string;
  service: string;
  service_data?: Record<string, unknown>;
  target?: Record<string, string | string[]>;
  return_response?: boolean;
}

/** What the hub reads of a trigger that fired: an event trigger's event data. */
export interface TriggerFired {
  eventData?: Record<string, unknown>;
}

/** An entity's state, as Home Assistant reports it; null while it does not exist. */
export interface EntityState {
  state: string;
  attributes: Record<string, unknown>;
}

export interface HaAccess {
  readonly connected: boolean;
  /** The service's response when return_response was asked for; rejects with Home Assistant's message. */
  callService(call: ServiceCall): Promise<unknown>;
  /**
   * Home Assistant evaluates the trigger (`subscribe_trigger`), so it means what it means in an
   * automation. Kept over reconnects; `refused` says why Home Assistant would not take it.
   */
  subscribeTrigger(trigger: Record<string, unknown>, fired: (t: TriggerFired) => void, refused: (message: string) => void): () => void;
  /**
   * Follows one entity: its state now (after each connect) and every change; null when it is gone.
   * `refused` says why Home Assistant will not let the hub follow it (no state comes then).
   */
  watchEntity(entityId: string, changed: (state: EntityState | null) => void, refused: (message: string) => void): () => void;
}
