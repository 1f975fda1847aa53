/** pino, with secrets kept out: redacted fields, and errors without the SQL parameters they carry. */
import { pino } from 'pino';
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
