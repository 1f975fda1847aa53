/**
 * Secrets in what users give (env values, and the names that make one): masked in every answer,
 * MQTT state and log, given to the program as they are.
 */
import { Type, type Static } from '@sinclair/typebox';

/** A value, or a value marked secret (never shown in API answers, MQTT state or logs). */
export const EnvValue = Type.Union([
  Type.String(),
  Type.Object({ value: Type.String(), secret: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
]);
export type EnvValue = Static<typeof EnvValue>;

const SECRET_NAME = /TOKEN|PASSWORD|PASSWD|SECRET|KEY|CREDENTIAL/i;

/** Is this env entry a secret, by its name or because it is marked so? */
export function isSecret(name: string, v: EnvValue): boolean {
  return (typeof v === 'object' && v.secret === true) || SECRET_NAME.test(name);
}

export const envValue = (v: EnvValue): string => (typeof v === 'string' ? v : v.value);

export const SECRET_MASK = '********';
