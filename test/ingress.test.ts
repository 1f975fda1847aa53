/**
 * Home Assistant ingress over real sockets. The Supervisor's proxy is a loopback alias here (Linux
 * routes all of 127/8 to lo; a client picks its source with `localAddress`), and it speaks as the
 * Supervisor does: the user in X-Remote-User-Id/-Name/-Display-Name, the prefix in X-Ingress-Path,
 * the path with the prefix stripped. The headers count only on a connection from the proxy's
 * address, on every kind of route; anything else needs a token as always.
 */
import assert from 'node:assert/strict';
import { request, type IncomingHttpHeaders } from 'node:http';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { onSseEvents } from './helpers/sse.js';
import { startHub, type HubHandle } from './helpers/hub.js';

const PROXY = '127.0.0.2';
const ELSEWHERE = '127.0.0.1';
/** The Supervisor's ingress proxy in a real add-on (HEARTH_INGRESS_PROXY's default). */
const SUPERVISOR = '172.30.32.2';
/** What Home Assistant serves the add-on under: /api/hassio_ingress/<token>. */
const PREFIX = '/api/hassio_ingress/Jq3mV0wX_Zk-8aR2';

/** The headers the Supervisor sets for a signed-in Home Assistant user. */
const haUser = (name: string): Record<string, string> => ({
  'x-remote-user-id': `0123456789abcdef-${name}`,
  'x-remote-user-name': name,
  'x-remote-user-display-name': `${name[0]!.toUpperCase()}${name.slice(1)} Example`,
});

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  body: Record<string, unknown> & { error?: string };
}

/** One request over a connection from `from`, as the proxy (or anyone else) would send it. */
function call(base: string, from: string, method: string, path: string, opts: { headers?: Record<string, string>; body?: Buffer | object } = {}): Promise<Answer> {
  const json = opts.body !== undefined && !Buffer.isBuffer(opts.body);
  const payload = opts.body === undefined ? undefined : Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(JSON.stringify(opts.body));
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, localAddress: from, headers: { ...(json ? { 'content-type': 'application/json' } : {}), ...opts.headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let body: Answer['body'] = {};
        try {
          body = JSON.parse(text) as Answer['body'];
        } catch {
          // not JSON: the test reads the text
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** A WebSocket from `from`: its first message, or the HTTP status that refused it, and how it closed. */
function socket(base: string, from: string, path: string, headers: Record<string, string>): Promise<{ status: number; first?: string; closed?: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace('http', 'ws')}${path}`, { headers, localAddress: from });
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0 });
      ws.terminate();
    });
    ws.once('message', (data) => {
      resolve({ status: 101, first: (JSON.parse(String(data)) as { type: string }).type });
      ws.close();
    });
    ws.once('close', (code) => resolve({ status: 101, closed: code }));
    ws.once('error', (e) => (e.message.startsWith('Unexpected server response') ? undefined : reject(e)));
  });
}

/** GET /api/events/stream from `from`: the status, and the first event's name when it opened. */
function sse(base: string, from: string, headers: Record<string, string>): Promise<{ status: number; first?: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}/api/events/stream`, { localAddress: from, headers }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        resolve({ status: res.statusCode ?? 0 });
        return;
      }
      res.on('error', () => undefined);
      onSseEvents(res, (event) => {
        resolve({ status: 200, first: event });
        req.destroy();
      });
    });
    req.on('error', (e) => (req.destroyed ? undefined : reject(e)));
    req.end();
  });
}

/** A multipart body with one file, as a browser's form sends it. */
async function oneFile(): Promise<{ body: Buffer; type: string }> {
  const form = new FormData();
  form.append('file', new Blob(['G28\n']), 'part.gcode');
  const r = new Response(form);
  return { body: Buffer.from(await r.arrayBuffer()), type: r.headers.get('content-type')! };
}

/** True when a socket can take `address` as its own here (the address is on an interface). */
async function canBind(address: string): Promise<boolean> {
  const srv = createServer();
  const ok = await new Promise<boolean>((resolve) => {
    srv.once('error', () => resolve(false));
    srv.listen(0, address, () => resolve(true));
  });
  if (ok) await new Promise((r) => srv.close(r));
  return ok;
}

