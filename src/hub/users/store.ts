/**
 * Users and their personal API tokens, in the database. Passwords are kept as scrypt hashes, tokens
 * as SHA-256 of their secret part (shown once, at creation). Every change of a user moves its
 * updated_at, which ends the sessions issued before it.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { DataSource, Repository } from 'typeorm';
import { ApiToken, HearthUser, type ApiTokenRow, type UserRow } from '../db/users-schema.js';
import { conflict, invalid, notFound } from '../errors.js';
import { hashPassword, unmatchableHash, verifyPassword } from './passwords.js';
import { RESERVED_USERS, roleAllows, type Role } from './types.js';

export interface UserView {
  username: string;
  role: Role;
  enabled: boolean;
  created_at: string;
  updated_at: string;
}

export interface TokenView {
  id: string;
  name: string;
  username: string;
  role: Role;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
}

const TOKEN_PREFIX = 'hth';
const MIN_PASSWORD = 8;

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

export const userView = (u: UserRow): UserView => ({
  username: u.username,
  role: u.role,
  enabled: u.enabled,
  created_at: iso(u.created_at)!,
  updated_at: iso(u.updated_at)!,
});

const tokenView = (t: ApiTokenRow): TokenView => ({
  id: t.id,
  name: t.name,
  username: t.username,
  role: t.role,
  created_at: iso(t.created_at)!,
  expires_at: iso(t.expires_at),
  last_used_at: iso(t.last_used_at),
});

function checkPassword(password: string): void {
  if (password.length < MIN_PASSWORD) throw invalid(`password: at least ${MIN_PASSWORD} characters`);
}

export class UserStore {
  private readonly users: Repository<UserRow>;
  private readonly tokens: Repository<ApiTokenRow>;
  private readonly listeners: Array<(username: string) => void> = [];

  constructor(db: DataSource) {
    this.users = db.getRepository(HearthUser);
    this.tokens = db.getRepository(ApiToken);
  }

  /** Told of each user whose credentials changed (updated, deleted, a token revoked): what they hold open must end. */
  onChange(listener: (username: string) => void): void {
    this.listeners.push(listener);
  }

  private changed(username: string): void {
    for (const l of this.listeners) l(username);
  }

  async list(): Promise<UserView[]> {
    return (await this.users.find({ order: { username: 'ASC' } })).map(userView);
  }

  async find(username: string): Promise<UserRow | null> {
    return this.users.findOneBy({ username });
  }

  async get(username: string): Promise<UserRow> {
    const u = await this.find(username);
    if (!u) throw notFound(`no user "${username}"`);
    return u;
  }

  async create(o: { username: string; password: string; role: Role }): Promise<UserView> {
    if ((RESERVED_USERS as readonly string[]).includes(o.username)) throw invalid(`username: "${o.username}" is reserved (${RESERVED_USERS.join(', ')})`);
    checkPassword(o.password);
    if (await this.find(o.username)) throw conflict(`user "${o.username}" already exists`);
    const now = Date.now();
    const row: UserRow = { username: o.username, password_hash: await hashPassword(o.password), role: o.role, enabled: true, created_at: now, updated_at: now };
    await this.users.insert(row);
    return userView(row);
  }

  async update(username: string, change: { password?: string | undefined; role?: Role | undefined; enabled?: boolean | undefined }): Promise<UserView> {
    const u = await this.get(username);
    if (change.password !== undefined) checkPassword(change.password);
    const set: Partial<UserRow> = { updated_at: Math.max(Date.now(), u.updated_at + 1) };
    if (change.password !== undefined) set.password_hash = await hashPassword(change.password);
    if (change.role !== undefined) set.role = change.role;
    if (change.enabled !== undefined) set.enabled = change.enabled;
    await this.users.update({ username }, set);
    this.changed(username);
    return userView({ ...u, ...set });
  }

  async delete(username: string): Promise<void> {
    await this.get(username);
    await this.tokens.delete({ username });
    await this.users.delete({ username });
    this.changed(username);
  }

  /** The user when the password is theirs and they are enabled; the same work either way. */
  async checkPassword(username: string, password: string): Promise<UserRow | null> {
    const u = await this.find(username);
    const ok = await verifyPassword(password, u?.password_hash ?? (await unmatchableHash()));
    return ok && u?.enabled ? u : null;
  }

  async createToken(owner: UserRow | { username: string; role: Role }, o: { name: string; role?: Role | undefined; expires_at?: number | undefined }): Promise<TokenView & { token: string }> {
    const role = o.role ?? owner.role;
    if (!roleAllows(owner.role, role)) throw invalid(`role: a token cannot have more than its owner's role (${owner.role})`);
    if (o.expires_at !== undefined && o.expires_at <= Date.now()) throw invalid('expires_at: must be in the future');
    const id = randomBytes(6).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const row: ApiTokenRow = {
      id,
      username: owner.username,
      name: o.name,
      role,
      secret_hash: sha256(secret),
      created_at: Date.now(),
      expires_at: o.expires_at ?? null,
      last_used_at: null,
    };
    await this.tokens.insert(row);
    return { ...tokenView(row), token: `${TOKEN_PREFIX}_${id}_${secret}` };
  }

  /** Every token, or one user's. */
  async listTokens(username?: string): Promise<TokenView[]> {
    return (await this.tokens.find({ where: username === undefined ? {} : { username }, order: { created_at: 'ASC' } })).map(tokenView);
  }

  async token(id: string): Promise<TokenView | null> {
    const t = await this.tokens.findOneBy({ id });
    return t ? tokenView(t) : null;
  }

  async revokeToken(id: string): Promise<void> {
    const t = await this.tokens.findOneBy({ id });
    if (!t) throw notFound(`no token "${id}"`);
    await this.tokens.delete({ id });
    this.changed(t.username);
  }

  /** The token's row and its owner when the secret is right, unexpired, and the owner enabled. */
  async checkToken(presented: string): Promise<{ token: ApiTokenRow; owner: UserRow | null } | null> {
    const m = /^hth_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/.exec(presented);
    if (!m) return null;
    const t = await this.tokens.findOneBy({ id: m[1]! });
    if (!t) return null;
    const given = Buffer.from(sha256(m[2]!));
    if (!timingSafeEqual(given, Buffer.from(t.secret_hash))) return null;
    if (t.expires_at !== null && t.expires_at <= Date.now()) return null;
    const owner = await this.find(t.username);
    // Written at most once a minute: a script calling in a loop must not write on every call.
    const now = Date.now();
    if (t.last_used_at === null || now - t.last_used_at > 60_000) await this.tokens.update({ id: t.id }, { last_used_at: now });
    return { token: t, owner };
  }
}
