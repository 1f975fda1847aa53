/** The hub's Home Assistant bridge on its own, for tests of what uses it (actions, triggers, checks). */
import { pino } from 'pino';
import { HomeAssistantBridge } from '../../src/bridges/homeassistant/bridge.js';
import { EventBus } from '../../src/hub/events.js';
import { onCleanup } from './cleanup.js';

/** A bridge as a hub without Home Assistant configured has it: off, every call refused. */
export function offBridge(): HomeAssistantBridge {
  return bridgeTo('', '');
}

/** A bridge to url with token, not started yet; stopped when the test file ends. */
export function bridgeTo(url: string, token: string, bus = new EventBus({ error: () => undefined })): HomeAssistantBridge {
  const b = new HomeAssistantBridge({ settings: { haUrl: url, haToken: token, nodeId: 'test' }, env: {}, bus, logger: pino({ level: 'silent' }) });
  onCleanup(() => b.stop());
  return b;
}
