/** The CLI's view of a running hub: its HTTP API, with the admin token found the way the hub stores it. */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { tokenFile } from '../hub/auth/admin-token.js';
import { CLI_AGENT } from '../hub/users/types.js';
import { VERSION } from '../hub/version.js';

export interface ClientOptions {
  url?: string;
  token?: string;
  dataDir?: string;
}

/** A failure the CLI reports in one line and exits non-zero for. */
export class CliError extends Error {}

export class ApiClient {
  readonly url: string;
  private readonly token: string | undefined;

  constructor(o: ClientOptions, env: NodeJS.ProcessEnv = process.env) {
    this.url = (o.url ?? env.HEARTH_URL ?? `http://127.0.0.1:${env.HEARTH_HTTP_PORT ?? '8099'}`).replace(/\/$/, '');
    const file = tokenFile(resolve(o.dataDir ?? env.HEARTH_DATA_DIR ?? './data'));
    this.token = o.token ?? env.HEARTH_ADMIN_TOKEN ?? (existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined);
  }

  /** For the WebSocket, where the token goes in the query. */
  get tokenValue(): string | undefined {
    return this.token;
  }

  async get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(this.url + path, {
        method,
        headers: {
          'user-agent': `${CLI_AGENT}/${VERSION}`,
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
          // A FormData body sets its own multipart content type (with the boundary).
          ...(body === undefined || body instanceof FormData ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: body instanceof FormData ? body : JSON.stringify(body) }),
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
      throw new CliError(`cannot reach the hub at ${this.url} (${cause}); is it running? (--url or HEARTH_URL)`);
    }
    const text = await res.text();
    let doc: unknown = undefined;
    try {
      doc = text ? JSON.parse(text) : undefined;
    } catch {
      doc = text;
    }
    if (!res.ok) {
      const msg = typeof doc === 'object' && doc !== null && 'error' in doc ? String((doc as { error: unknown }).error) : text;
      const hint = res.status === 401 ? ' (token from --token, HEARTH_ADMIN_TOKEN or <data dir>/admin-token)' : '';
      throw new CliError(`${method} ${path}: ${res.status} ${msg}${hint}`);
    }
    return doc as T;
  }
}
