/** An upload is one file part: anything else in the form is a bad request that says what was expected. */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startHub } from './helpers/hub.js';
import { startLineServer } from './helpers/line-server.js';
import { until } from './helpers/wait.js';

interface Job {
  id: number;
  status: string;
}

describe('device upload form', () => {
  it('answers 400 naming the one file part it takes when the form has more, and takes the file alone', async () => {
    const h = await startHub();
    const sink = await startLineServer(() => undefined);
    const created = await h.api('POST', '/api/devices', {
      name: 'Sink',
      protocol: 'line',
      connection: { transport: 'tcp', host: '127.0.0.1', port: sink.port },
      upload: { chunk_bytes: 512, pace_ms: 0 },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    await until('the sink connected', async () => (await h.api<{ connected: boolean }>('GET', '/api/devices/sink')).body, (d) => d.connected);

    const file = (): Blob => new Blob(['G28\nG1 X10\n']);
    const upload = async (form: FormData): Promise<{ status: number; body: { error?: string } & Partial<Job> }> => {
      const res = await fetch(`${h.http}/api/devices/sink/upload`, { method: 'POST', headers: { authorization: `Bearer ${h.token}` }, body: form });
      return { status: res.status, body: (await res.json()) as { error?: string } & Partial<Job> };
    };
    const forms: Array<[string, (f: FormData) => void]> = [
      ['a field before the file', (f) => (f.append('note', 'first layer slow'), f.append('file', file(), 'part.gcode'))],
      ['a field after the file', (f) => (f.append('file', file(), 'part.gcode'), f.append('note', 'first layer slow'))],
      ['two files', (f) => (f.append('file', file(), 'a.gcode'), f.append('file', file(), 'b.gcode'))],
      ['a field and no file', (f) => f.append('note', 'nothing to send')],
    ];
    for (const [what, fill] of forms) {
      const form = new FormData();
      fill(form);
      const r = await upload(form);
      assert.equal(r.status, 400, `${what}: ${JSON.stringify(r.body)}`);
      assert.match(r.body.error ?? '', /exactly one part: the file \(a field named "file"/, what);
    }
    // Nothing of the refused forms was sent or kept.
    const jobs = await h.api<Job[]>('GET', '/api/jobs?kind=upload');
    assert.deepEqual(jobs.body, []);
    assert.deepEqual(readdirSync(join(h.dataDir, 'uploads')), []);

    const form = new FormData();
    form.append('file', file(), 'part.gcode');
    const ok = await upload(form);
    assert.equal(ok.status, 202, JSON.stringify(ok.body));
    const done = await until('the upload job ended', async () => (await h.api<Job>('GET', `/api/jobs/${ok.body.id}`)).body, (j) => j.status !== 'running');
    assert.equal(done.status, 'succeeded');
  });
});
