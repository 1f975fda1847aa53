/**
 * pino, with secrets kept out: redacted fields, and errors without the SQL parameters they carry.
 * JSON lines, or pretty lines for a person at a terminal.
 */
import { pino } from 'pino';
import type { LogFormat } from './config/settings.js';
import type { LogLevel } from './config/types.js';

export type Logger = pino.Logger;

/**
 * A database error carries its query and parameters, which may hold an agent's secret env:
 * they never reach the log.
 */
function errWithoutParameters(e: unknown): Record<string, unknown> {
  const out = pino.stdSerializers.err(e as Error) as unknown as Record<string, unknown>;
  delete out.query;
  delete out.parameters;
  if (out.driverError && typeof out.driverError === 'object') {
    const { parameters: _p, ...rest } = out.driverError as Record<string, unknown>;
    out.driverError = rest;
  }
  return out;
}

export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: undefined,
      serializers: { err: errWithoutParameters },
      redact: { paths: ['*.password', '*.token', '*.authorization', 'headers.authorization', 'parameters', '*.parameters'], censor: '[secret]' },
    },
    destination ?? pino.destination(1),
  );
}

/**
 * Standard output as the log's destination: pretty on a terminal (or when asked), JSON lines
 * otherwise, as pino users expect. Pretty is formatted in this thread, written synchronously: no
 * worker thread, and the last lines before an exit are not lost. Redaction and the error serializer
 * have run by then: the formatter sees what JSON would have held.
 */
export async function stdoutLog(format: LogFormat, isTTY = process.stdout.isTTY === true): Promise<pino.DestinationStream> {
  if (format === 'json' || (format === 'auto' && !isTTY)) return pino.destination(1);
  // Loaded only for a terminal: a hub in a service never carries it.
  const { default: PinoPretty } = await import('pino-pretty');
  return PinoPretty({ sync: true, destination: 1, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
}
