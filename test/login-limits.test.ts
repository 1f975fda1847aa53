/**
 * Logins from one address are limited whatever the user name (one address trying many names), as
 * well as per user name and address (test/users.test.ts): a hub of its own, so that the other
 * files' logins do not count here.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LOGIN_LIMIT } from '../src/hub/operations/auth.js';
import { api, startHub, type HubHandle } from './helpers/hub.js';

let h: HubHandle;

describe('login limits per address', () => {
  before(async () => {
    h = await startHub();
  });
  after(() => h.stop());

  it(`answers 429 after ${LOGIN_LIMIT.addressMax} tries a minute from one address, whatever the names, even for a right password`, async () => {
    assert.equal((await h.api('POST', '/api/users', { username: 'real', password: 'the real password', role: 'viewer' })).status, 201);
    const statuses: number[] = [];
    for (let i = 1; i < LOGIN_LIMIT.addressMax; i++) statuses.push((await api(h.http, null, 'POST', '/api/auth/login', { username: `guess${i}`, password: 'not it at all' })).status);
    assert.deepEqual([...new Set(statuses)], [401], 'each name is tried fewer times than its own limit');
    assert.equal((await api(h.http, null, 'POST', '/api/auth/login', { username: 'real', password: 'the real password' })).status, 200, 'the last one the address may make');
    const over = await api<{ error: string }>(h.http, null, 'POST', '/api/auth/login', { username: 'real', password: 'the real password' });
    assert.equal(over.status, 429);
    assert.match(over.body.error, /too many attempts; try again in \d+ s/);
    // Other routes are not limited: the same address goes on with a credential.
    assert.equal((await h.api('GET', '/api/info')).status, 200);
  });
});
