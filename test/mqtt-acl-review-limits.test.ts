/**
 * Failed sign-ins to the embedded broker are limited: 10 a minute per user name and 30 per remote
 * address; beyond that a sign-in is refused before its password is checked, even a right one.
 * The limiter's window on its own clock, then the broker through the real hub and real clients.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LoginLimiter } from '../src/bridges/mqtt/login-limiter.js';
import { startHub } from './helpers/hub.js';
import { MqttProbe } from './helpers/mqtt-probe.js';

const TOO_MANY = /too many failed sign-ins; try again in \d+ s/;

describe('limiting failed broker sign-ins', () => {
  it('counts failures per user name and per address within a minute, and forgets them after it', () => {
    let now = 1_000_000;
    const limiter = new LoginLimiter({ perUsername: 10, perAddress: 30, windowMs: 60_000, now: () => now });
    for (let i = 0; i < 10; i++) {
      assert.equal(limiter.retryAfter('eve', '10.0.0.1'), null, `attempt ${i + 1}`);
      limiter.failed('eve', '10.0.0.1');
      now += 1000;
    }
    // The first failure was 10 s ago: it leaves the window in 50 s.
    assert.equal(limiter.retryAfter('eve', '10.0.0.1'), 50);
    assert.equal(limiter.retryAfter('eve', '10.0.0.2'), 50, 'the user name is limited from any address');
    assert.equal(limiter.retryAfter('bob', '10.0.0.1'), null, 'another user from the same address is not, yet');
    for (const name of ['bob', 'carol']) for (let i = 0; i < 10; i++) limiter.failed(name, '10.0.0.1');
    assert.equal(limiter.retryAfter('dan', '10.0.0.1'), 50, 'the address has failed 30 times');
    assert.equal(limiter.retryAfter('dan', '10.0.0.2'), null);
    // A minute after the first failure, it no longer counts: one more try for eve and the address.
    now += 50_000;
    assert.equal(limiter.retryAfter('eve', '10.0.0.2'), null);
    assert.equal(limiter.retryAfter('dan', '10.0.0.1'), null);
    limiter.failed('dan', '10.0.0.1');
    assert.equal(limiter.retryAfter('erin', '10.0.0.1'), 1, "eve's second failure leaves the window in 1 s");
  });

  it('refuses the 11th wrong password for a user and then the right one; other users until the address has failed 30 times', async () => {
    const h = await startHub();
    for (const username of ['eve', 'bob']) assert.equal((await h.api('POST', '/api/users', { username, password: `${username}-pass-123`, role: 'operator' })).status, 201);
    const signIn = (username: string, password: string): Promise<void> => MqttProbe.connect(h.brokerUrl, [], { username, password }).then((p) => p.close());
    const tooMany = (): number => h.logs.filter((l) => TOO_MANY.test(String(l.msg))).length;

    for (let i = 0; i < 10; i++) await assert.rejects(signIn('eve', `guess-${i}`), /Bad username or password/);
    // Refused before the password is looked at (MQTT 3 says only "Not authorized"; the log says why).
    await assert.rejects(signIn('eve', 'guess-10'), /Not authorized/);
    await assert.rejects(signIn('eve', 'eve-pass-123'), /Not authorized/);
    assert.equal(tooMany(), 2);
    assert.ok(!JSON.stringify(h.logs).includes('guess-'), 'no password in the log');

    // A success is not counted; the same address may still sign in other users.
    await signIn('bob', 'bob-pass-123');
    for (let i = 0; i < 10; i++) await assert.rejects(signIn('bob', `guess-${i}`), /Bad username or password/);
    for (let i = 0; i < 10; i++) await assert.rejects(signIn('nobody', `guess-${i}`), /Bad username or password/);
    assert.equal(tooMany(), 2);
    // 30 failures from this address: now nobody signs in from it with a password or token.
    await assert.rejects(signIn('carol', 'anything'), /Not authorized/);
    assert.equal(tooMany(), 3);
    // Home Assistant's user is no Hearth user (its password is long and random): it still signs in.
    await signIn('homeassistant', h.brokerUsers!.homeassistant.password);
  });
});
