/**
 * One HTTP request. Ok on expect_status when it is given, else on any 2xx. The status and the start
 * of the answer go to the job's output.
 */
import { Type } from '@sinclair/typebox';
import type { ActionOutcome, ActionType } from './types.js';
import { stopReason } from './stop-reason.js';

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'] as const;
type Method = (typeof METHODS)[number];

/** The start of the answer kept in the job's output. */
const BODY_KEEP = 2048;

export const HttpAction = Type.Object(
  {
    type: Type.Literal('http'),
    method: Type.Unsafe<Method>(Type.String({ enum: [...METHODS] })),
    url: Type.String({ pattern: '^https?://', maxLength: 8192 }),
    headers: Type.Optional(
      Type.Record(Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" }), Type.String({ maxLength: 8192, pattern: '^[\\t\\x20-\\x7e\\x80-\\xff]*$' }), {
        additionalProperties: false, // TypeBox leaves names that miss the pattern allowed
      }),
    ),
    // Its type is checked in check(), so the error can name every form allowed.
    body: Type.Optional(Type.Unknown({ description: 'text as it is; an object or array is sent as JSON, with content-type: application/json' })),
    expect_status: Type.Optional(Type.Integer({ minimum: 100, maximum: 599, description: 'default: any 2xx' })),
  },
  { additionalProperties: false },
);

/** fetch says "fetch failed"; the reason is in its cause (ECONNREFUSED, ENOTFOUND, a TLS error…). */
function networkProblem(e: unknown): string {
  const cause = (e as { cause?: unknown }).cause;
  if (cause instanceof Error) return cause.message || (cause as NodeJS.ErrnoException).code || cause.name;
  if (cause !== undefined) return String(cause);
  return e instanceof Error ? e.message : String(e);
}

/** The first `limit` bytes of the answer; the rest is not downloaded. */
async function readHead(res: Response, limit: number): Promise<Buffer> {
  if (!res.body) return Buffer.alloc(0);
  const reader = res.body.getReader();
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    while (size < limit) {
      const { done, value } = await reader.read();
      if (done) return Buffer.concat(chunks);
      chunks.push(Buffer.from(value));
      size += value.byteLength;
    }
    await reader.cancel().catch(() => undefined);
  } finally {
    reader.releaseLock();
  }
  return Buffer.concat(chunks).subarray(0, limit);
}

export const http: ActionType<typeof HttpAction> = {
  type: 'http',
  schema: HttpAction,

  check(a) {
    let url: URL;
    try {
      url = new URL(a.url);
    } catch {
      return 'action.url: is not a valid URL';
    }
    if (url.username !== '' || url.password !== '') return 'action.url: must not hold credentials (use an authorization header)';
    if (a.body !== undefined) {
      if (a.method === 'GET' || a.method === 'HEAD') return `action.body: a ${a.method} request has no body`;
      if (a.body === null || (typeof a.body !== 'string' && typeof a.body !== 'object')) return 'action.body: must be a string, an object or an array';
    }
    return null;
  },

  async run(a, job): Promise<ActionOutcome> {
    if (job.signal.aborted) return { ok: false, error: stopReason(job.signal) };
    let where = a.url;
    try {
      const u = new URL(a.url);
      where = `${u.origin}${u.pathname}`; // the query may hold a token
    } catch {
      // fetch says why
    }
    let headers: Headers;
    try {
      headers = new Headers(a.headers ?? {});
    } catch {
      // Node's message quotes the value, which may be a token: name the problem, not the value.
      return { ok: false, error: 'a header value is not valid (control characters?)' };
    }
    try {
      let body: string | undefined;
      if (typeof a.body === 'string') body = a.body;
      else if (a.body !== undefined) {
        body = JSON.stringify(a.body);
        if (!headers.has('content-type')) headers.set('content-type', 'application/json');
      }
      const res = await fetch(a.url, { method: a.method, headers, body, signal: job.signal });
      const status = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
      job.step(`${a.method} ${where}: ${status}`);
      job.output('stdout', Buffer.from(`${status}\n`));
      let head: Buffer;
      try {
        head = await readHead(res, BODY_KEEP);
      } catch (e) {
        if (job.signal.aborted) throw e;
        head = Buffer.from(`(the answer broke off: ${networkProblem(e)})`);
      }
      if (head.length > 0) job.output('stdout', head);
      const ok = a.expect_status !== undefined ? res.status === a.expect_status : res.status >= 200 && res.status < 300;
      if (ok) return { ok: true };
      return { ok: false, error: `${status} (expected ${a.expect_status !== undefined ? String(a.expect_status) : '2xx'})` };
    } catch (e) {
      if (job.signal.aborted) return { ok: false, error: stopReason(job.signal) };
      return { ok: false, error: `${a.method} ${where}: ${networkProblem(e)}` };
    }
  },
};
