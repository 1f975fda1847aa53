/** `hearth start`: runs the hub in the foreground until SIGTERM or SIGINT; SIGHUP restarts it in place. */
import { setFlagsFromString } from 'node:v8';
import type { Command } from 'commander';
import { ConfigError, loadConfig, type LoadedConfig } from '../../hub/config/load.js';
import { createLogger, stdoutLog, type Logger } from '../../hub/logger.js';
import { redactUrl } from '../../hub/url-secrets.js';

/**
 * V8's young generation grows up to 3 x 16 MiB when allocation is busy (loading the hub's modules
 * is), and gives it back only after a while of idleness: RSS a small long-running daemon does not
 * need. Keeping its semi-spaces at their initial 1 MiB means a scavenge every 1 MiB allocated:
 * more of them, each one small. Set here, before the hub's modules load, because the start command
 * is how users run the hub (`npm start`, the `hearth` bin) and the other commands are short-lived.
 * `--max-semi-space-size` would say it plainly but is read only when the heap is created; the
 * growth factor is read at every growth, so it also works from inside the process.
 */
function keepYoungGenerationSmall(): void {
  setFlagsFromString('--semi-space-growth-factor=1');
}

interface StartFlags {
  config?: string;
  dataDir?: string;
  nodeId?: string;
  mqttUrl?: string;
  brokerPort?: string;
  httpPort?: string;
  httpHost?: string;
  baseTopic?: string;
  logLevel?: string;
  portRange?: string;
}

/** A setting that cannot be used stops the hub at once: the message and exit code 2. */
function orExit2<T>(make: () => T): T {
  try {
    return make();
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    // A setting's value may be a URL with a password in it (database_url, mqtt_url).
    process.stderr.write(`hearth: ${redactUrl(e.message)}\n`);
    process.exit(2);
  }
}

function configFrom(flags: StartFlags): LoadedConfig {
  return orExit2(() =>
    loadConfig({
      flags: {
        data_dir: flags.dataDir,
        node_id: flags.nodeId,
        mqtt_url: flags.mqttUrl,
        broker_port: flags.brokerPort,
        http_port: flags.httpPort,
        http_host: flags.httpHost,
        base_topic: flags.baseTopic,
        log_level: flags.logLevel,
        port_range: flags.portRange,
      },
      env: process.env,
      ...(flags.config ? { configFile: flags.config } : {}),
    }),
  );
}

/** Said plainly, in the log and on stderr; a database's or a broker's error may quote its URL, password and all. */
function sayFatal(logger: Logger, what: 'start' | 'restart', e: unknown): NodeJS.ErrnoException {
  const err = e as NodeJS.ErrnoException;
  const message = redactUrl(err.message);
  logger.fatal({ err: { message, code: err.code } }, `the hub could not ${what}`);
  logger.flush();
  process.stderr.write(`hearth: could not ${what}: ${message}\n`);
  return err;
}

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('start the hub (embedded MQTT broker unless --mqtt-url, API and panel)')
    .option('--config <file>', 'config file (default <data dir>/hearth.yaml)')
    .option('--data-dir <dir>', 'database, app folders, logs, secrets (HEARTH_DATA_DIR, default ./data)')
    .option('--node-id <id>', "this hub's id in topics and unique ids (HEARTH_NODE_ID, default the host name)")
    .option('--mqtt-url <url>', 'external broker; empty means the embedded one (HEARTH_MQTT_URL)')
    .option('--broker-port <port>', 'embedded broker port, 0 = any free one (HEARTH_BROKER_PORT, default 1883)')
    .option('--http-port <port>', 'API and panel port (HEARTH_HTTP_PORT, default 8099)')
    .option('--http-host <host>', 'API bind address (HEARTH_HTTP_HOST, default 0.0.0.0)')
    .option('--base-topic <topic>', 'first level of every hub topic (HEARTH_BASE_TOPIC, default hearth)')
    .option('--log-level <level>', 'trace, debug, info, warn, error, fatal, silent (HEARTH_LOG_LEVEL, default info)')
    .option('--port-range <first-last>', 'ports for agents with port: true (HEARTH_PORT_RANGE, default 8100-8999)')
    .action(async (flags: StartFlags) => {
      keepYoungGenerationSmall();
      const config = configFrom(flags);
      const logger = createLogger(config.settings.logLevel, await stdoutLog(config.settings.logFormat));
      // Loaded here, not at the top: every other command only talks to a running hub's API.
      const { Hub } = await import('../../hub/hub.js');
      const hub = orExit2(() => new Hub(config, logger));
      let started = false;
      let stopping = false;
      const stop = async (signal: string): Promise<void> => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, 'stopping');
        // A restart under way finishes first (Hub.stop waits for it).
        await hub.stop();
        logger.flush();
        process.exit(0);
      };
      // SIGHUP is the Restart button (systemd's ExecReload, `docker kill -s HUP`): every extension
      // stops and starts again in this process. Settings and hearth.yaml are not read again.
      const restart = (): void => {
        if (stopping) return;
        if (!started) {
          // The start under way is the fresh start a restart would give.
          logger.info({ signal: 'SIGHUP' }, 'the hub is starting: nothing to restart');
          return;
        }
        const joining = hub.restarting;
        logger.info({ signal: 'SIGHUP', joining }, 'restarting in place');
        // A restart under way is joined (Hub.restart); only the first one reports its failure.
        if (joining) return;
        hub.restart().catch((e: unknown) => {
          // Half-stopped and unable to start again: better gone, so systemd or Docker starts it afresh.
          sayFatal(logger, 'restart', e);
          process.exit(1);
        });
      };
      process.on('SIGTERM', () => void stop('SIGTERM'));
      process.on('SIGINT', () => void stop('SIGINT'));
      process.on('SIGHUP', restart);
      try {
        await hub.start();
        started = true;
      } catch (e) {
        const err = sayFatal(logger, 'start', e);
        // A port in use or a data directory another hub holds is the user's to fix (exit 2).
        process.exit(err.code === 'EADDRINUSE' || err.code === 'EACCES' || err.code === 'EBUSY' ? 2 : 1);
      }
    });
}