describe('Home Assistant ingress', () => {
  let h: HubHandle;
  const me = (from: string, headers: Record<string, string>) => call(h.http, from, 'GET', '/api/auth/me', { headers });
  const admin = (): Record<string, string> => ({ authorization: `Bearer ${h.token}` });

  before(async () => {
    // "Walt": the map matches in lower case, as Home Assistant keeps its user names (walt).
    h = await startHub({ HEARTH_INGRESS: 'true', HEARTH_INGRESS_PROXY: PROXY, HEARTH_INGRESS_ROLES: 'olga=operator, Walt=viewer, jürgen=viewer' });
    const agent = await h.api('POST', '/api/agents', { name: 'sleeper', command: 'sleep', args: ['60'], autostart: false });
    assert.equal(agent.status, 201, JSON.stringify(agent.body));
  });
  after(() => h.stop());

  it('from the proxy, the Home Assistant user is the caller, with the role HEARTH_INGRESS_ROLES gives', async () => {
    assert.deepEqual((await me(PROXY, haUser('olga'))).body, { username: 'ha:olga', role: 'operator', via: 'ingress' });
    assert.equal((await call(h.http, PROXY, 'POST', '/api/agents/sleeper/start', { headers: haUser('olga') })).status, 200);
    assert.equal((await h.api<{ status: string }>('GET', '/api/agents/sleeper')).body.status, 'running');
    assert.equal((await call(h.http, PROXY, 'POST', '/api/agents/sleeper/stop', { headers: haUser('olga') })).status, 200);
    const create = await call(h.http, PROXY, 'POST', '/api/agents', { headers: haUser('olga'), body: { name: 'olgas', command: 'true' } });
    assert.deepEqual([create.status, create.body.error], [403, 'agent/create needs the admin role; ha:olga is an operator']);
    assert.equal((await h.api('GET', '/api/agents/olgas')).status, 404, 'a refused create changes nothing');

    const viewer = await call(h.http, PROXY, 'POST', '/api/agents/sleeper/start', { headers: haUser('walt') });
    assert.deepEqual([viewer.status, viewer.body.error], [403, 'agent/start needs the operator role; ha:walt is a viewer']);
    assert.equal((await call(h.http, PROXY, 'GET', '/api/agents/sleeper', { headers: haUser('walt') })).status, 200, 'a viewer reads');

    // Home Assistant sends a name as UTF-8 bytes (what Node reads as latin1 text).
    const jurgen = haUser(Buffer.from('jürgen').toString('latin1'));
    assert.deepEqual((await me(PROXY, jurgen)).body, { username: 'ha:jürgen', role: 'viewer', via: 'ingress' });

    // Not in the map: "*", admin by default (only Home Assistant's admins see an add-on's panel).
    assert.deepEqual((await me(PROXY, haUser('anna'))).body, { username: 'ha:anna', role: 'admin', via: 'ingress' });
    assert.equal((await call(h.http, PROXY, 'POST', '/api/agents', { headers: haUser('anna'), body: { name: 'annas', command: 'true', autostart: false } })).status, 201);

    // The audit names the Home Assistant user, on the HTTP edge.
    type Entry = { username: string; role: string; edge: string; operation: string; thing: string | null; outcome: string };
    const audit = (await h.api<Entry[]>('GET', '/api/audit?limit=20')).body.filter((e) => e.username.startsWith('ha:'));
    const seen = audit.map((e) => [e.username, e.role, e.edge, e.operation, e.thing, e.outcome]).reverse();
    assert.deepEqual(seen, [
      ['ha:olga', 'operator', 'http', 'agent/start', 'sleeper', 'ok'],
      ['ha:olga', 'operator', 'http', 'agent/stop', 'sleeper', 'ok'],
      ['ha:olga', 'operator', 'http', 'agent/create', null, 'refused'],
      ['ha:walt', 'viewer', 'http', 'agent/start', 'sleeper', 'refused'],
      ['ha:anna', 'admin', 'http', 'agent/create', 'annas', 'ok'],
    ]);
  });

  it('makes no API token for a Home Assistant user (it could never be used: ha:<name> is no Hearth user)', async () => {
    const r = await call(h.http, PROXY, 'POST', '/api/tokens', { headers: haUser('anna'), body: { name: 'script' } });
    assert.deepEqual([r.status, r.body.error], [400, 'a Home Assistant user (ingress) makes no API tokens: add a Hearth user (hearth user add) and make tokens as that user']);
    assert.deepEqual((await h.api<unknown[]>('GET', '/api/tokens')).body, [], 'no token was made');
  });

  it('takes the Home Assistant user on every stream too: WebSockets, Server-Sent Events, uploads, job output', async () => {
    // Only the headers: no token in the query, none in a header.
    assert.deepEqual(await socket(h.http, PROXY, '/api/events', haUser('walt')), { status: 101, first: 'hello' });
    assert.deepEqual(await socket(h.http, ELSEWHERE, '/api/events', haUser('walt')), { status: 401 });
    // Past the credential check, the device's own answer: it does not exist.
    assert.deepEqual(await socket(h.http, PROXY, '/api/devices/ghost/telemetry', haUser('walt')), { status: 101, closed: 4404 });
    assert.deepEqual(await socket(h.http, ELSEWHERE, '/api/devices/ghost/telemetry', haUser('walt')), { status: 401 });
    assert.deepEqual(await sse(h.http, PROXY, haUser('walt')), { status: 200, first: 'hello' });
    assert.deepEqual(await sse(h.http, ELSEWHERE, haUser('walt')), { status: 401 });

    const file = await oneFile();
    const upload = (from: string, name: string) => call(h.http, from, 'POST', '/api/devices/ghost/upload', { headers: { ...haUser(name), 'content-type': file.type }, body: file.body });
    const refused = await upload(PROXY, 'walt');
    assert.deepEqual([refused.status, refused.body.error], [403, 'POST /api/devices/:id/upload needs the admin role; ha:walt is a viewer']);
    assert.deepEqual([(await upload(PROXY, 'anna')).status, (await upload(ELSEWHERE, 'anna')).status], [404, 401], 'the admin gets as far as the device');

    const output = (from: string) => call(h.http, from, 'GET', '/api/jobs/999999/stdout', { headers: haUser('walt') });
    assert.deepEqual([(await output(PROXY)).status, (await output(ELSEWHERE)).status], [404, 401]);
  });

  it('ignores the same headers from any other address (X-Forwarded-For included) and says so once, without their values', async () => {
    const forged = { ...haUser('mallory'), 'x-forwarded-for': PROXY };
    const r = await me(ELSEWHERE, forged);
    assert.deepEqual([r.status, r.body.error], [401, 'missing bearer token (Authorization: Bearer <token>)']);
    assert.equal((await call(h.http, ELSEWHERE, 'POST', '/api/agents/sleeper/start', { headers: forged })).status, 401);
    assert.equal((await h.api<{ status: string }>('GET', '/api/agents/sleeper')).body.status, 'stopped', 'nothing started');
    // With a token, the token is the caller; the headers change nothing.
    assert.deepEqual((await me(ELSEWHERE, { ...forged, ...admin() })).body, { username: 'admin', role: 'admin', via: 'admin_token' });
    const warned = h.logs.filter((l) => String(l.msg).includes('not the ingress proxy'));
    assert.deepEqual(
      warned.map((l) => [l.address, l.proxy]),
      [[ELSEWHERE, PROXY]],
      'one warning for the address, however many requests',
    );
    assert.doesNotMatch(JSON.stringify(warned), /mallory|walt|anna|0123456789abcdef|Example/, 'the headers\' values are not logged');
  });

  it('from the proxy without a Home Assistant user, a token is needed as everywhere', async () => {
    const without: Array<Record<string, string>> = [{}, { 'x-remote-user-id': 'abc', 'x-remote-user-display-name': 'Anna' }, { ...haUser('anna'), 'x-remote-user-name': '' }];
    for (const headers of without) {
      const r = await me(PROXY, headers);
      assert.deepEqual([r.status, r.body.error], [401, 'missing bearer token (Authorization: Bearer <token>)'], JSON.stringify(headers));
    }
    assert.deepEqual((await me(PROXY, admin())).body, { username: 'admin', role: 'admin', via: 'admin_token' });
  });

  it('a bearer token wins over the Home Assistant user, and a wrong one is refused, not replaced by the user', async () => {
    assert.deepEqual((await me(PROXY, { ...haUser('walt'), ...admin() })).body, { username: 'admin', role: 'admin', via: 'admin_token' });
    const wrong = await me(PROXY, { ...haUser('anna'), authorization: 'Bearer not-a-token' });
    assert.deepEqual([wrong.status, wrong.body.error], [401, 'invalid token (unknown, revoked or expired)']);
    // Basic auth is no credential here: a reverse proxy in front of Home Assistant may add it to every request.
    assert.deepEqual((await me(PROXY, { ...haUser('walt'), authorization: 'Basic dXNlcjpwYXNz' })).body, { username: 'ha:walt', role: 'viewer', via: 'ingress' });
  });

  it('serves the API documentation under the ingress prefix: its links, its redirect, its "Try it out" server', async () => {
    const ingress = { ...haUser('anna'), 'x-ingress-path': PREFIX };
    // Every link of the page, followed as a browser at Home Assistant's URL would, through the proxy.
    for (const page of ['/docs', '/docs/']) {
      const html = await call(h.http, PROXY, 'GET', page, { headers: ingress });
      assert.equal(html.status, 200);
      const links = [...html.text.matchAll(/(?:href|src)="([^"]+)"/g)].map((m) => m[1]!);
      assert.ok(links.length >= 5, html.text);
      for (const link of links) {
        const at = new URL(link, `https://ha.example${PREFIX}${page}`).pathname;
        assert.ok(at.startsWith(`${PREFIX}/docs/`), `${page}: ${link} leaves the add-on (${at})`);
        assert.equal((await call(h.http, PROXY, 'GET', at.slice(PREFIX.length), { headers: ingress })).status, 200, at);
      }
    }
    const redirect = await call(h.http, PROXY, 'GET', '/docs/static/index.html', { headers: ingress });
    assert.deepEqual([redirect.status, redirect.headers.location], [302, `${PREFIX}/docs/`]);
    // The sidebar opens the add-on at its root: the documentation, until the panel is there.
    const root = await call(h.http, PROXY, 'GET', '/', { headers: ingress });
    assert.deepEqual([root.status, root.headers.location], [302, `${PREFIX}/docs/`]);
    const doc = await call(h.http, PROXY, 'GET', '/docs/json', { headers: ingress });
    assert.deepEqual(doc.body.servers, [{ url: PREFIX }]);

    // Not from the proxy, or not a path: the document and the redirect are the hub's own.
    const elsewhere = { 'x-ingress-path': PREFIX };
    assert.equal((await call(h.http, ELSEWHERE, 'GET', '/docs/json', { headers: elsewhere })).body.servers, undefined);
    assert.equal((await call(h.http, ELSEWHERE, 'GET', '/docs/static/index.html', { headers: elsewhere })).headers.location, '/docs/');
    assert.equal((await call(h.http, ELSEWHERE, 'GET', '/', { headers: elsewhere })).headers.location, '/docs/');
    const hostile = { ...ingress, 'x-ingress-path': '/x"><script>alert(1)</script>' };
    assert.equal((await call(h.http, PROXY, 'GET', '/docs/json', { headers: hostile })).body.servers, undefined);
    // And the page still works at the host's root, outside ingress.
    const plain = await call(h.http, ELSEWHERE, 'GET', '/docs');
    for (const [, link] of plain.text.matchAll(/(?:href|src)="([^"]+)"/g)) {
      assert.equal((await call(h.http, ELSEWHERE, 'GET', new URL(link!, `${h.http}/docs`).pathname)).status, 200, link);
    }
  });
});

