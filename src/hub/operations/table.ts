/**
 * The operation table at run time: every edge finds an operation here by its name, hands it the
 * input as it arrived (a bridge payload, an HTTP request's parts put together, a /set command's
 * translation) with who sent it, and gets the typed answer or a HubError. The caller's role is
 * checked and the input validated here, once, the same way for every edge, so a refusal and a bad
 * input get the same message over HTTP and MQTT. Every call that changes something is audited.
 */
import { HubError, invalid } from '../errors.js';
import { refusal, roleAllows } from '../users/types.js';
import { parse } from '../validate.js';
import type { Caller, OperationContext } from './context.js';
import type { Operation } from './operation.js';

/** What the audit names as the thing a call was about: its id or user name, or the id it answered. */
function thingOf(input: unknown, out?: unknown): string | null {
  for (const doc of [input, out]) {
    if (typeof doc !== 'object' || doc === null) continue;
    const d = doc as Record<string, unknown>;
    for (const k of ['id', 'username']) if (typeof d[k] === 'string' || typeof d[k] === 'number') return String(d[k]);
  }
  return null;
}

/** Reads change nothing; the audit records every call that is not a read (and every refusal). */
const changes = (op: Operation): boolean => op.http.method !== 'GET';

export class OperationTable {
  private readonly byName = new Map<string, Operation>();

  /** `context` is asked at each call: the managers are built after the edges that carry the calls. */
  constructor(
    operations: readonly Operation[],
    private readonly context: () => OperationContext,
  ) {
    for (const op of operations) {
      if (this.byName.has(op.name)) throw new Error(`operation ${op.name} is declared twice`);
      this.byName.set(op.name, op);
    }
  }

  list(): Operation[] {
    return [...this.byName.values()];
  }

  /** The operations MQTT may ask for: all but those whose answer is a secret. */
  bridgePaths(): string[] {
    return this.list()
      .filter((op) => !op.secret)
      .map((op) => op.name)
      .sort();
  }

  get(name: string): Operation {
    const op = this.byName.get(name);
    if (!op) throw new HubError('not_found', `unknown request path "${name}" (known: ${this.bridgePaths().join(', ')})`);
    return op;
  }

  /** Checks the caller's role and the input against the operation's schema, then runs it. */
  run(name: string, input: unknown, caller: Caller): Promise<unknown> {
    return this.runReading(name, () => input, caller);
  }

  /** The same, reading the input only once the role is checked (an HTTP request's parts may be refused as text). */
  async runReading(name: string, read: () => unknown, caller: Caller): Promise<unknown> {
    const op = this.get(name);
    const hub = this.context();
    /** Read once; when it cannot be read, the audit names no thing. */
    let input: unknown;
    let readError: unknown;
    try {
      input = read();
    } catch (e) {
      readError = e;
    }
    const record = (outcome: 'ok' | 'refused' | 'failed', out?: unknown, error?: string): Promise<void> => hub.audit.record(caller, op.name, thingOf(input, out), outcome, error);
    // Every refusal is recorded, a read's too; otherwise what changes something.
    const audit = changes(op) ? record : null;
    const { principal } = caller;
    if (!roleAllows(principal.role, op.role)) {
      const message = refusal(op.name, op.role, principal);
      await record('refused', undefined, message);
      throw new HubError('forbidden', message);
    }
    try {
      if (readError !== undefined) throw readError;
      const parsed = parse(op.input, input);
      if (!parsed.ok) throw invalid(parsed.error);
      const out = await op.handler(parsed.value, hub, caller);
      await audit?.('ok', out);
      return out;
    } catch (e) {
      await audit?.('failed', undefined, e instanceof HubError ? e.message : 'internal error');
      throw e;
    }
  }
}
