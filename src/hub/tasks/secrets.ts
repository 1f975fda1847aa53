/**
 * Secrets inside a task's actions (env values, authorization headers, an alarm code or password in
 * a Home Assistant service's data) are masked in every answer; a masked value sent back on update
 * keeps what was stored.
 */
import { SECRET_MASK, isSecret } from '../secrets.js';

const SECRET_HEADER = /^(authorization|proxy-authorization|cookie)$|token|secret|password|api[-_]?key/i;
/** Service data fields that hold a secret (alarm_control_panel's `code`, a lock's `code`, a password). */
const SECRET_DATA = /^(code|pin)$|token|secret|passw|api[-_]?key|credential/i;

type Json = unknown;

function isObject(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const masked = (v: Json): Json => (typeof v === 'string' || typeof v === 'number' ? SECRET_MASK : v);

/** A copy of the action with secret env, header and service data values masked, workflows included. */
export function maskAction(action: Json): Json {
  if (Array.isArray(action)) return action.map(maskAction);
  if (!isObject(action)) return action;
  const out: Record<string, Json> = {};
  for (const [k, v] of Object.entries(action)) {
    if (k === 'env' && isObject(v)) {
      out[k] = Object.fromEntries(Object.entries(v).map(([n, x]) => [n, typeof x === 'string' && isSecret(n, x) ? SECRET_MASK : x]));
    } else if (k === 'headers' && isObject(v)) {
      out[k] = Object.fromEntries(Object.entries(v).map(([n, x]) => [n, SECRET_HEADER.test(n) ? SECRET_MASK : x]));
    } else if (k === 'data' && action.type === 'ha_service' && isObject(v)) {
      out[k] = Object.fromEntries(Object.entries(v).map(([n, x]) => [n, SECRET_DATA.test(n) ? masked(x) : x]));
    } else out[k] = maskAction(v);
  }
  return out;
}

/** `next` with every masked value replaced by the stored one at the same place in `stored`. */
export function restoreMasked(next: Json, stored: Json): Json {
  if (next === SECRET_MASK && (typeof stored === 'string' || typeof stored === 'number')) return stored;
  if (Array.isArray(next)) return next.map((v, i) => restoreMasked(v, Array.isArray(stored) ? stored[i] : undefined));
  if (!isObject(next)) return next;
  return Object.fromEntries(Object.entries(next).map(([k, v]) => [k, restoreMasked(v, isObject(stored) ? stored[k] : undefined)]));
}
