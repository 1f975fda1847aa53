/**
 * A typed event bus (Zigbee2MQTT's eventBus, typed). The lowest module of the core: it knows no
 * event; events.ts says which there are.
 */
import { EventEmitter } from 'node:events';

/** Where a throwing listener is reported (the hub's logger). */
export interface ListenerErrors {
  error(details: object, message: string): void;
}

export class TypedBus<E extends object> {
  private readonly emitter = new EventEmitter();

  constructor(
    private readonly names: ReadonlyArray<keyof E & string>,
    private readonly errors: ListenerErrors,
  ) {
    this.emitter.setMaxListeners(100);
  }

  /** Returns the function that removes the listener; a throwing listener is logged, never fatal. */
  on<K extends keyof E & string>(event: K, listener: (payload: E[K]) => void | Promise<void>): () => void {
    const wrapped = (payload: E[K]): void => {
      try {
        const r = listener(payload);
        if (r instanceof Promise) r.catch((e: unknown) => this.errors.error({ err: e, event }, 'bus listener failed'));
      } catch (e) {
        this.errors.error({ err: e, event }, 'bus listener failed');
      }
    };
    this.emitter.on(event, wrapped);
    return () => this.emitter.off(event, wrapped);
  }

  /** Every event, for the WebSocket that forwards them all. */
  onAny(listener: <K extends keyof E & string>(event: K, payload: E[K]) => void): () => void {
    const offs = this.names.map((name) => this.on(name, (p) => listener(name, p)));
    return () => offs.forEach((off) => off());
  }

  emit<K extends keyof E & string>(event: K, payload: E[K]): void {
    this.emitter.emit(event, payload);
  }
}
