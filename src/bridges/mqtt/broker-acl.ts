/**
 * Who may publish, subscribe and receive what on the embedded broker. Only the hub writes its state
 * topics and everything under the discovery prefix (Home Assistant would show any config there,
 * with buttons that publish as its operator user); Home Assistant may say it is online and clear a
 * device's config (the user deleting a device there). A viewer reads: it publishes bridge requests
 * and `/set` commands only (the operation table checks their role and says why it refuses).
 * Operators and admins also use every other topic.
 */
import type { Principal } from '../../hub/users/types.js';
import { topicMatches } from './connection.js';

/** A signed-in client: what it proved, and the two users whose rights are by name. */
export interface Identity {
  principal: Principal;
  kind: 'hub' | 'homeassistant' | 'user';
}

/** Where a refused publish goes instead: a `$SYS` topic no one receives (see mayForward). */
export const REFUSED_TOPIC = '$SYS/hearth/refused';

export class BrokerAcl {
  constructor(
    private readonly base: string,
    private readonly discoveryPrefix: string,
  ) {}

  get requests(): string {
    return `${this.base}/bridge/request/#`;
  }

  get responses(): string {
    return `${this.base}/bridge/response/#`;
  }

  /** `<base>/<kind>/<id>/set` and `<base>/<kind>/<id>/<field>/set`: commands, not the bridge's own topics. */
  isCommand(topic: string): boolean {
    if (!topicMatches(`${this.base}/+/+/set`, topic) && !topicMatches(`${this.base}/+/+/+/set`, topic)) return false;
    return !topic.startsWith(`${this.base}/bridge/`);
  }

  isRequest(topic: string): boolean {
    return topicMatches(this.requests, topic);
  }

  /** Why the publish is refused, or null when it may go. */
  refusePublish(who: Identity, topic: string, payload: Buffer): string | null {
    if (who.kind === 'hub') return null;
    if (topic.startsWith('$')) return '$ topics are the broker\'s';
    // Anything else could fire an MQTT-triggered task or command another integration on this broker.
    // Requests and commands go on: the operation table refuses them by role, and says why (a response, a command_rejected event).
    if (who.principal.role === 'viewer' && !this.isRequest(topic) && !this.isCommand(topic)) return `a viewer publishes only bridge requests and /set commands`;
    if (topic === this.base || topic.startsWith(`${this.base}/`)) {
      if (this.isRequest(topic) || this.isCommand(topic)) return null;
      return `only the hub publishes under ${this.base}/ (but bridge requests and /set commands)`;
    }
    const prefix = this.discoveryPrefix;
    if (topic === `${prefix}/status`) {
      return who.kind === 'homeassistant' ? null : `only Home Assistant's user publishes ${topic}`;
    }
    if (topic === prefix || topic.startsWith(`${prefix}/`)) {
      // Home Assistant clears a device's config when the user deletes the device there.
      if (who.kind === 'homeassistant' && payload.length === 0 && topicMatches(`${prefix}/device/+/config`, topic)) return null;
      return `only the hub publishes under ${prefix}/ (Home Assistant's user may clear a device's config)`;
    }
    return null;
  }

  /** `$SYS` shows every client id: the hub and admins only. */
  maySubscribe(who: Identity, filter: string): boolean {
    if (!filter.startsWith('$')) return true;
    return who.kind === 'hub' || who.principal.role === 'admin';
  }

  /**
   * Whether a message reaches a subscriber. Bridge requests carry passwords and env values: the hub
   * takes them from the broker, no one else gets them. A response is only ever sent to its asker
   * (without a publisher's client id); one that a client published is not passed on.
   */
  mayForward(topic: string, fromClient: boolean): boolean {
    if (topic === REFUSED_TOPIC || this.isRequest(topic)) return false;
    return !(fromClient && topicMatches(this.responses, topic));
  }
}
