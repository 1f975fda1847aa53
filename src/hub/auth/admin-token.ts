/** The admin's bearer token: HEARTH_ADMIN_TOKEN, or one generated once into the data dir (0600). */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface AdminToken {
  token: string;
  /** The file it was read from or written to; null when it came from the environment. */
  file: string | null;
  generated: boolean;
}

export const tokenFile = (dataDir: string): string => join(dataDir, 'admin-token');

export function resolveAdminToken(dataDir: string, configured: string): AdminToken {
  if (configured) return { token: configured, file: null, generated: false };
  const file = tokenFile(dataDir);
  if (existsSync(file)) {
    const token = readFileSync(file, 'utf8').trim();
    if (token) return { token, file, generated: false };
  }
  const token = randomBytes(32).toString('base64url');
  writeFileSync(file, token + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  return { token, file, generated: true };
}

export function tokenMatches(expected: string, presented: string | undefined): boolean {
  if (!presented) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(presented);
  return a.length === b.length && timingSafeEqual(a, b);
}
