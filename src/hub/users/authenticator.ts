/**
 * Checks every credential the hub accepts: the admin token (the root user), a session JWT, a
 * personal API token, a user's password. One place, so HTTP and the broker accept the same ones.
 */
import { tokenMatches } from '../auth/admin-token.js';
import type { Sessions } from './sessions.js';
import type { UserStore } from './store.js';
import { ROLES, ROOT_USER, type Authenticator, type Principal, type Role } from './types.js';

const lower = (a: Role, b: Role): Role => ROLES[Math.min(ROLES.indexOf(a), ROLES.indexOf(b))]!;

const ROOT: Principal = { username: ROOT_USER, role: 'admin', via: 'admin_token' };

export class HubAuthenticator implements Authenticator {
  constructor(
    private readonly adminToken: string,
    private readonly users: UserStore,
    private readonly sessions: Sessions,
  ) {}

  async bearer(secret: string): Promise<Principal | null> {
    if (tokenMatches(this.adminToken, secret)) return ROOT;
    if (secret.startsWith('hth_')) return this.apiToken(secret);
    const session = await this.sessions.read(secret);
    if (!session) return null;
    const user = await this.users.find(session.username);
    // A session ends when its user changes (password, role, disabled) after it was issued.
    if (!user?.enabled || session.issuedAt < user.updated_at) return null;
    return { username: user.username, role: user.role, via: 'session', loginAt: session.loginAt };
  }

  async login(username: string, secret: string): Promise<Principal | null> {
    // The root user signs in with the admin token only (not with someone's session or token).
    if (username === ROOT_USER) return tokenMatches(this.adminToken, secret) ? ROOT : null;
    if (secret.startsWith('hth_')) {
      const p = await this.apiToken(secret);
      return p?.username === username ? p : null;
    }
    const user = await this.users.checkPassword(username, secret);
    return user ? { username: user.username, role: user.role, via: 'password' } : null;
  }

  private async apiToken(secret: string): Promise<Principal | null> {
    const found = await this.users.checkToken(secret);
    if (!found) return null;
    const { token, owner } = found;
    // Only users own tokens (the admin token makes none: rotating it must leave nothing behind).
    if (!owner?.enabled) return null;
    // Never more than the owner may do now, whatever the token was made with.
    return { username: owner.username, role: lower(token.role, owner.role), via: 'api_token', ...(token.expires_at !== null ? { expiresAt: token.expires_at } : {}) };
  }
}
