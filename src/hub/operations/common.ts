/** What every kind's operations share: one id, one empty input, one deletion, one shape of action. */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type { OperationContext } from './context.js';
import { operation, type Operation, type Role } from './operation.js';

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

type ThingNoun = 'agent' | 'task' | 'device';

/** `<noun>/<verb>` on one thing: POST /api/<noun>s/{id}/<verb>, the thing's view as the answer. */
export function thingAction<O extends TSchema>(
  noun: ThingNoun,
  verb: string,
  o: { summary: string; role: Role; output: O; say(out: Static<O>): string; act(hub: OperationContext, id: string): Promise<Static<O>> },
): Operation<typeof ById, O> {
  return operation({
    name: `${noun}/${verb}`,
    summary: o.summary,
    role: o.role,
    http: { method: 'POST', path: `/api/${noun}s/:id/${verb}` },
    input: ById,
    output: o.output,
    cli: { say: o.say },
    handler: (i, hub) => o.act(hub, i.id),
  });
}

/** `<noun>/delete`: the same for every kind of thing. */
export function deletion(noun: ThingNoun, summary: string, remove: (hub: OperationContext, id: string) => Promise<void>): Operation<typeof ById, typeof Deleted> {
  return operation({
    name: `${noun}/delete`,
    summary,
    role: 'admin',
    http: { method: 'DELETE', path: `/api/${noun}s/:id` },
    input: ById,
    output: Deleted,
    cli: { say: (o) => `deleted ${noun} ${o.id}` },
    handler: async (i, hub) => {
      await remove(hub, i.id);
      return { id: i.id, deleted: true };
    },
  });
}
