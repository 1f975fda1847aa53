/** The hub's own bridge request paths: info, health_check, options, restart. */
import { Type } from '@sinclair/typebox';
import { LOG_LEVELS } from './config/types.js';
import type { Health } from './http/context.js';
import type { HubInfo } from './info.js';
import type { RequestRegistry } from './requests.js';

export interface HubControls {
  info(): HubInfo;
  health(): Promise<Health>;
  setLogLevel(level: (typeof LOG_LEVELS)[number]): void;
  /** Restarts the hub in place, after the answer has gone out. */
  restart(): void;
}

const Empty = Type.Object({}, { additionalProperties: false });

export function registerHubRequests(requests: RequestRegistry, hub: HubControls): void {
  requests.register('info', Empty, () => hub.info());
  requests.register('health_check', Empty, () => hub.health());
  requests.register(
    'options',
    // An enum, not a union of literals: a wrong level is then answered with the levels there are.
    Type.Object({ log_level: Type.Optional(Type.Unsafe<(typeof LOG_LEVELS)[number]>({ type: 'string', enum: [...LOG_LEVELS] })) }, { additionalProperties: false }),
    (body) => {
      if (body.log_level) hub.setLogLevel(body.log_level);
      return { log_level: hub.info().log_level };
    },
  );
  requests.register('restart', Empty, () => {
    setImmediate(() => hub.restart());
    return { restarting: true };
  });
}
