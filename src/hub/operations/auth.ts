/**
 * Logging in, sessions and personal API tokens. Login, refresh and a new token answer a secret:
 * they are HTTP only (`secret`), never bridge paths, whose answers travel on a shared topic.
 */
import { Type } from '@sinclair/typebox';
import { HubError, invalid, notFound } from '../errors.js';
import { roleAllows, ROOT_USER, type Principal } from '../users/types.js';
import { LOGIN_LIFETIME_MS } from '../users/sessions.js';
import { userView } from '../users/store.js';
import { NoInput } from './common.js';
import type { OperationContext } from './context.js';
import { operation } from './operation.js';
import { RoleName } from './users.js';

const SessionAnswer = Type.Object({
  token: Type.String(),
  expires_at: Type.String({ format: 'date-time' }),
  user: Type.Object({ username: Type.String(), role: RoleName }),
});

const Me = Type.Object({ username: Type.String(), role: RoleName, via: Type.String() });

const Token = Type.Object({
  id: Type.String(),
  name: Type.String(),
  username: Type.String(),
  role: RoleName,
  created_at: Type.String({ format: 'date-time' }),
  expires_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  last_used_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

/** A user's own session, with the role the user has now. */
async function sessionFor(hub: OperationContext, username: string, checkedAt: number, loginAt: number): Promise<{ token: string; expires_at: string; user: { username: string; role: Principal['role'] } }> {
  const user = userView(await hub.users.get(username));
  const session = await hub.sessions.issue(username, checkedAt, loginAt);
  return { ...session, user: { username: user.username, role: user.role } };
}

export const LOGIN_LIMIT = { max: 10, addressMax: 60, windowMs: 60_000 };

export const AUTH_OPERATIONS = [
  operation({
    name: 'auth/login',
    summary: `A session token for a user name and password (at most ${LOGIN_LIMIT.max} tries a minute per user name and address, ${LOGIN_LIMIT.addressMax} per address)`,
    role: 'viewer',
    secret: true,
    http: { method: 'POST', path: '/api/auth/login', public: true, rateLimit: LOGIN_LIMIT },
    input: Type.Object({ username: Type.String({ minLength: 1, maxLength: 64 }), password: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }),
    output: SessionAnswer,
    cli: false,
    handler: async (i, hub) => {
      // Before the check: a change of the user while it runs ends the session it gives.
      const at = Date.now();
      const user = await hub.users.checkPassword(i.username, i.password);
      if (!user) {
        hub.hub.warn({ username: i.username }, 'failed login');
        throw new HubError('unauthorized', 'wrong user name or password, or the user is disabled');
      }
      return sessionFor(hub, user.username, at, at);
    },
  }),
  operation({
    name: 'auth/refresh',
    summary: 'A new session token for the session presented (before it expires)',
    role: 'viewer',
    secret: true,
    http: { method: 'POST', path: '/api/auth/refresh' },
    input: NoInput,
    output: SessionAnswer,
    cli: false,
    handler: async (_i, hub, caller) => {
      const p = caller.principal;
      if (p.via !== 'session' || p.loginAt === undefined) throw invalid(`refresh renews a session from POST /api/auth/login; this call used ${p.via.replace('_', ' ')}`);
      if (Date.now() - p.loginAt > LOGIN_LIFETIME_MS) throw new HubError('unauthorized', `this login is older than ${LOGIN_LIFETIME_MS / 86_400_000} days: log in again`);
      return sessionFor(hub, p.username, Date.now(), p.loginAt);
    },
  }),
  operation({
    name: 'auth/me',
    summary: 'Who the credential presented stands for, and its role',
    role: 'viewer',
    http: { method: 'GET', path: '/api/auth/me' },
    input: NoInput,
    output: Me,
    cli: { verb: 'whoami', say: (me) => `${me.username} (${me.role}, by ${me.via.replace('_', ' ')})` },
    handler: (_i, _hub, caller) => ({ username: caller.principal.username, role: caller.principal.role, via: caller.principal.via }),
  }),
  operation({
    name: 'token/list',
    summary: 'Your API tokens (an admin sees everyone\'s); never their secrets',
    role: 'viewer',
    http: { method: 'GET', path: '/api/tokens' },
    input: NoInput,
    output: Type.Array(Token),
    cli: { say: (list) => (list.length ? list.map((t) => `${t.id}  ${t.name}  ${t.username}  ${t.role}${t.expires_at ? `  expires ${t.expires_at}` : ''}`).join('\n') : 'no API tokens') },
    handler: (_i, hub, caller) => hub.users.listTokens(caller.principal.role === 'admin' ? undefined : caller.principal.username),
  }),
  operation({
    name: 'token/create',
    summary: 'A personal API token (Authorization: Bearer, or the MQTT password with your user name); its secret is shown only in this answer',
    role: 'viewer',
    secret: true,
    http: { method: 'POST', path: '/api/tokens', status: 201 },
    input: Type.Object(
      {
        name: Type.String({ minLength: 1, maxLength: 100, description: 'what it is for' }),
        role: Type.Optional(RoleName),
        expires_at: Type.Optional(Type.String({ format: 'date-time', description: 'when it stops working (default: never)' })),
      },
      { additionalProperties: false },
    ),
    output: Type.Composite([Token, Type.Object({ token: Type.String() })]),
    cli: { say: (t) => `${t.token}\n(token ${t.id}, ${t.role}: shown only now; revoke with hearth token revoke ${t.id})` },
    handler: async (i, hub, caller) => {
      const { username, role, via } = caller.principal;
      // The admin token is the root credential: a token made with it would outlive its rotation.
      if (username === ROOT_USER) throw invalid('the admin token makes no API tokens (rotating it must leave nothing behind): add a user (hearth user add) and make tokens as that user');
      // A token made with a token could outlive it.
      if (via === 'api_token') throw invalid('an API token makes no API tokens: log in (POST /api/auth/login) and make it with that session');
      if (via === 'ingress') throw invalid('a Home Assistant user (ingress) makes no API tokens: add a Hearth user (hearth user add) and make tokens as that user');
      return hub.users.createToken({ username, role }, { name: i.name, role: i.role, expires_at: i.expires_at === undefined ? undefined : Date.parse(i.expires_at) });
    },
  }),
  operation({
    name: 'token/revoke',
    summary: 'Revoke one of your API tokens (an admin: anyone\'s)',
    role: 'viewer',
    http: { method: 'DELETE', path: '/api/tokens/:id' },
    input: Type.Object({ id: Type.String({ pattern: '^[0-9a-f]{12}$' }) }, { additionalProperties: false }),
    output: Type.Object({ id: Type.String(), revoked: Type.Boolean() }),
    cli: { say: (o) => `revoked token ${o.id}` },
    handler: async (i, hub, caller) => {
      const t = await hub.users.token(i.id);
      const p = caller.principal;
      // Someone else's token is as unknown to you as a token that does not exist; so is one
      // stronger than the credential presented (a viewer token revoking its owner's operator one).
      if (t === null || (p.role !== 'admin' && (t.username !== p.username || !roleAllows(p.role, t.role)))) throw notFound(`no token "${i.id}"`);
      await hub.users.revokeToken(i.id);
      return { id: i.id, revoked: true };
    },
  }),
];
