/**
 * `hearth export agents`: the agents as hearth.yaml's agents list or a PM2 ecosystem file, to stdout
 * or a file (created 0600 when it holds secrets). What PM2 cannot say is listed on stderr.
 */
import { open } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import type { ExportAnswer } from '../../hub/agents/export.js';
import { CliError, type ApiClient } from '../api-client.js';
import { callOperation } from '../operations.js';

/** Writes the file; one holding secrets is made private before a byte of them is in it, even if it existed. */
async function writeOut(path: string, content: string, secret: boolean): Promise<void> {
  let file;
  try {
    file = await open(path, 'w', secret ? 0o600 : 0o666);
    if (secret) await file.chmod(0o600);
    await file.writeFile(content);
  } catch (e) {
    throw new CliError(`cannot write ${path}: ${(e as Error).message}`);
  } finally {
    await file?.close();
  }
}

export function registerExport(program: Command, client: () => ApiClient): void {
  const exp = program.command('export').description("write Hearth's configuration for another hub or tool");
  exp
    .command('agents')
    .description("the agents as hearth.yaml's agents list or a PM2 ecosystem file (secret env values masked unless --with-secrets)")
    .addOption(new Option('--format <format>', 'hearth: a hearth.yaml agents list; pm2: an ecosystem file (JSON)').choices(['hearth', 'pm2']).default('hearth'))
    .option('--with-secrets', 'secret env values as they are (admin role; a file is created 0600)')
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .action(async (o: { format: 'hearth' | 'pm2'; withSecrets?: boolean; output?: string }) => {
      const secret = o.withSecrets === true;
      const answer = await callOperation<ExportAnswer>(client(), 'agent/export', { format: o.format, ...(secret ? { with_secrets: true } : {}) });
      if (o.output === undefined) process.stdout.write(answer.content);
      else await writeOut(o.output, answer.content, secret);
      const skipped = answer.skipped ?? [];
      if (skipped.length > 0) {
        process.stderr.write(`Left out ${skipped.length} field${skipped.length === 1 ? '' : 's'} PM2 has no name for:\n`);
        for (const s of skipped) process.stderr.write(`  ${s.agent}: ${s.field} (${s.why})\n`);
      }
    });
}
