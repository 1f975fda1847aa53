/**
 * Liveness apart from readiness: when the broker goes away, /api/health says degraded (503) but
 * /api/health/live still answers 200, without a token, so a probe on it does not restart the hub.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { api, startHub } from './helpers/hub.js';
import { startMosquitto } from './helpers/mosquitto.js';
import { until } from './helpers/wait.js';

describe('GET /api/health/live', () => {
  it('answers 200 without a token while /api/health is 503 because the broker is down', async () => {
    const broker = await startMosquitto();
    const h = await startHub({ HEARTH_MQTT_URL: broker.url });
    const live = () => api<{ alive: boolean }>(h.http, null, 'GET', '/api/health/live');
    assert.deepEqual([(await live()).status, (await live()).body], [200, { alive: true }]);
    assert.equal((await api(h.http, null, 'GET', '/api/health')).status, 200);

    await broker.stop();
    const health = await until('/api/health degraded', () => api<{ checks: Record<string, { ok: boolean }> }>(h.http, null, 'GET', '/api/health'), (r) => r.status === 503);
    assert.equal(Object.values(health.body.checks).filter((c) => !c.ok).length, 1, JSON.stringify(health.body));
    const r = await live();
    assert.deepEqual([r.status, r.body], [200, { alive: true }]);

    await broker.start();
    await until('/api/health ok again', () => api(h.http, null, 'GET', '/api/health'), (a) => a.status === 200);
    await h.stop();
  });
});
