/** A feature of the hub with a lifecycle (Zigbee2MQTT's extension): started in order, stopped in reverse. */
export interface Extension {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}
