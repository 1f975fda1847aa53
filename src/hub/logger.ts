/** pino, with secrets redacted wherever they might be logged. */
import { pino } from 'pino';
import type { LogLevel } from './config/settings.js';

export type Logger = pino.Logger;

export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: undefined,
      redact: { paths: ['*.password', '*.token', '*.authorization', 'headers.authorization'], censor: '[secret]' },
    },
    destination ?? pino.destination(1),
  );
}
