/**
 * Work gathered during one turn of the event loop and done once at its end: a thing whose state
 * changed ten times in a turn is published once, 50 agents sampled at once refresh the hub once.
 * MQTT sends leave in the next turn at the earliest, so nothing is later for it.
 */
export class EndOfTurn<T> {
  private pending = new Set<T>();
  private scheduled = false;

  constructor(private readonly run: (items: T[]) => void) {}

  add(item: T): void {
    this.pending.add(item);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /** Takes an item out again (it was dealt with at once meanwhile). */
  forget(item: T): void {
    this.pending.delete(item);
  }

  /** Forgets what is pending (a manager stopping). */
  clear(): void {
    this.pending.clear();
  }

  private flush(): void {
    this.scheduled = false;
    const items = [...this.pending];
    this.pending.clear();
    if (items.length > 0) this.run(items);
  }
}
