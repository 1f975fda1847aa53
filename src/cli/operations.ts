/**
 * `hearth <noun> <verb>` for every operation of the table that has no hand-written command: the
 * route's path fields (or the operation's `cli.args`) are positional arguments, query fields are
 * options, and a body is one JSON argument (inline or @file). The request is built from the same
 * split of the input (httpParts) that the hub's routes read.
 */
import type { Command } from 'commander';
import { OPERATIONS } from '../hub/operations/index.js';
import { httpParts, type Operation } from '../hub/operations/operation.js';
import type { ApiClient } from './api-client.js';
import { CliError } from './api-client.js';
import { jsonArg } from './json-arg.js';

/** The request an operation's input makes: path fields in the path, the rest in the query or body. */
function requestOf(op: Operation, input: Record<string, unknown>): { method: string; path: string; body?: unknown } {
  const parts = httpParts(op);
  const path = op.http.path.replace(/:([a-z_]+)/g, (_m, k: string) => encodeURIComponent(String(input[k] ?? '')));
  const query = new URLSearchParams();
  for (const k of parts.query) if (input[k] !== undefined) query.set(k, String(input[k]));
  const q = query.toString();
  const url = q ? `${path}?${q}` : path;
  if (parts.body === null) return { method: op.http.method, path: url };
  if ('field' in parts.body) return { method: op.http.method, path: url, body: input[parts.body.field] };
  const body = Object.fromEntries(Object.entries(input).filter(([k]) => !parts.path.includes(k)));
  return { method: op.http.method, path: url, body };
}

function operationNamed(name: string): Operation {
  const op = OPERATIONS.find((o) => o.name === name);
  if (!op) throw new Error(`no operation ${name}`);
  return op;
}

/** Calls one operation of the running hub with its input, as the generated commands do. */
export async function callOperation<T>(client: ApiClient, name: string, input: Record<string, unknown> = {}): Promise<T> {
  const r = requestOf(operationNamed(name), input);
  return client.request<T>(r.method, r.path, r.body);
}

/** A positional argument as its field's type: a number field gets the number (anything else goes as text, for the hub to refuse by name). */
function typed(schema: unknown, text: string): unknown {
  const type = (schema as { type?: string } | undefined)?.type;
  return (type === 'integer' || type === 'number') && text.trim() !== '' && Number.isFinite(Number(text)) ? Number(text) : text;
}

const flagOf = (field: string): string => field.replace(/_/g, '-');
const optionKey = (flag: string): string => flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());

function nounCommand(program: Command, noun: string): Command {
  return program.commands.find((c) => c.name() === noun) ?? program.command(noun).description(`${noun} operations`);
}

/** Registers a command for each operation that has none yet (hand-written ones are registered first). */
export function registerOperations(program: Command, client: () => ApiClient): void {
  for (const op of OPERATIONS) {
    if (op.cli === false || !op.name.includes('/')) continue;
    const cli = op.cli ?? {};
    const [noun, name] = op.name.split('/') as [string, string];
    const parent = nounCommand(program, noun);
    const verb = cli.verb ?? name;
    if (parent.commands.some((c) => c.name() === verb)) continue;
    const parts = httpParts(op);
    const args = cli.args ?? parts.path;
    const json = parts.body !== null && !('field' in parts.body) ? parts.body.filter((k) => !args.includes(k)) : [];
    const bodyField = parts.body !== null && 'field' in parts.body ? parts.body.field : null;
    const wantsJson = json.length > 0 || bodyField !== null;
    const usage = [...args.map((a) => `<${a}>`), ...(wantsJson ? ['<json>'] : [])].join(' ');
    const cmd = parent.command(usage ? `${verb} ${usage}` : verb).description(`${op.summary}${wantsJson ? ' (JSON inline or @file)' : ''}`);
    const flags = parts.query.map((field) => ({ field, flag: cli.flags?.[field] ?? flagOf(field) }));
    for (const { field, flag } of flags) {
      const schema = op.input.properties[field] as { description?: string };
      cmd.option(`--${flag} <${field}>`, schema.description ?? field);
    }
    cmd.option('--json', 'print the answer as JSON');
    cmd.action(async (...given: unknown[]) => {
      const positional = given.slice(0, args.length + (wantsJson ? 1 : 0)) as string[];
      const options = given[positional.length] as Record<string, string | boolean | undefined>;
      const input: Record<string, unknown> = {};
      args.forEach((a, i) => (input[a] = typed(op.input.properties[a], positional[i]!)));
      if (wantsJson) {
        const doc = jsonArg(positional[args.length]!);
        if (bodyField) input[bodyField] = doc;
        else if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new CliError('the JSON argument must be an object');
        else Object.assign(input, doc);
      }
      for (const { field, flag } of flags) {
        const v = options[optionKey(flag)];
        if (typeof v === 'string') input[field] = v;
      }
      const out = await callOperation<unknown>(client(), op.name, input);
      const line = cli.say && !options.json ? cli.say(out as never, input as never) : JSON.stringify(out, null, 2);
      process.stdout.write(`${line}\n`);
    });
  }
}
