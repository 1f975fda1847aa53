/** hearth.yaml's things: created when new, made exactly what the file says when they exist. */
import { idOf } from '../ids.js';

export interface DeclaredKind<B> {
  has(id: string): boolean;
  create(body: B): Promise<unknown>;
  /** With `replace`, a field removed from the file is removed from the thing. */
  update(id: string, body: B, o: { replace: true }): Promise<unknown>;
}

/** A kind's entries in hearth.yaml, and who hears of each thing the file created (the audit). */
export interface Declared<B> {
  bodies: readonly B[];
  created(id: string): Promise<void>;
}

export async function applyDeclared<B extends { name: string }>(declared: Declared<B>, kind: DeclaredKind<B>): Promise<void> {
  for (const body of declared.bodies) {
    const id = idOf(body.name);
    if (kind.has(id)) {
      await kind.update(id, body, { replace: true });
    } else {
      await kind.create(body);
      await declared.created(id);
    }
  }
}
