/** A thing's id from its name: a slug, at most 90 characters (room for a _2 suffix within 100). */
import { slugify } from './config/settings.js';

export const idOf = (name: string): string => slugify(name).slice(0, 90);

/** The first id free for `name`: web server -> web_server, then web_server_2. */
export function freeId(name: string, taken: (id: string) => boolean): string {
  const base = idOf(name);
  let id = base;
  for (let n = 2; taken(id); n++) id = `${base}_${n}`;
  return id;
}
