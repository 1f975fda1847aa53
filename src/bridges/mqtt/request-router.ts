/**
 * Routes `<base>/bridge/request/<path>` to the operation of that name and answers on
 * `<base>/bridge/response/<path>`, or on the MQTT 5 response topic with its correlation data.
 * A retained request is ignored (it would run again at every (re)subscription), and route() never
 * rejects: an answer that cannot be sent (the connection closed meanwhile) is logged. An operation
 * whose answer is a secret is refused here: over MQTT an answer may reach more than its asker.
 */
import type { IPublishPacket } from 'mqtt';
import type { Logger } from '../../hub/logger.js';
import { HubError } from '../../hub/errors.js';
import type { OperationTable } from '../../hub/operations/table.js';
import type { Principal } from '../../hub/users/types.js';

export interface Response {
  status: 'ok' | 'error';
  data?: unknown;
  error?: string;
  transaction?: unknown;
}

type RequestPacket = Pick<IPublishPacket, 'retain' | 'properties'>;

/** Sends the answer; it gets the request's packet too (the embedded broker's carries the way back to its asker). */
type Reply<P> = (topic: string, payload: string, correlationData: Buffer | undefined, request: P) => Promise<void>;

/** The payload as JSON: empty means {}; anything but an object is refused. */
export function readRequest(payload: Buffer): { body: Record<string, unknown>; transaction?: unknown } | { error: string } {
  const text = payload.toString('utf8').trim();
  if (text === '') return { body: {} };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return { error: `payload is not valid JSON: ${(e as Error).message}` };
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return { error: 'payload must be a JSON object' };
  const { transaction, ...body } = doc as Record<string, unknown>;
  return transaction === undefined ? { body } : { body, transaction };
}

export class RequestRouter<P extends RequestPacket = RequestPacket> {
  constructor(
    private readonly base: string,
    private readonly operations: OperationTable,
    private readonly reply: Reply<P>,
    private readonly logger: Logger,
  ) {}

  get filter(): string {
    return `${this.base}/bridge/request/#`;
  }

  async route(topic: string, payload: Buffer, packet: P, principal: Principal): Promise<void> {
    const path = topic.slice(`${this.base}/bridge/request/`.length);
    // Delivered because it is retained, not because someone just sent it: it would run again at
    // every (re)subscription. An empty retained message is the clearing of one.
    if (packet.retain) {
      if (payload.length > 0) this.logger.warn({ topic }, 'retained bridge requests are ignored: clear the retained message');
      return;
    }
    const req = readRequest(payload);
    let response: Response;
    if ('error' in req) {
      response = { status: 'error', error: req.error };
    } else {
      try {
        if (this.operations.get(path).secret) throw new HubError('forbidden', `${path} answers a secret: use the HTTP API`);
        const data = await this.operations.run(path, req.body, { edge: 'mqtt', principal });
        response = { status: 'ok', data: data ?? {} };
      } catch (e) {
        if (!(e instanceof HubError)) this.logger.error({ err: e, path }, 'bridge request failed');
        response = { status: 'error', error: e instanceof HubError ? e.message : 'internal error; see the hub log' };
      }
      if (req.transaction !== undefined) response.transaction = req.transaction;
    }
    const props = packet.properties;
    const target = props?.responseTopic ?? `${this.base}/bridge/response/${path}`;
    try {
      await this.reply(target, JSON.stringify(response), props?.correlationData, packet);
    } catch (e) {
      // The connection closed while the request ran (a broker restart, the hub restarting, the asker gone).
      this.logger.warn({ path, err: (e as Error).message }, 'could not answer a bridge request');
    }
  }
}
