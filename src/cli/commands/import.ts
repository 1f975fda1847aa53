/**
 * `hearth import pm2 <file>`: a PM2 ecosystem file becomes agents. The file is read (and, for a
 * JavaScript one, evaluated) here, by the CLI, on the user's side; the hub only ever gets JSON.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { extname, isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runInThisContext } from 'node:vm';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import type { ImportResult } from '../../hub/agents/import.js';
import { CliError, type ApiClient } from '../api-client.js';
import { callOperation } from '../operations.js';

const reason = (e: unknown): string => {
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'ENOENT') return 'no such file';
  if (err?.code === 'EACCES') return 'permission denied';
  if (err?.code === 'EISDIR') return 'is a directory';
  return err instanceof Error ? err.message : String(e);
};

/** An ES module (a namespace, or one compiled to CommonJS) -> what it exports by default. */
function moduleValue(m: unknown): unknown {
  if (typeof m !== 'object' || m === null) return m;
  const ns = m as Record<string | symbol, unknown>;
  const esm = ns[Symbol.toStringTag] === 'Module' || ns.__esModule === true;
  if (!esm) return m;
  if (ns.default !== undefined) return ns.default;
  const named: Record<string, unknown> = {};
  for (const k of Object.keys(ns)) if (k !== '__esModule') named[k] = ns[k];
  return named; // `export const apps = [...]`
}

/**
 * Loads an ecosystem file: .json (parsed), .yaml/.yml (parsed), .js/.cjs (required: it runs here,
 * as it would under `pm2 start`), .mjs (imported). Throws CliError with the reason otherwise.
 */
