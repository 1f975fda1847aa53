/**
 * The things of one kind a manager holds (agents, tasks, devices; apps and users next): found by
 * id or refused with a clear not-found, and new ids allocated from names with a reservation, so two
 * creates of one name at the same time (over HTTP and MQTT, say) still get two ids.
 */
import { invalid, notFound } from '../errors.js';
import { freeId, idOf } from '../ids.js';

export class ThingSet<T> {
  private readonly items = new Map<string, T>();
  private readonly reserved = new Set<string>();

  /**
   * @param kind how errors name the kind ("no agent "x"")
   * @param unavailable ids no thing may have (a route word: GET /api/tasks/history): their names are refused
   */
  constructor(
    private readonly kind: string,
    private readonly unavailable: readonly string[] = [],
  ) {}

  has(id: string): boolean {
    return this.items.has(id);
  }

  get(id: string): T | undefined {
    return this.items.get(id);
  }

  /** The thing, or the not-found refusal every edge reports (404, `status: error`, command_rejected). */
  find(id: string): T {
    const t = this.items.get(id);
    if (t === undefined) throw notFound(`no ${this.kind} "${id}"`);
    return t;
  }

  values(): IterableIterator<T> {
    return this.items.values();
  }

  set(id: string, thing: T): void {
    this.items.set(id, thing);
  }

  delete(id: string): boolean {
    return this.items.delete(id);
  }

  clear(): void {
    this.items.clear();
  }

  /**
   * Chooses the id for a new thing named `name` and holds it while `create` runs (it awaits the
   * database): nobody else gets that id meanwhile. `create` puts the thing in the set.
   */
  async claim<R>(name: string, create: (id: string) => Promise<R>): Promise<R> {
    // Refused rather than suffixed: hearth.yaml finds its things by the name's id, and would make another at every start.
    if (this.unavailable.includes(idOf(name))) throw invalid(`name: "${name}" cannot be used: its id "${idOf(name)}" is a word of the API (/api/${this.kind}s/${idOf(name)})`);
    const id = freeId(name, (x) => this.items.has(x) || this.reserved.has(x));
    this.reserved.add(id);
    try {
      return await create(id);
    } finally {
      this.reserved.delete(id);
    }
  }
}
