/**
 * Every operation is allowed by the role it declares, on both edges: a role × operation matrix
 * generated from the operation table. Each call carries input the operation refuses (an unknown
 * field, an id that cannot be one), so an allowed call answers 400 and changes nothing, and a
 * refused one answers 403 naming the role it needs: the role is checked before anything else.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATIONS } from '../src/hub/operations/index.js';
import { pathFields, type Operation } from '../src/hub/operations/operation.js';
import type { Role } from '../src/hub/users/types.js';
import { api, BASE, startHub, type HubHandle } from './helpers/hub.js';
import { MqttProbe } from './helpers/mqtt-probe.js';

let h: HubHandle;
/** The order of the roles as the contract states it, written here so the product's own check is not its own judge. */
const ROLES: Role[] = ['viewer', 'operator', 'admin'];
const roleAllows = (role: Role, needed: Role): boolean => ROLES.indexOf(role) >= ROLES.indexOf(needed);
const sessions = {} as Record<Role, string>;
const PASSWORD = 'correct horse battery';

/** Input every operation refuses after its role check: path fields that are no id, one unknown field. */
function refusedInput(op: Operation): Record<string, unknown> {
  const input: Record<string, unknown> = { not_a_field: 1 };
  for (const f of pathFields(op.http.path)) input[f] = 'NOT AN ID!';
  return input;
}

async function overHttp(op: Operation, token: string): Promise<{ status: number; body: { error?: string } }> {
  const input = refusedInput(op);
  const inPath = pathFields(op.http.path);
  const path = op.http.path.replace(/:([a-z_]+)/g, (_m, k: string) => encodeURIComponent(String(input[k])));
  const rest = Object.fromEntries(Object.entries(input).filter(([k]) => !inPath.includes(k)));
  if (op.http.method === 'GET' || op.http.method === 'DELETE') return api(h.http, token, op.http.method, `${path}?${new URLSearchParams(Object.entries(rest).map(([k, v]) => [k, String(v)]))}`);
  return api(h.http, token, op.http.method, path, rest);
}

/** Operations whose input is a free-form document: they report what they could not use in a 200, changing nothing. */
const FREE_FORM = new Set(['import/pm2']);

// The routes anyone may call (health, login) need no role to be tested.
const guarded = OPERATIONS.filter((op) => !op.http.public);

describe('roles × operations', () => {
  before(async () => {
    h = await startHub();
    for (const role of ROLES) {
      const made = await h.api('POST', '/api/users', { username: `${role}1`, password: PASSWORD, role });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      const login = await api<{ token: string }>(h.http, null, 'POST', '/api/auth/login', { username: `${role}1`, password: PASSWORD });
      assert.equal(login.status, 200, JSON.stringify(login.body));
      sessions[role] = login.body.token;
    }
  });
  after(() => h.stop());

  it('over HTTP: each role is let in exactly where the operation allows it, and refused with 403 naming the role needed', async () => {
    const wrong: string[] = [];
    for (const op of guarded) {
      for (const role of ROLES) {
        const r = await overHttp(op, sessions[role]);
        const allowed = roleAllows(role, op.role);
        if (allowed && r.status !== (FREE_FORM.has(op.name) ? 200 : 400)) wrong.push(`${role} ${op.name}: ${r.status} ${JSON.stringify(r.body)} (allowed: expected the input refused, 400)`);
        if (!allowed && (r.status !== 403 || !r.body.error?.includes(`needs the ${op.role} role`))) wrong.push(`${role} ${op.name}: ${r.status} ${JSON.stringify(r.body)} (expected 403)`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('over MQTT: a broker user runs bridge requests with its own role; operations that answer a secret are HTTP only', async () => {
    const url = new URL(h.brokerUrl);
    const wrong: string[] = [];
    for (const role of ROLES) {
      url.username = `${role}1`;
      url.password = PASSWORD;
      const probe = await MqttProbe.connect(url.toString(), [`${BASE}/bridge/response/#`]);
      try {
        for (const op of guarded) {
          const a = await probe.ask(BASE, op.name, refusedInput(op));
          const allowed = roleAllows(role, op.role);
          if (op.secret) {
            if (a.status !== 'error' || !/HTTP/.test(a.error ?? '')) wrong.push(`${role} ${op.name}: ${JSON.stringify(a)} (a secret answer must be refused over MQTT)`);
          } else if (allowed ? /needs the \w+ role/.test(a.error ?? '') || a.status !== 'error' : !a.error?.includes(`needs the ${op.role} role`)) {
            wrong.push(`${role} ${op.name}: ${JSON.stringify(a)} (${allowed ? 'allowed' : 'refused'})`);
          }
        }
      } finally {
        await probe.client.endAsync();
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('records each refusal in the audit, with who, through which edge, and why', async () => {
    const refused = await api<{ error: string }>(h.http, sessions.viewer, 'POST', '/api/agents', { name: 'x', command: 'true' });
    assert.equal(refused.status, 403);
    const audit = await h.api<Array<{ username: string; role: string; edge: string; operation: string; outcome: string; error: string | null }>>('GET', '/api/audit?username=viewer1&operation=agent/create&limit=1');
    assert.equal(audit.status, 200);
    assert.deepEqual(audit.body.map((e) => [e.username, e.role, e.edge, e.operation, e.outcome, e.error]), [
      ['viewer1', 'viewer', 'http', 'agent/create', 'refused', refused.body.error],
    ]);
  });
});
