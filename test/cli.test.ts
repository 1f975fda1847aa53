/** `hearth status` against a running hub, through its API. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCli, startHub } from './helpers/hub.js';
import { freePort } from './helpers/ports.js';

describe('hearth CLI', () => {
  it('`hearth status` prints the running hub, finding the token in the data dir', async () => {
    const h = await startHub();
    const r = await runCli(['--url', h.http, '--data-dir', h.dataDir, 'status']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Hearth \d+\.\d+\.\d+ on node testnode, up \d+s/);
    assert.match(r.stdout, /MQTT +embedded broker mqtt:\/\/127\.0\.0\.1:\d+, connected; topics under hearth\/testnode/);
    assert.match(r.stdout, /Things +0 agents, 0 tasks, 0 devices/);
    assert.match(r.stdout, /Problems +none/);

    const json = await runCli(['status', '--json'], { HEARTH_URL: h.http, HEARTH_ADMIN_TOKEN: h.token });
    assert.equal(json.code, 0, json.stderr);
    assert.equal(JSON.parse(json.stdout).node_id, 'testnode');
  });

  it('says clearly when the token is wrong or no hub is running', async () => {
    const h = await startHub();
    const bad = await runCli(['--url', h.http, '--token', 'nope', 'status']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /GET \/api\/info: 401 invalid token \(unknown, revoked or expired\) \(token from --token/);
    const port = await freePort();
    const none = await runCli(['--url', `http://127.0.0.1:${port}`, '--token', 'x', 'status']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /cannot reach the hub at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\); is it running\?/);
  });

  it('prints usage for --help and refuses an unknown command with exit 2', async () => {
    const help = await runCli(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /start/);
    assert.match(help.stdout, /status/);
    assert.match(help.stdout, /^ +export +write Hearth's configuration for another hub or tool$/m);
    const unknown = await runCli(['frobnicate']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command 'frobnicate'/);
  });
});