describe('Home Assistant ingress, other hubs', () => {
  it('trusts no header with ingress off, even from the proxy\'s address', async () => {
    const h = await startHub({ HEARTH_INGRESS_PROXY: PROXY });
    try {
      assert.equal((await call(h.http, PROXY, 'GET', '/api/auth/me', { headers: haUser('anna') })).status, 401);
      assert.equal((await call(h.http, PROXY, 'GET', '/docs/json', { headers: { 'x-ingress-path': PREFIX } })).body.servers, undefined);
      assert.deepEqual(h.logs.filter((l) => String(l.msg).includes('ingress')), [], 'nothing to warn about: ingress is off');
    } finally {
      await h.stop();
    }
  });

  it('knows the proxy on a dual-stack listener, where it is ::ffff:<address>', async (t) => {
    if (!(await canBind('::'))) return t.skip('this machine has no IPv6: no dual-stack listener to test');
    const h = await startHub({ HEARTH_HTTP_HOST: '::', HEARTH_INGRESS: 'true', HEARTH_INGRESS_PROXY: PROXY });
    try {
      assert.deepEqual((await call(h.http, PROXY, 'GET', '/api/auth/me', { headers: haUser('anna') })).body, { username: 'ha:anna', role: 'admin', via: 'ingress' });
      assert.equal((await call(h.http, ELSEWHERE, 'GET', '/api/auth/me', { headers: haUser('anna') })).status, 401);
    } finally {
      await h.stop();
    }
  });

  it('trusts the Supervisor\'s own address by default (172.30.32.2)', async (t) => {
    // Adding the address to lo would change the host for every process on it (other test runs
    // included) while this one runs: the test uses it only where the machine already has it.
    if (!(await canBind(SUPERVISOR))) return t.skip(`${SUPERVISOR} is on no interface here (as root: ip addr add ${SUPERVISOR}/32 dev lo)`);
    const h = await startHub({ HEARTH_INGRESS: 'true' });
    try {
      assert.deepEqual((await call(h.http, SUPERVISOR, 'GET', '/api/auth/me', { headers: haUser('anna') })).body, { username: 'ha:anna', role: 'admin', via: 'ingress' });
      assert.equal((await call(h.http, PROXY, 'GET', '/api/auth/me', { headers: haUser('anna') })).status, 401);
    } finally {
      await h.stop();
    }
  });

  it('refuses to start on a proxy address that is not an IP address', async () => {
    await assert.rejects(startHub({ HEARTH_INGRESS: 'true', HEARTH_INGRESS_PROXY: 'supervisor' }), /setting ingress_proxy \(from HEARTH_INGRESS_PROXY\): "supervisor" is not an IP address/);
  });
});
