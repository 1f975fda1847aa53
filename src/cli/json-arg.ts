/** A JSON argument, given inline or as @file. */
import { readFileSync } from 'node:fs';
import { CliError } from './api-client.js';

export function jsonArg(text: string): unknown {
  let raw = text;
  if (text.startsWith('@')) {
    try {
      raw = readFileSync(text.slice(1), 'utf8');
    } catch (e) {
      throw new CliError(`cannot read ${text.slice(1)}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
  }
  try {
    return JSON.parse(raw);
  } catch (e) {
    throw new CliError(`not JSON: ${(e as Error).message}`);
  }
}
