/**
 * The operation table at run time: every edge finds an operation here by its name, hands it the
 * input as it arrived (a bridge payload, an HTTP request's parts put together, a /set command's
 * translation) and gets the typed answer or a HubError. Input is validated here, once, the same
 * way for every edge, so a bad input gets the same message over HTTP and MQTT.
 */
import { HubError, invalid } from '../errors.js';
import { parse } from '../validate.js';
import type { Caller, OperationContext } from './context.js';
import type { Operation } from './operation.js';

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

  names(): string[] {
    return [...this.byName.keys()].sort();
  }

  get(name: string): Operation {
    const op = this.byName.get(name);
    if (!op) throw new HubError('not_found', `unknown request path "${name}" (known: ${this.names().join(', ')})`);
    return op;
  }

  /** Validates the input against the operation's schema, then runs it. */
  async run(name: string, input: unknown, caller: Caller): Promise<unknown> {
    const op = this.get(name);
    const parsed = parse(op.input, input);
    if (!parsed.ok) throw invalid(parsed.error);
    return await op.handler(parsed.value, this.context(), caller);
  }
}
