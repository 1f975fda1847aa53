/**
 * Session tokens: HS256 JWTs (jose) signed with a secret generated once into the data dir (0600).
 * A session names its user; the role is read from the user at each use, and a session older than
 * the user's last change (password, role, disabled) is no longer valid.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jwtVerify, SignJWT } from 'jose';

/** How long a session lasts; POST /api/auth/refresh gives a new one before it ends. */
export const SESSION_TTL_S = 12 * 3600;
/** How long refreshing may carry a login on: then the password is asked again. */
export const LOGIN_LIFETIME_MS = 7 * 86_400_000;
const ISSUER = 'hearth';

export interface Session {
  token: string;
  /** ISO time. */
  expires_at: string;
}

function secretFile(dataDir: string): Buffer {
  const file = join(dataDir, 'session-secret');
  if (existsSync(file)) {
    const text = readFileSync(file, 'utf8').trim();
    if (text.length >= 43) return Buffer.from(text, 'base64url');
  }
  const secret = randomBytes(32);
  writeFileSync(file, secret.toString('base64url') + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  return secret;
}

export class Sessions {
  private readonly key: Buffer;

  constructor(dataDir: string) {
    this.key = secretFile(dataDir);
  }

  /**
   * `checkedAt`: when the credential it stands on was checked (taken before checking a password, so
   * a change of the user meanwhile ends it); `loginAt`: when the password was last given.
   */
  async issue(username: string, checkedAt: number, loginAt: number): Promise<Session> {
    const now = Math.floor(Date.now() / 1000);
    // `ims`: the issue time in milliseconds, to compare with the user's last change (iat is in seconds).
    const token = await new SignJWT({ ims: checkedAt, login: loginAt })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(ISSUER)
      .setSubject(username)
      .setIssuedAt(now)
      .setExpirationTime(now + SESSION_TTL_S)
      .sign(this.key);
    return { token, expires_at: new Date((now + SESSION_TTL_S) * 1000).toISOString() };
  }

  /** The session's user, when it was issued and when its login was (epoch ms), or null when it is not a valid, current session. */
  async read(token: string): Promise<{ username: string; issuedAt: number; loginAt: number } | null> {
    try {
      const { payload } = await jwtVerify(token, this.key, { issuer: ISSUER, algorithms: ['HS256'], requiredClaims: ['exp', 'sub'] });
      if (typeof payload.sub !== 'string' || typeof payload.ims !== 'number' || typeof payload.login !== 'number') return null;
      return { username: payload.sub, issuedAt: payload.ims, loginAt: payload.login };
    } catch {
      return null;
    }
  }
}
