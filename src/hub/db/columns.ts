/** Column transformers shared by the schemas. */
import type { ValueTransformer } from 'typeorm';

/**
 * Epoch milliseconds: whole numbers going in (PostgreSQL's bigint refuses a fraction), numbers
 * coming out (PostgreSQL returns bigint as a string).
 */
export const epochMs: ValueTransformer = {
  to: (v: number | null | undefined) => (typeof v === 'number' ? Math.round(v) : v),
  from: (v: string | number | null) => (v === null ? null : Number(v)),
};
