/**
 * A stand-in for Home Assistant's Supervisor API, for the add-on's run script: the two requests
 * bashio makes for it, answered as the Supervisor answers them (supervisor/api/: security
 * middleware, apps.py options_config, services.py get_service_v1, utils.py api_return_*).
 * - No bearer token: 401 (aiohttp's text body); a token that is not the app's: 403.
 * - GET /addons/self/options/config: `{ "result": "ok", "data": <the app's options> }`.
 * - GET /services/mqtt: the service's data wrapped the same way, with the providing app under
 *   `addon` (the v1 API); when no app provides it, 400 `{ "result": "error", "message": "Service not enabled" }`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { onCleanup } from './cleanup.js';

export interface MqttService {
  host: string;
  /** The Supervisor stores an int; older ones and hand-made answers give a string. */
  port: number | string;
  ssl: boolean;
  username?: string;
  password?: string;
  protocol: string;
}

export interface SupervisorState {
  token: string;
  options: Record<string, unknown>;
  /** `null`: no app provides MQTT (the Mosquitto broker app is not installed or not started). */
  mqtt: MqttService | null;
}

export interface FakeSupervisor {
  url: string;
  /** Every request: its path and whether it carried the app's token. */
  requests: Array<{ path: string; authorized: boolean }>;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(body);
}

export async function startFakeSupervisor(state: SupervisorState): Promise<FakeSupervisor> {
  const requests: FakeSupervisor['requests'] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://supervisor').pathname;
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    requests.push({ path, authorized: token === state.token });
    if (!token) return text(res, 401, '401: Unauthorized');
    if (token !== state.token) return text(res, 403, '403: Forbidden');
    if (req.method === 'GET' && path === '/addons/self/options/config') return json(res, 200, { result: 'ok', data: state.options });
    if (req.method === 'GET' && path === '/services/mqtt') {
      if (!state.mqtt) return json(res, 400, { result: 'error', message: 'Service not enabled' });
      return json(res, 200, { result: 'ok', data: { ...state.mqtt, addon: 'core_mosquitto' } });
    }
    return text(res, 404, '404: Not Found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}
