/**
 * Hot-path statements, typed by the same rows as the schema: `update('job', { status }, { id })`
 * compiles only when every column named is a column of that table's row, and its value is encoded
 * as the column's EntitySchema says (simple-json as text, epoch milliseconds whole, booleans 1/0),
 * exactly as TypeORM would store it.
 */
import type { EntitySchema, EntitySchemaColumnOptions } from 'typeorm';
import { Agent, Device, HiddenDevice, Job, MetricSample, Task } from './schema.js';
import type { AgentRow, DeviceRow, HiddenDeviceRow, JobRow, MetricSampleRow, TaskRow } from './schema.js';

/** Every table the row writer may touch, by its SQL name, with its row type. */
export interface Tables {
  metric_sample: MetricSampleRow;
  hidden_device: HiddenDeviceRow;
  agent: AgentRow;
  job: JobRow;
  task: TaskRow;
  device: DeviceRow;
}
export type TableName = keyof Tables;

/** The schema of each table; the compiler checks each row type, the loop below each table name. */
const SCHEMAS: { [T in TableName]: EntitySchema<Tables[T]> } = {
  metric_sample: MetricSample,
  hidden_device: HiddenDevice,
  agent: Agent,
  job: Job,
  task: Task,
  device: Device,
};
for (const [table, schema] of Object.entries(SCHEMAS)) {
  if (schema.options.tableName !== table) throw new Error(`statements.ts: ${table} maps to the schema of table ${schema.options.tableName}`);
}

/** What a statement binds. */
export type Param = string | number | null;

/** A statement with its values encoded, ready for SQL. */
export type Statement =
  /** Answers the new row's generated `id`. */
  | { insert: TableName; values: Record<string, Param> }
  /** Answers the number of rows changed. */
  | { update: TableName; set: Record<string, Param>; where: Record<string, Param> }
  /** Deletes the rows with these ids (at most 500); answers the number of rows deleted. */
  | { delete: TableName; ids: number[] };

/** `S`, refusing any key that is not a column of `Row` (even from a variable, not only a literal). */
export type Exact<Row, S> = S & { [K in Exclude<keyof S, keyof Row>]: never };

export function insert<T extends TableName, V extends Tables[T]>(table: T, values: Exact<Tables[T], V>): Statement {
  return { insert: table, values: encode(table, values) };
}

export function update<T extends TableName, S extends Partial<Tables[T]>, W extends Partial<Tables[T]>>(
  table: T,
  set: Exact<Tables[T], S>,
  where: Exact<Tables[T], W>,
): Statement {
  return { update: table, set: encode(table, set), where: encode(table, where) };
}

export function deleteIds(table: TableName, ids: number[]): Statement {
  return { delete: table, ids };
}

type Encoder = (v: unknown) => Param;

const encoders = new Map<TableName, Map<string, Encoder>>();

function encoderOf(column: EntitySchemaColumnOptions): Encoder {
  if (column.type === 'simple-json') return (v) => (v === null ? null : JSON.stringify(v));
  const transformer = column.transformer;
  if (transformer && !Array.isArray(transformer)) return (v) => transformer.to(v) as Param;
  if (column.type === Boolean) return (v) => (v === null ? null : v ? 1 : 0);
  return (v) => v as Param;
}

function encode(table: TableName, values: object): Record<string, Param> {
  let columns = encoders.get(table);
  if (!columns) {
    const defined = SCHEMAS[table].options.columns as Record<string, EntitySchemaColumnOptions>;
    columns = new Map(Object.entries(defined).map(([name, c]) => [name, encoderOf(c)]));
    encoders.set(table, columns);
  }
  const out: Record<string, Param> = {};
  for (const [k, v] of Object.entries(values)) {
    if (v === undefined) continue;
    const enc = columns.get(k);
    // Unreachable through the typed constructors; a cast somewhere would otherwise reach SQL.
    if (!enc) throw new Error(`table ${table} has no column ${k}`);
    out[k] = enc(v);
  }
  return out;
}
