/**
 * What managers may do on MQTT without knowing the bridge: subscribe to a topic (a health
 * heartbeat, a task trigger) and publish (a task action). The MQTT bridge implements it.
 */
export interface MqttAccess {
  readonly connected: boolean;
  /** Returns the function that unsubscribes. Handlers get the payload as text. */
  subscribe(filter: string, handler: (topic: string, payload: string) => void): () => void;
  publish(topic: string, payload: string, opts?: { retain?: boolean; qos?: 0 | 1 | 2 }): Promise<void>;
}
