/**
 * The audit: who changed what, when, through which edge, and how it ended. Kept for
 * AUDIT_RETENTION_DAYS; older entries are pruned at start and then every few hundred entries.
 */
import { LessThan, MoreThanOrEqual, type DataSource, type FindOptionsWhere, type Repository } from 'typeorm';
import { AuditEntry, type AuditRow } from '../db/users-schema.js';
import type { Caller } from './types.js';

export const AUDIT_RETENTION_DAYS = 90;
const PRUNE_EVERY = 500;
const ERROR_MAX = 500;

export interface AuditView {
  id: number;
  at: string;
  username: string;
  role: string;
  edge: string;
  operation: string;
  thing: string | null;
  outcome: AuditRow['outcome'];
  error: string | null;
}

export interface AuditQuery {
  limit?: number | undefined;
  username?: string | undefined;
  operation?: string | undefined;
  /** ISO time: entries at or after it. */
  since?: string | undefined;
}

const view = (r: AuditRow): AuditView => ({
  id: r.id!,
  at: new Date(r.at).toISOString(),
  username: r.username,
  role: r.role,
  edge: r.edge,
  operation: r.operation,
  thing: r.thing,
  outcome: r.outcome,
  error: r.error,
});

export class AuditLog {
  private readonly rows: Repository<AuditRow>;
  private sincePrune = 0;

  constructor(db: DataSource) {
    this.rows = db.getRepository(AuditEntry);
  }

  async record(caller: Caller, operation: string, thing: string | null, outcome: AuditRow['outcome'], error?: string): Promise<void> {
    await this.rows.insert({
      at: Date.now(),
      username: caller.principal.username,
      role: caller.principal.role,
      edge: caller.edge,
      operation,
      thing: thing?.slice(0, 200) ?? null,
      outcome,
      error: error === undefined ? null : error.slice(0, ERROR_MAX),
    });
    if (++this.sincePrune >= PRUNE_EVERY) await this.prune();
  }

  async prune(): Promise<void> {
    this.sincePrune = 0;
    await this.rows.delete({ at: LessThan(Date.now() - AUDIT_RETENTION_DAYS * 86_400_000) });
  }

  /** Newest first. */
  async list(q: AuditQuery): Promise<AuditView[]> {
    const where: FindOptionsWhere<AuditRow> = {};
    if (q.username !== undefined) where.username = q.username;
    if (q.operation !== undefined) where.operation = q.operation;
    if (q.since !== undefined) where.at = MoreThanOrEqual(Date.parse(q.since));
    const rows = await this.rows.find({ where, order: { id: 'DESC' }, take: q.limit ?? 100 });
    return rows.map(view);
  }
}
