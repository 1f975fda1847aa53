/** Schemas every kind's operations share: one id, one empty input, one deletion answer. */
import { Type, type Static, type TSchema } from '@sinclair/typebox';

/** A thing's id as ids.ts makes it from a name: one rule on every edge. */
export const idText = (description?: string) => Type.String({ pattern: '^[a-z0-9_]+$', minLength: 1, maxLength: 100, ...(description ? { description } : {}) });
export const IdText = idText();

export const ById = Type.Object({ id: IdText }, { additionalProperties: false });
export type ById = Static<typeof ById>;

export const NoInput = Type.Object({}, { additionalProperties: false });

export const Deleted = Type.Object({ id: Type.String(), deleted: Type.Boolean() });

export const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

/** The object with `id` added in front of its fields (an update: the id and what changes). */
export const WithId = <T extends ReturnType<typeof Type.Object>>(t: T) => Type.Composite([ById, t], { additionalProperties: false });
