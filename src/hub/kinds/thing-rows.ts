/**
 * The one way a manager writes the changing columns of a thing's row: its state, and what the user
 * asked (the desired state: running, connected, enabled), which is written before it is acted on,
 * so a crash between the two loses nothing. One UPDATE of those columns only, through the row
 * writer: on SQLite it has landed when this returns; a run ending meanwhile keeps its own columns.
 */
import type { RowWriter } from '../db/row-writer.js';
import { update, type Exact, type Tables } from '../db/statements.js';

type ThingTable = 'agent' | 'task' | 'device';

export class ThingRows<T extends ThingTable> {
  constructor(
    private readonly writer: RowWriter,
    private readonly table: T,
  ) {}

  /** Compiles only with columns of the table's row (checked where T is known: at the call). */
  async write<S extends Partial<Tables[T]>>(id: string, columns: Exact<Tables[T], S>): Promise<void> {
    await this.writer.writeNow(() => [update(this.table as ThingTable, columns as never, { id })]);
  }
}
