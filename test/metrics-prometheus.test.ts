/**
 * GET /metrics: what Prometheus scrapes. A real hub with one agent running and one stopped; the page
 * parsed line by line as the text format 0.0.4 says, behind the same auth as the API.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { escapeLabelValue, renderPrometheus } from '../src/bridges/http/prometheus.js';
import { api, startHub, type HubHandle } from './helpers/hub.js';
import { until } from './helpers/wait.js';

const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
/** A label value: anything but a bare quote, backslash or line feed; those only escaped. */
const LABEL = `[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"`;
const SAMPLE = new RegExp(`^(${NAME})(?:\\{${LABEL}(?:,${LABEL})*\\})? (?:[-+]?[0-9.eE+-]+|NaN|[+-]Inf)$`);

interface Page {
  /** name → HELP and TYPE lines seen. */
  help: Map<string, number>;
  type: Map<string, string[]>;
  samples: Array<{ name: string; line: string }>;
}

/** Parses the page as Prometheus would, failing on any line that does not fit the format. */
function parse(text: string): Page {
  assert.ok(text.endsWith('\n'), 'the page ends with a line feed');
  const page: Page = { help: new Map(), type: new Map(), samples: [] };
  for (const line of text.slice(0, -1).split('\n')) {
    const comment = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (comment) {
      const [, what, name, rest] = comment;
      if (what === 'HELP') page.help.set(name!, (page.help.get(name!) ?? 0) + 1);
      else page.type.set(name!, [...(page.type.get(name!) ?? []), rest!]);
      continue;
    }
    const m = SAMPLE.exec(line);
    assert.ok(m, `not a sample in the text format: ${JSON.stringify(line)}`);
    page.samples.push({ name: m[1]!, line });
  }
  return page;
}

/** The value of the one sample whose line starts with this (name and labels). */
function value(page: Page, series: string): number {
  const found = page.samples.filter((s) => s.line.startsWith(series + ' '));
  assert.equal(found.length, 1, `one sample ${series}; the page has ${JSON.stringify(page.samples.map((s) => s.line))}`);
  return Number(found[0]!.line.slice(series.length + 1));
}

async function scrape(http: string, token: string | null): Promise<{ status: number; type: string | null; text: string }> {
  const r = await fetch(`${http}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: r.status, type: r.headers.get('content-type'), text: await r.text() };
}

let h: HubHandle;

describe('GET /metrics (Prometheus)', () => {
  before(async () => {
    h = await startHub();
    assert.equal((await h.api('POST', '/api/agents', { name: 'runner', command: 'sleep', args: ['60'] })).status, 201);
    const odd = await h.api<{ id: string }>('POST', '/api/agents', { name: 'a "b" \\ c', command: 'sleep', args: ['60'], autostart: false });
    assert.equal(odd.status, 201, JSON.stringify(odd.body));
    await until('runner running', () => h.api<{ status: string }>('GET', '/api/agents/runner'), (r) => r.body.status === 'running');
    assert.equal((await h.api('POST', '/api/tasks', { name: 'once', action: { type: 'command', command: 'true' } })).status, 201);
    await h.api('POST', '/api/tasks/once/run');
    await until('its job done', () => h.api<Array<{ status: string }>>('GET', '/api/jobs?task_id=once'), (r) => r.body[0]?.status === 'succeeded');
  });
  after(() => h.stop());

  it('answers the admin the text format: every line fits, every metric has HELP and TYPE once, agents up or not', async () => {
    const r = await scrape(h.http, h.token);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.type, CONTENT_TYPE);
    const page = parse(r.text);
    const names = new Set(page.samples.map((s) => s.name));
    for (const name of new Set([...names, ...page.help.keys(), ...page.type.keys()])) {
      assert.equal(page.help.get(name), 1, `${name}: one HELP`);
      assert.equal(page.type.get(name)?.length, 1, `${name}: one TYPE`);
      assert.match(name, /^hearth_[a-z0-9_]+$/);
      if (name.endsWith('_total')) assert.deepEqual(page.type.get(name), ['counter']);
    }
    const odd = (await h.api<Array<{ id: string; name: string }>>('GET', '/api/agents')).body.find((a) => a.name !== 'runner')!;
    assert.equal(value(page, 'hearth_agent_up{agent="runner"}'), 1);
    assert.equal(value(page, `hearth_agent_up{agent="${odd.id}"}`), 0);
    assert.equal(value(page, 'hearth_agent_instances_running{agent="runner"}'), 1);
    assert.equal(value(page, `hearth_agent_restarts_total{agent="${odd.id}"}`), 0);
    // The name as typed, escaped as the format says.
    assert.equal(value(page, `hearth_agent_info{agent="${odd.id}",name="a \\"b\\" \\\\ c",type="process"}`), 1);
    const version = (await h.api<{ version: string }>('GET', '/api/info')).body.version;
    assert.equal(value(page, `hearth_info{version="${version}",node_id="testnode"}`), 1);
    const host = (await h.api<{ memory_total_bytes: number }>('GET', '/api/system-metrics')).body;
    assert.equal(value(page, 'hearth_host_memory_total_bytes'), host.memory_total_bytes);
    assert.equal(value(page, 'hearth_jobs_running{kind="task"}'), 0);
    assert.equal(value(page, 'hearth_mqtt_connected{mode="embedded"}'), 1);
    assert.deepEqual([value(page, 'hearth_jobs{status="succeeded"}'), value(page, 'hearth_jobs{status="failed"}')], [1, 0]);
    // The hub's own client is the only one signed in.
    assert.equal(value(page, 'hearth_mqtt_broker_clients'), 1);
    assert.deepEqual([value(page, 'hearth_home_assistant_state{state="off"}'), value(page, 'hearth_home_assistant_state{state="connected"}')], [1, 0]);
  });

  it('is behind the API auth: a viewer token reads it, no token or a wrong one is 401', async () => {
    assert.equal((await h.api('POST', '/api/users', { username: 'vera', password: 'correct horse battery', role: 'viewer' })).status, 201);
    const session = await api<{ token: string }>(h.http, null, 'POST', '/api/auth/login', { username: 'vera', password: 'correct horse battery' });
    const made = await api<{ token: string }>(h.http, session.body.token, 'POST', '/api/tokens', { name: 'prometheus', role: 'viewer' });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const viewer = await scrape(h.http, made.body.token);
    assert.equal(viewer.status, 200, viewer.text);
    assert.match(viewer.text, /^hearth_agent_up\{agent="runner"\} 1$/m);
    const none = await scrape(h.http, null);
    assert.equal(none.status, 401);
    assert.match(none.text, /missing bearer token/);
    assert.equal((await scrape(h.http, 'not-a-token')).status, 401);
  });

  it('escapes label values (backslash, quote, line feed) and HELP text', () => {
    assert.equal(escapeLabelValue('a "b" \\ c\nd'), 'a \\"b\\" \\\\ c\\nd');
    const text = renderPrometheus([
      { name: 'x_total', help: 'one\\two\nthree "q"', type: 'counter', samples: [{ labels: { k: 'v"\n\\' }, value: 3 }, { value: Infinity }] },
    ]);
    assert.equal(text, '# HELP x_total one\\\\two\\nthree "q"\n# TYPE x_total counter\nx_total{k="v\\"\\n\\\\"} 3\nx_total +Inf\n');
    parse(text.replace(/x_total/g, 'hearth_x_total'));
  });
});
