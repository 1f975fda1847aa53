/**
 * Users, sessions and API tokens through their whole life, over the HTTP API: what each credential
 * may do, what ends it (a new password, a new role, disabling, revoking, expiry), and what is never
 * shown again (passwords, token secrets).
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import WebSocket from 'ws';
import { after, before, describe, it } from 'node:test';
import { api, startHub, type HubHandle } from './helpers/hub.js';
import { until } from './helpers/wait.js';

let h: HubHandle;
const PASSWORD = 'correct horse battery';

type Session = { token: string; expires_at: string; user: { username: string; role: string } };

const login = (username: string, password = PASSWORD) => api<Session & { error?: string }>(h.http, null, 'POST', '/api/auth/login', { username, password });
const as = (token: string, method: string, path: string, body?: unknown) => api<Record<string, unknown> & { error?: string }>(h.http, token, method, path, body);

async function userWithSession(username: string, role: string): Promise<string> {
  const made = await h.api('POST', '/api/users', { username, password: PASSWORD, role });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const s = await login(username);
  assert.equal(s.status, 200, JSON.stringify(s.body));
  return s.body.token;
}

describe('users, sessions and API tokens', () => {
  before(async () => {
    h = await startHub();
    const agent = await h.api('POST', '/api/agents', { name: 'sleeper', command: 'sleep', args: ['60'], autostart: false });
    assert.equal(agent.status, 201);
  });
  after(() => h.stop());

  it('an operator logs in, starts and stops what exists, but cannot create, and never sees a password', async () => {
    const session = await userWithSession('olga', 'operator');
    const me = await as(session, 'GET', '/api/auth/me');
    assert.deepEqual(me.body, { username: 'olga', role: 'operator', via: 'session' });
    const listed = await h.api<Array<Record<string, unknown>>>('GET', '/api/users');
    const olga = listed.body.find((u) => u.username === 'olga');
    assert.deepEqual(Object.keys(olga!).sort(), ['created_at', 'enabled', 'role', 'updated_at', 'username']);
    assert.equal((await as(session, 'POST', '/api/agents/sleeper/start')).status, 200);
    assert.equal((await as(session, 'POST', '/api/agents/sleeper/stop')).status, 200);
    const create = await as(session, 'POST', '/api/agents', { name: 'mine', command: 'true' });
    assert.equal(create.status, 403);
    assert.equal(create.body.error, 'agent/create needs the admin role; olga is an operator');
    assert.equal((await h.api('GET', '/api/agents/mine')).status, 404, 'a refused create changes nothing');
    assert.equal((await as(session, 'GET', '/api/users')).status, 403);
    // A stream route beside the table: an upload is the admin's (a file a machine will carry out).
    const upload = async (token: string): Promise<{ status: number; error: string }> => {
      const form = new FormData();
      form.append('file', new Blob(['G28\n']), 'part.gcode');
      const r = await fetch(`${h.http}/api/devices/ghost/upload`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form });
      return { status: r.status, error: ((await r.json()) as { error: string }).error };
    };
    assert.deepEqual(await upload(session), { status: 403, error: 'POST /api/devices/:id/upload needs the admin role; olga is an operator' });
    assert.equal((await upload(h.token)).status, 404, 'the admin gets as far as the device');
  });

  it('refuses a wrong password, an unknown user and a disabled one alike, and logs the failure without the password', async () => {
    await userWithSession('walt', 'viewer');
    const wrong = await login('walt', 'not the password');
    const unknown = await login('nobody', 'whatever it is');
    assert.equal(wrong.status, 401);
    assert.equal(unknown.status, 401);
    assert.equal(wrong.body.error, unknown.body.error);
    const logged = h.logs.filter((l) => l.msg === 'failed login');
    assert.ok(logged.some((l) => l.username === 'walt'), JSON.stringify(logged));
    assert.ok(!JSON.stringify(h.logs).includes('not the password'), 'the password is not in the log');
  });

  it('a new password, a new role or disabling ends the sessions issued before; enabling lets the user log in again', async () => {
    const first = await userWithSession('pat', 'operator');
    assert.equal((await h.api('PUT', '/api/users/pat', { role: 'viewer' })).status, 200);
    assert.equal((await as(first, 'GET', '/api/auth/me')).status, 401, 'the session from before the role change');
    const second = (await login('pat')).body.token;
    assert.deepEqual((await as(second, 'GET', '/api/auth/me')).body, { username: 'pat', role: 'viewer', via: 'session' });
    assert.equal((await h.api('PUT', '/api/users/pat', { enabled: false })).status, 200);
    assert.equal((await as(second, 'GET', '/api/auth/me')).status, 401);
    assert.equal((await login('pat')).status, 401);
    assert.equal((await h.api('PUT', '/api/users/pat', { enabled: true, password: 'another long one' })).status, 200);
    assert.equal((await login('pat')).status, 401, 'the old password');
    assert.equal((await login('pat', 'another long one')).status, 200);
  });

  it('refresh renews a session (not an API token or the admin token)', async () => {
    const session = await userWithSession('rita', 'viewer');
    const renewed = await as(session, 'POST', '/api/auth/refresh');
    assert.equal(renewed.status, 200);
    assert.equal((renewed.body as unknown as Session).user.username, 'rita');
    assert.equal((await as((renewed.body as unknown as Session).token, 'GET', '/api/auth/me')).status, 200);
    const byAdmin = await h.api<{ error: string }>('POST', '/api/auth/refresh');
    assert.equal(byAdmin.status, 400);
    assert.match(byAdmin.body.error, /refresh renews a session/);
  });

  it('an API token is shown once, stored hashed, no stronger than its owner, revocable, and ends when it expires', async () => {
    const session = await userWithSession('tom', 'operator');
    const tooStrong = await as(session, 'POST', '/api/tokens', { name: 'ci', role: 'admin' });
    assert.equal(tooStrong.status, 400);
    const made = await as(session, 'POST', '/api/tokens', { name: 'dashboard', role: 'viewer' });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const secret = String(made.body.token);
    const id = String(made.body.id);
    assert.deepEqual((await as(secret, 'GET', '/api/auth/me')).body, { username: 'tom', role: 'viewer', via: 'api_token' });
    assert.equal((await as(secret, 'POST', '/api/agents/sleeper/start')).status, 403, 'the token is a viewer');
    const listed = await as(session, 'GET', '/api/tokens');
    assert.ok(!JSON.stringify(listed.body).includes(secret.split('_').slice(2).join('_')), 'a listing never shows the secret');
    assert.deepEqual((listed.body as unknown as Array<{ id: string }>).map((t) => t.id), [id]);
    // Someone else's token is unknown to a non-admin.
    const other = await userWithSession('una', 'operator');
    assert.equal((await as(other, 'DELETE', `/api/tokens/${id}`)).status, 404);
    assert.equal((await as(session, 'DELETE', `/api/tokens/${id}`)).status, 200);
    assert.equal((await as(secret, 'GET', '/api/auth/me')).status, 401);

    const soon = await as(session, 'POST', '/api/tokens', { name: 'short', expires_at: new Date(Date.now() + 1500).toISOString() });
    assert.equal(soon.status, 201);
    assert.equal((await as(String(soon.body.token), 'GET', '/api/auth/me')).status, 200);
    await until('the token expires', () => as(String(soon.body.token), 'GET', '/api/auth/me'), (r) => r.status === 401, { timeoutMs: 10_000 });
    assert.equal((await as(session, 'POST', '/api/tokens', { name: 'past', expires_at: '2001-01-01T00:00:00Z' })).status, 400);
  });

  it('makes no token with a token or the admin token, and a weaker token cannot revoke a stronger one', async () => {
    const session = await userWithSession('ivy', 'operator');
    const strong = await as(session, 'POST', '/api/tokens', { name: 'deploy' });
    const weak = await as(session, 'POST', '/api/tokens', { name: 'dashboard', role: 'viewer' });
    const byToken = await as(String(weak.body.token), 'POST', '/api/tokens', { name: 'child' });
    assert.equal(byToken.status, 400);
    assert.match(String(byToken.body.error), /an API token makes no API tokens/);
    const byRoot = await h.api<{ error: string }>('POST', '/api/tokens', { name: 'root' });
    assert.equal(byRoot.status, 400);
    assert.match(byRoot.body.error, /the admin token makes no API tokens/);
    assert.equal((await as(String(weak.body.token), 'DELETE', `/api/tokens/${String(strong.body.id)}`)).status, 404);
    assert.equal((await as(String(strong.body.token), 'GET', '/api/auth/me')).status, 200);
    assert.equal((await as(String(strong.body.token), 'DELETE', `/api/tokens/${String(weak.body.id)}`)).status, 200);
  });

  it('takes a body\'s fields from the body only: a query cannot add to them (a password in a URL) or override them', async () => {
    await userWithSession('quinn', 'viewer');
    const r = await api<{ error: string }>(h.http, null, 'POST', '/api/auth/login?username=quinn', { username: 'nobody', password: PASSWORD });
    assert.equal(r.status, 400);
    assert.match(r.body.error, /query: unknown field "username"/);
  });

  it('ends the event streams of a user whose role changes, the device telemetry too', async () => {
    const session = await userWithSession('sam', 'operator');
    const socket = new WebSocket(`${h.http.replace('http', 'ws')}/api/events?types=thing.changed`, { headers: { authorization: `Bearer ${session}` } });
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    await new Promise((resolve, reject) => socket.once('message', resolve).once('error', reject));
    // A device's telemetry WebSocket is a stream of its own: it ends all the same.
    assert.equal((await h.api('POST', '/api/devices', { name: 'meter', protocol: 'line', autoconnect: false, connection: { transport: 'tcp', host: '127.0.0.1', port: 9 } })).status, 201);
    const telemetry = new WebSocket(`${h.http.replace('http', 'ws')}/api/devices/meter/telemetry`, { headers: { authorization: `Bearer ${session}` } });
    const telemetryClosed = new Promise<number>((resolve) => telemetry.once('close', (code) => resolve(code)));
    await new Promise((resolve, reject) => telemetry.once('message', resolve).once('error', reject));
    assert.equal((await h.api('PUT', '/api/users/sam', { role: 'viewer' })).status, 200);
    assert.deepEqual(await Promise.all([closed, telemetryClosed]), [4401, 4401]);
  });

  it('a user\'s tokens end with the user: deleted, or disabled', async () => {
    const session = await userWithSession('dan', 'operator');
    const token = String((await as(session, 'POST', '/api/tokens', { name: 'script' })).body.token);
    assert.equal((await as(token, 'GET', '/api/auth/me')).status, 200);
    await h.api('PUT', '/api/users/dan', { enabled: false });
    assert.equal((await as(token, 'GET', '/api/auth/me')).status, 401);
    await h.api('PUT', '/api/users/dan', { enabled: true });
    assert.equal((await as(token, 'GET', '/api/auth/me')).status, 200);
    assert.equal((await h.api('DELETE', '/api/users/dan')).status, 200);
    assert.equal((await as(token, 'GET', '/api/auth/me')).status, 401);
    assert.equal((await h.api('GET', '/api/users/dan')).status, 404);
  });

  it('refuses bad users with a clear error and changes nothing', async () => {
    const cases: Array<[unknown, number, RegExp]> = [
      [{ username: 'admin', password: PASSWORD, role: 'admin' }, 400, /reserved/],
      [{ username: 'homeassistant', password: PASSWORD, role: 'operator' }, 400, /reserved/],
      [{ username: 'shorty', password: 'short', role: 'viewer' }, 400, /at least 8/],
      [{ username: 'Bad Name', password: PASSWORD, role: 'viewer' }, 400, /username/],
      [{ username: 'king', password: PASSWORD, role: 'root' }, 400, /role/],
    ];
    for (const [body, status, error] of cases) {
      const r = await h.api<{ error: string }>('POST', '/api/users', body);
      assert.equal(r.status, status, JSON.stringify(body));
      assert.match(r.body.error, error);
    }
    await userWithSession('dup', 'viewer');
    assert.equal((await h.api('POST', '/api/users', { username: 'dup', password: PASSWORD, role: 'admin' })).status, 409);
    const names = (await h.api<Array<{ username: string; role: string }>>('GET', '/api/users')).body;
    assert.ok(!names.some((u) => ['admin', 'homeassistant', 'shorty', 'king'].includes(u.username)));
    assert.equal(names.find((u) => u.username === 'dup')?.role, 'viewer');
  });

  it('limits logins per user and address, and the limit of one user does not lock out another', async () => {
    await userWithSession('lim', 'viewer');
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await login('lim', 'wrong password!')).status);
    assert.deepEqual(statuses.slice(0, 9).filter((s) => s !== 401), []);
    const last = await login('lim');
    assert.equal(last.status, 429, 'even the right password, once the limit is reached');
    assert.match(String(last.body.error), /too many attempts; try again in \d+ s/);
    assert.equal((await login('walt2', 'wrong password!')).status, 401, 'another user name from the same address');
  });

  it('takes the Authorization scheme in any case, and ?token= only on a real WebSocket', async () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      const r = await api(h.http, null, 'GET', '/api/info', undefined, { authorization: `${scheme} ${h.token}` });
      assert.equal(r.status, 200, scheme);
    }
    assert.equal((await api(h.http, null, 'GET', `/api/info?token=${h.token}`)).status, 401);
    // fetch() will not send Upgrade: a plain request that says it, as a hand-made client would.
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${h.http}/api/info?token=${h.token}`, { headers: { upgrade: 'websocket' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 401, 'a plain request that only says Upgrade');
  });

  it('audits every change with who, the edge and the outcome, and only an admin may read it', async () => {
    const session = await userWithSession('aud', 'operator');
    await as(session, 'POST', '/api/agents/sleeper/start');
    await as(session, 'DELETE', '/api/agents/sleeper');
    const read = await as(session, 'GET', '/api/audit');
    assert.equal(read.status, 403);
    type Entry = { username: string; role: string; edge: string; operation: string; thing: string | null; outcome: string };
    const audit = await h.api<Entry[]>('GET', '/api/audit?username=aud');
    assert.deepEqual(
      audit.body.map((e) => [e.username, e.role, e.edge, e.operation, e.thing, e.outcome]),
      [
        // A refused read is recorded too.
        ['aud', 'operator', 'http', 'audit/list', null, 'refused'],
        ['aud', 'operator', 'http', 'agent/delete', 'sleeper', 'refused'],
        ['aud', 'operator', 'http', 'agent/start', 'sleeper', 'ok'],
      ],
    );
    const byAdmin = await h.api<Array<{ username: string; operation: string; thing: string | null }>>('GET', '/api/audit?operation=user/create&limit=1');
    assert.deepEqual(byAdmin.body.map((e) => [e.username, e.operation, e.thing]), [['admin', 'user/create', 'aud']]);
    assert.equal((await h.api('GET', '/api/audit?limit=0')).status, 400);
    await as(session, 'POST', '/api/agents/sleeper/stop');
  });
});
