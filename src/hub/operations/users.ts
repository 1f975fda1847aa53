/** Users (admin only) and the audit of what they changed. */
import { Type } from '@sinclair/typebox';
import { AUDIT_RETENTION_DAYS } from '../users/audit.js';
import { userView } from '../users/store.js';
import { ROLES } from '../users/types.js';
import { NoInput } from './common.js';
import { operation } from './operation.js';

export const Username = Type.String({ pattern: '^[a-z0-9][a-z0-9_.-]*$', minLength: 1, maxLength: 64, description: 'lower-case letters, digits, _ . -' });
const Password = Type.String({ minLength: 1, maxLength: 200 });
export const RoleName = Type.Union(ROLES.map((r) => Type.Literal(r)));

const User = Type.Object({
  username: Type.String(),
  role: RoleName,
  enabled: Type.Boolean(),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
});

const ByUsername = Type.Object({ username: Username }, { additionalProperties: false });

const sayUser = (u: { username: string; role: string; enabled: boolean }): string => `${u.username}  ${u.role}${u.enabled ? '' : '  (disabled)'}`;

const AuditEntry = Type.Object({
  id: Type.Integer(),
  at: Type.String({ format: 'date-time' }),
  username: Type.String(),
  role: Type.String(),
  edge: Type.String(),
  operation: Type.String(),
  thing: Type.Union([Type.String(), Type.Null()]),
  outcome: Type.Union([Type.Literal('ok'), Type.Literal('refused'), Type.Literal('failed')]),
  error: Type.Union([Type.String(), Type.Null()]),
});

export const AuditQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'at most this many, newest first (default 100)' })),
    username: Type.Optional(Type.String({ maxLength: 64, description: 'only this user\'s calls' })),
    operation: Type.Optional(Type.String({ maxLength: 60, description: 'only this operation (agent/create, …)' })),
    since: Type.Optional(Type.String({ format: 'date-time', description: 'only calls at or after this time' })),
  },
  { additionalProperties: false },
);

export const USER_OPERATIONS = [
  operation({
    name: 'user/list',
    summary: 'List the users',
    role: 'admin',
    http: { method: 'GET', path: '/api/users' },
    input: NoInput,
    output: Type.Array(User),
    cli: { say: (list) => (list.length ? list.map(sayUser).join('\n') : 'no users (the admin token is the root user)') },
    handler: (_i, hub) => hub.users.list(),
  }),
  operation({
    name: 'user/create',
    summary: 'Add a user with a password and a role',
    role: 'admin',
    http: { method: 'POST', path: '/api/users', status: 201 },
    input: Type.Object({ username: Username, password: Password, role: RoleName }, { additionalProperties: false }),
    output: User,
    // `hearth user add` reads the password without showing it (cli/commands/user.ts).
    cli: false,
    handler: (i, hub) => hub.users.create(i),
  }),
  operation({
    name: 'user/get',
    summary: 'One user',
    role: 'admin',
    http: { method: 'GET', path: '/api/users/:username' },
    input: ByUsername,
    output: User,
    cli: { verb: 'show', say: sayUser },
    handler: async (i, hub) => userView(await hub.users.get(i.username)),
  }),
  operation({
    name: 'user/update',
    summary: 'Change a user\'s password, role or whether it may log in (its sessions end)',
    role: 'admin',
    http: { method: 'PUT', path: '/api/users/:username' },
    input: Type.Object(
      { username: Username, password: Type.Optional(Password), role: Type.Optional(RoleName), enabled: Type.Optional(Type.Boolean()) },
      { additionalProperties: false },
    ),
    output: User,
    // `hearth user passwd|role|disable|enable` (cli/commands/user.ts).
    cli: false,
    handler: ({ username, ...change }, hub) => hub.users.update(username, change),
  }),
  operation({
    name: 'user/delete',
    summary: 'Delete a user and its API tokens',
    role: 'admin',
    http: { method: 'DELETE', path: '/api/users/:username' },
    input: ByUsername,
    output: Type.Object({ username: Type.String(), deleted: Type.Boolean() }),
    cli: { say: (o) => `deleted user ${o.username}` },
    handler: async (i, hub) => {
      await hub.users.delete(i.username);
      return { username: i.username, deleted: true };
    },
  }),
  operation({
    name: 'audit/list',
    summary: `Who changed what, newest first (kept ${AUDIT_RETENTION_DAYS} days)`,
    role: 'admin',
    http: { method: 'GET', path: '/api/audit' },
    input: AuditQuery,
    output: Type.Array(AuditEntry),
    // `hearth audit` (cli/commands/audit.ts).
    cli: false,
    handler: (i, hub) => hub.audit.list(i),
  }),
];
