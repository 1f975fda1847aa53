#!/usr/bin/env node
/** The `hearth` command: `start` runs the hub; every other command talks to a running hub's API. */
import { Command, CommanderError } from 'commander';
import { VERSION } from '../hub/version.js';
import { ApiClient, CliError } from './api-client.js';
import { registerAgent } from './commands/agent.js';
import { registerDevice } from './commands/device.js';
import { registerExport } from './commands/export.js';
import { registerImport } from './commands/import.js';
import { registerStart } from './commands/start.js';
import { registerStatus } from './commands/status.js';
import { registerTask } from './commands/task.js';
import { registerUser } from './commands/user.js';
import { registerOperations } from './operations.js';

const program = new Command('hearth')
  .version(VERSION)
  .description('Hearth: a home server as a first-class Home Assistant citizen')
  .option('--url <url>', 'a running hub (HEARTH_URL, default http://127.0.0.1:$HEARTH_HTTP_PORT or 8099)')
  .option('--token <token>', 'admin token (HEARTH_ADMIN_TOKEN, default read from <data dir>/admin-token)')
  .option('--data-dir <dir>', 'where to find the admin token (HEARTH_DATA_DIR, default ./data)')
  .enablePositionalOptions()
  .exitOverride();

const client = (): ApiClient => new ApiClient(program.opts<{ url?: string; token?: string; dataDir?: string }>());

registerStart(program);
registerStatus(program, client);
registerAgent(program, client);
registerTask(program, client);
registerDevice(program, client);
registerImport(program, client);
registerExport(program, client);
registerUser(program, client);
// Last: every operation without a hand-written command above gets the generated one.
registerOperations(program, client);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    // Usage errors exit 2, like a bad setting; --help and --version exit 0.
    process.exit(e.exitCode === 0 ? 0 : 2);
  }
  if (e instanceof CliError) {
    process.stderr.write(`hearth: ${e.message}\n`);
    process.exit(1);
  }
  throw e;
}
