/** A database URL's password never reaches the hub's output, whatever goes wrong with the database. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCli, testEnv } from './helpers/hub.js';
import { freePort } from './helpers/ports.js';
import { tempDir } from './helpers/tmp.js';

const PASSWORD = 'Pa55-of-the-db';

describe('a database URL with a password', () => {
  it('`hearth start` against a server that refuses it says why, without the password', async () => {
    const url = `postgres://hearth:${PASSWORD}@127.0.0.1:${await freePort()}/hearth`;
    const r = await runCli(['start'], testEnv(tempDir(), { HEARTH_DATABASE_URL: url, HEARTH_LOG_LEVEL: 'info' }));
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^hearth: could not start: connect ECONNREFUSED 127\.0\.0\.1:\d+$/m);
    assert.ok(!(r.stdout + r.stderr).includes(PASSWORD), `the password is shown: ${r.stdout}${r.stderr}`);
  });

  it('`hearth start` with a URL it cannot parse names the setting and shows the URL with its password masked', async () => {
    const url = `postgres://hearth:${PASSWORD}@127.0.0.1:99999/hearth`;
    const r = await runCli(['start'], testEnv(tempDir(), { HEARTH_DATABASE_URL: url }));
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^hearth: setting database_url \(from HEARTH_DATABASE_URL\): "postgres:\/\/hearth:\*\*\*@127\.0\.0\.1:99999\/hearth" is not a URL$/m);
    assert.ok(!(r.stdout + r.stderr).includes(PASSWORD));
  });
});
