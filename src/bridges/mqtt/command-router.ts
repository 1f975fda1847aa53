/**
 * Routes `<base>/<kind>/<id>/set` to the command registry. A bare word is `{ "action": word }`;
 * JSON must be an object. `<base>/<kind>/<id>/<field>/set` carries one field's bare value. A command that cannot be carried out becomes a `command_rejected`
 * event on `<base>/bridge/event` with the reason; nothing changes and the hub keeps running.
 * A retained command is rejected so (it would run again at every (re)subscription); an empty
 * message, the clearing of a retained one, is ignored.
 */
import type { IPublishPacket } from 'mqtt';
import type { EventBus } from '../../hub/events.js';
import type { CommandRegistry } from '../../hub/commands.js';
import { HubError } from '../../hub/errors.js';
import type { Logger } from '../../hub/logger.js';
import type { Principal } from '../../hub/users/types.js';

const WORD = /^[a-z_]{1,40}$/;
const MAX_PAYLOAD = 64 * 1024;
const MAX_FIELD_VALUE = 1024;
export const RETAINED_COMMAND = 'retained commands are ignored: clear the retained message';

/** The payload as a command object, or why it is not one. */
export function readCommand(payload: Buffer): { command: Record<string, unknown> } | { error: string } {
  if (payload.length > MAX_PAYLOAD) return { error: `command is ${payload.length} bytes; at most ${MAX_PAYLOAD}` };
  const text = payload.toString('utf8').trim();
  if (text.startsWith('{')) {
    try {
      const doc = JSON.parse(text) as unknown;
      if (typeof doc === 'object' && doc !== null && !Array.isArray(doc)) return { command: doc as Record<string, unknown> };
    } catch (e) {
      return { error: `command is not valid JSON: ${(e as Error).message}` };
    }
  }
  if (WORD.test(text)) return { command: { action: text } };
  return { error: `command must be a word like "start" or a JSON object with "action", not ${JSON.stringify(text.slice(0, 80))}` };
}

export class CommandRouter {
  constructor(
    private readonly base: string,
    private readonly commands: CommandRegistry,
    private readonly bus: EventBus,
    private readonly logger: Logger,
  ) {}

  get filter(): string {
    return `${this.base}/+/+/set`;
  }

  /** `<base>/<kind>/<id>/<field>/set`: one field's new value, bare. */
  get fieldFilter(): string {
    return `${this.base}/+/+/+/set`;
  }

  async route(topic: string, payload: Buffer, packet: Pick<IPublishPacket, 'retain'>, principal: Principal): Promise<void> {
    const parts = topic.slice(this.base.length + 1).split('/');
    const [kind, id] = parts;
    const field = parts.length === 4 ? parts[2]! : null;
    // A field topic of a kind without fields (bridge/request/x/set…) is not a command to anyone.
    if (field !== null && !this.commands.hasFields(kind!)) return;
    const reject = (error: string): void =>
      this.bus.emit('bridge.event', {
        type: 'command_rejected',
        data: { kind: kind!, id: id!, ...(field !== null ? { field } : {}), topic, payload: payload.toString('utf8').slice(0, 200), error },
      });
    // An empty message clears a retained one (as the rejection below asks): nothing to run.
    if (payload.length === 0) return;
    // Delivered because it is retained, not because someone just sent it: it would run again at
    // every (re)subscription, so it never runs.
    if (packet.retain) {
      this.logger.warn({ topic }, RETAINED_COMMAND);
      return reject(RETAINED_COMMAND);
    }
    try {
      if (field !== null) {
        if (payload.length > MAX_FIELD_VALUE) return reject(`a field value is at most ${MAX_FIELD_VALUE} bytes`);
        await this.commands.runField(kind!, id!, field, payload.toString('utf8'), { edge: 'mqtt', principal });
        return;
      }
      const read = readCommand(payload);
      if ('error' in read) return reject(read.error);
      await this.commands.run(kind!, id!, read.command, { edge: 'mqtt', principal });
    } catch (e) {
      if (!(e instanceof HubError)) this.logger.error({ err: e, topic }, 'command failed');
      reject(e instanceof HubError ? e.message : 'internal error; see the hub log');
    }
  }
}
