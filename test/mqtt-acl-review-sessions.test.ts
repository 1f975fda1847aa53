/**
 * A broker connection holds what its user proved at CONNECT only as long as that is still true
 * (real hub, real MQTT clients): demoting, disabling or deleting the user, or revoking the API
 * token it signed in with, closes its connections at once, and so does using a token past its
 * expiry. What it publishes afterwards never runs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BASE, api, created, startHub, type HubHandle } from './helpers/hub.js';
import { MqttProbe } from './helpers/mqtt-probe.js';
import { untilTrue } from './helpers/wait.js';

const RESPONSES = [`${BASE}/bridge/response/#`];
const PASSWORD = 'eve-pass-123';

/** eve, an operator, with an agent she may start, signed in to the broker with her password. */
async function eveOnline(h: HubHandle): Promise<{ agent: string; session: string }> {
  assert.equal((await h.api('POST', '/api/users', { username: 'eve', password: PASSWORD, role: 'operator' })).status, 201);
  const login = await api<{ token: string }>(h.http, null, 'POST', '/api/auth/login', { username: 'eve', password: PASSWORD });
  assert.equal(login.status, 200, JSON.stringify(login.body));
  const agent = await created<{ id: string }>(h, '/api/agents', { name: 'pump', command: 'sleep', args: ['600'], autostart: false });
  return { agent: agent.id, session: login.body.token };
}

/** Resolves when the broker closes this client's connection. */
const closing = (p: MqttProbe): Promise<void> => new Promise((resolve) => p.client.once('close', () => resolve()));

const statusOf = async (h: HubHandle, id: string): Promise<string> => (await h.api<{ status: string }>('GET', `/api/agents/${id}`)).body.status;

/**
 * eve is signed in as `secret`; `change` changes her (over HTTP, as the admin); her connection is
 * closed, and an agent/start she publishes on it after the change never runs.
 */
async function changeCloses(h: HubHandle, agent: string, secret: string, change: () => Promise<void>): Promise<void> {
  const eve = await MqttProbe.connect(h.brokerUrl, RESPONSES, { username: 'eve', password: secret });
  try {
    assert.equal((await eve.ask(BASE, 'agent/get', { id: agent })).status, 'ok');
    const closed = closing(eve);
    await change();
    await assert.rejects(eve.ask(BASE, 'agent/start', { id: agent }), /the broker closed the connection/);
    await closed;
    assert.equal(await statusOf(h, agent), 'stopped');
  } finally {
    await eve.close();
  }
}

describe('a broker connection ends when its user changes', () => {
  it('demoting the user closes the connection; signing in again gives the new role', async () => {
    const h = await startHub();
    const { agent } = await eveOnline(h);
    await changeCloses(h, agent, PASSWORD, async () => {
      assert.equal((await h.api('PUT', '/api/users/eve', { role: 'viewer' })).status, 200);
    });
    const again = await MqttProbe.connect(h.brokerUrl, RESPONSES, { username: 'eve', password: PASSWORD });
    try {
      assert.match(String((await again.ask(BASE, 'agent/start', { id: agent })).error), /agent\/start needs the operator role; eve is a viewer/);
    } finally {
      await again.close();
    }
    assert.equal(await statusOf(h, agent), 'stopped');
  });

  it('disabling or deleting the user closes the connection, and it cannot sign in again', async () => {
    const h = await startHub();
    const { agent } = await eveOnline(h);
    await changeCloses(h, agent, PASSWORD, async () => {
      assert.equal((await h.api('PUT', '/api/users/eve', { enabled: false })).status, 200);
    });
    await assert.rejects(MqttProbe.connect(h.brokerUrl, [], { username: 'eve', password: PASSWORD }), /Bad username or password/);

    assert.equal((await h.api('PUT', '/api/users/eve', { enabled: true })).status, 200);
    await changeCloses(h, agent, PASSWORD, async () => {
      assert.equal((await h.api('DELETE', '/api/users/eve')).status, 200);
    });
    await assert.rejects(MqttProbe.connect(h.brokerUrl, [], { username: 'eve', password: PASSWORD }), /Bad username or password/);
  });

  it('revoking the API token it signed in with closes the connection', async () => {
    const h = await startHub();
    const { agent, session } = await eveOnline(h);
    const token = await api<{ id: string; token: string }>(h.http, session, 'POST', '/api/tokens', { name: 'mqtt' });
    assert.equal(token.status, 201, JSON.stringify(token.body));
    await changeCloses(h, agent, token.body.token, async () => {
      assert.equal((await h.api('DELETE', `/api/tokens/${token.body.id}`)).status, 200);
    });
    await assert.rejects(MqttProbe.connect(h.brokerUrl, [], { username: 'eve', password: token.body.token }), /Bad username or password/);
  });

  it('a token that expires while connected: its next request closes the connection and never runs', async () => {
    const h = await startHub();
    const { agent, session } = await eveOnline(h);
    const expires = Date.now() + 3000;
    const token = await api<{ token: string }>(h.http, session, 'POST', '/api/tokens', { name: 'brief', expires_at: new Date(expires).toISOString() });
    assert.equal(token.status, 201, JSON.stringify(token.body));
    const eve = await MqttProbe.connect(h.brokerUrl, RESPONSES, { username: 'eve', password: token.body.token });
    try {
      assert.equal((await eve.ask(BASE, 'agent/get', { id: agent })).status, 'ok');
      const closed = closing(eve);
      await untilTrue('the token has expired', () => Date.now() > expires + 50);
      await assert.rejects(eve.ask(BASE, 'agent/start', { id: agent }), /the broker closed the connection/);
      await closed;
    } finally {
      await eve.close();
    }
    assert.equal(await statusOf(h, agent), 'stopped');
    await assert.rejects(MqttProbe.connect(h.brokerUrl, [], { username: 'eve', password: token.body.token }), /Bad username or password/);
  });
});