export async function loadEcosystemFile(path: string): Promise<unknown> {
  const abs = resolve(path);
  const ext = extname(abs).toLowerCase();
  if (!['.json', '.yaml', '.yml', '.js', '.cjs', '.mjs'].includes(ext)) {
    throw new CliError(`${path}: not an ecosystem file (expected .json, .js, .cjs, .mjs, .yaml or .yml)`);
  }
  let text: string;
  try {
    // Read for every kind, so a missing or unreadable file says so in the same words.
    text = await readFile(abs, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read ${path}: ${reason(e)}`);
  }
  if (ext === '.json') {
    try {
      return JSON.parse(text) as unknown;
    } catch (e) {
      // PM2 evaluates a .json file as a JavaScript expression (Common.parseConfig): comments,
      // trailing commas and process.env.HOME work there, so they work here.
      try {
        return runInThisContext(`(${text})`, { filename: abs, timeout: 1000 }) as unknown;
      } catch {
        throw new CliError(`${path} is not valid JSON: ${reason(e)}`);
      }
    }
  }
  if (ext === '.yaml' || ext === '.yml') {
    try {
      return parseYaml(text) as unknown;
    } catch (e) {
      throw new CliError(`${path} is not valid YAML: ${reason(e)}`);
    }
  }
  try {
    if (ext === '.mjs') return moduleValue(await import(pathToFileURL(abs).href));
    try {
      return moduleValue(createRequire(import.meta.url)(abs));
    } catch (e) {
      // A .js file in a "type": "module" package, when require() cannot load ES modules.
      if ((e as NodeJS.ErrnoException).code !== 'ERR_REQUIRE_ESM' && (e as NodeJS.ErrnoException).code !== 'ERR_REQUIRE_ASYNC_MODULE') throw e;
      return moduleValue(await import(pathToFileURL(abs).href));
    }
  } catch (e) {
    throw new CliError(`cannot load ${path}: ${reason(e)}`);
  }
}

/**
 * PM2 resolves an app's cwd against the directory `pm2 start` runs in, and starts an app without
 * one there. The hub runs elsewhere, so each app's cwd is made absolute here, the same way. A cwd
 * with ~ or $VARIABLES, which PM2 does not expand, goes as it is: the hub says what is wrong with it.
 */
export function anchorCwd(doc: unknown, base: string): unknown {
  const anchor = (app: unknown): unknown => {
    if (typeof app !== 'object' || app === null || Array.isArray(app)) return app;
    const a = app as Record<string, unknown>;
    if (a.cwd === undefined || a.cwd === null) return { ...a, cwd: base };
    if (typeof a.cwd === 'string' && a.cwd !== '' && !isAbsolute(a.cwd) && !a.cwd.startsWith('~') && !a.cwd.includes('$')) return { ...a, cwd: resolve(base, a.cwd) };
    return app; // absolute, unexpanded, or of a wrong type the hub will report
  };
  if (Array.isArray(doc)) return doc.map(anchor);
  if (typeof doc === 'object' && doc !== null && 'apps' in doc) {
    const d = doc as { apps: unknown };
    return { ...d, apps: Array.isArray(d.apps) ? d.apps.map(anchor) : anchor(d.apps) };
  }
  return anchor(doc);
}

const list = <T>(v: T[] | undefined): T[] => (Array.isArray(v) ? v : []);

/** `env`: the --env asked for. */
export function formatImport(a: ImportResult, env?: string): string {
  const lines: string[] = [];
  const created = list(a.created);
  const updated = list(a.updated);
  const unknown = list(a.unknown_fields);
  const ignored = list(a.ignored_fields);
  const notes = list(a.notes);
  const errors = list(a.errors);
  const environments = list(a.environments);
  lines.push(`Created  ${created.length === 0 ? 'none' : created.join(', ')}`);
  lines.push(`Updated  ${updated.length === 0 ? 'none' : updated.join(', ')}`);
  if (env !== undefined) {
    const known = environments.length === 0 ? 'it has none' : `it has ${environments.join(', ')}`;
    lines.push(`Environment  ${env}${environments.includes(env) ? '' : `: not in the file (${known}); each app's env alone is used`}`);
  } else if (environments.length > 0) {
    lines.push(`Environments  ${environments.join(', ')} in the file, none applied (--env NAME applies one)`);
  }
  if (notes.length > 0) {
    lines.push(`Notes    ${notes.length} on how the file was read:`);
    for (const n of notes) lines.push(`  ${n.app}: ${n.field}: ${n.note}`);
  }
  if (ignored.length > 0) {
    lines.push(`Ignored  ${ignored.length} PM2 field${ignored.length === 1 ? '' : 's'} with no meaning in Hearth:`);
    for (const f of ignored) lines.push(`  ${f.app}: ${f.field} (${f.why})`);
  }
  if (unknown.length > 0) {
    lines.push(`Unknown  ${unknown.length} field${unknown.length === 1 ? '' : 's'}, not imported:`);
    for (const f of unknown) lines.push(`  ${f.app}: ${f.field}`);
  }
  if (errors.length > 0) {
    lines.push(`Errors   ${errors.length} app${errors.length === 1 ? '' : 's'} not imported:`);
    for (const e of errors) lines.push(`  ${e.app}: ${e.error}`);
  }
  return lines.join('\n');
}

/** `write` is for tests; the command prints to stdout. */
export function registerImport(program: Command, client: () => ApiClient, write: (text: string) => void = (t) => void process.stdout.write(t)): void {
  const imp = program.command('import').description('create agents from another tool\'s configuration');
  imp
    .command('pm2 <file>')
    .description('create or update agents from a PM2 ecosystem file (.json, .js, .cjs, .mjs, .yaml)')
    .option('--env <name>', "merge each app's env_<name> over its env, as `pm2 start --env <name>`")
    .option('--json', "print the hub's raw JSON answer")
    .action(async (file: string, o: { env?: string; json?: boolean }) => {
      const doc = anchorCwd(await loadEcosystemFile(file), process.cwd());
      const answer = await callOperation<ImportResult>(client(), 'import/pm2', { ecosystem: doc, ...(o.env === undefined ? {} : { env: o.env }) });
      write((o.json ? JSON.stringify(answer, null, 2) : formatImport(answer, o.env)) + '\n');
      const n = list(answer?.errors).length;
      if (n > 0) throw new CliError(`${n} app${n === 1 ? '' : 's'} of ${file} not imported`);
    });
}
