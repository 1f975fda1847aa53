/**
 * WebSocket /api/devices/{id}/telemetry: the device's state first, then as they happen its
 * telemetry values, the raw lines both ways and its state changes (status, upload progress), each
 * as { type, data }. A client that does not keep up is closed (1013), as on /api/events (the same sender).
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { HubError } from '../../../hub/errors.js';
import type { ApiContext } from '../context.js';
import { eventFanout } from '../event-fanout.js';
import { jsonSender, REVOKED_CODE } from './events.js';

const Params = Type.Object({ id: Type.String({ pattern: '^[a-z0-9_]+$', maxLength: 100 }) });
const Query = Type.Object({ token: Type.Optional(Type.String({ description: 'The admin token, for browsers' })) });
/** 4404: the WebSocket's own "not found" (4000-4999 are the application's codes). */
export const NO_SUCH_DEVICE = 4404;

export function deviceTelemetrySocket(app: FastifyInstance, ctx: ApiContext): void {
  app.get<{ Params: Static<typeof Params>; Querystring: Static<typeof Query> }>(
    '/api/devices/:id/telemetry',
    {
      websocket: true,
      config: { socket: true },
      schema: {
        tags: ['devices', 'live'],
        summary: 'WebSocket: the device\'s state, then its telemetry, raw lines (rx/tx) and state changes as { type, data }',
        description: 'types: `state` (the whole device state), `telemetry` ({ values, at }), `line` ({ direction, line, at }). An unknown device closes with 4404.',
        params: Params,
        querystring: Query,
      },
    },
    (socket, req) => {
      const id = req.params.id;
      let first;
      try {
        first = ctx.devices.get(id);
      } catch (e) {
        socket.close(NO_SUCH_DEVICE, (e instanceof HubError ? e.message : 'no such device').slice(0, 120));
        return;
      }
      const offs: Array<() => void> = [];
      const off = (): void => offs.splice(0).forEach((f) => f());
      const send = jsonSender(socket, off);
      offs.push(
        ctx.bus.on('device.telemetry', (t) => {
          if (t.id === id) send('telemetry', { values: t.values, at: new Date(t.at).toISOString() });
        }),
        ctx.bus.on('device.line', (l) => {
          if (l.id === id) send('line', { direction: l.direction, line: l.line, at: new Date(l.at).toISOString() });
        }),
        ctx.bus.on('thing.changed', (t) => {
          if (t.kind === 'device' && t.id === id) send('state', t.state);
        }),
        ctx.bus.on('thing.removed', (t) => {
          if (t.kind === 'device' && t.id === id) socket.close(1000, 'the device was deleted');
        }),
      );
      offs.push(eventFanout(ctx.bus).hold({ username: req.principal?.username ?? '', end: () => socket.close(REVOKED_CODE, 'credentials changed: sign in again') }));
      send('state', first);
      socket.on('close', off);
      socket.on('error', off);
    },
  );
}
