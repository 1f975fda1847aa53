/** The users' tables as TypeORM EntitySchemas: accounts, their API tokens, the audit, the hub's own key/values. */
import { EntitySchema } from 'typeorm';
import type { Role } from '../users/types.js';
import { epochMs } from './columns.js';

export interface UserRow {
  username: string;
  /** scrypt, self-describing (passwords.ts); never leaves the hub. */
  password_hash: string;
  role: Role;
  enabled: boolean;
  created_at: number;
  updated_at: number;
}

export const HearthUser = new EntitySchema<UserRow>({
  name: 'HearthUser',
  tableName: 'hearth_user',
  columns: {
    username: { type: String, primary: true, length: 64 },
    password_hash: { type: String, length: 300 },
    role: { type: String, length: 10 },
    enabled: { type: Boolean },
    created_at: { type: 'bigint', transformer: epochMs },
    updated_at: { type: 'bigint', transformer: epochMs },
  },
});

export interface ApiTokenRow {
  /** Public: the first part of the token, how it is listed and revoked. */
  id: string;
  username: string;
  name: string;
  role: Role;
  /** SHA-256 of the secret part: the token is shown once and never stored. */
  secret_hash: string;
  created_at: number;
  expires_at: number | null;
  last_used_at: number | null;
}

export const ApiToken = new EntitySchema<ApiTokenRow>({
  name: 'ApiToken',
  tableName: 'api_token',
  columns: {
    id: { type: String, primary: true, length: 32 },
    username: { type: String, length: 64 },
    name: { type: String, length: 100 },
    role: { type: String, length: 10 },
    secret_hash: { type: String, length: 64 },
    created_at: { type: 'bigint', transformer: epochMs },
    expires_at: { type: 'bigint', nullable: true, transformer: epochMs },
    last_used_at: { type: 'bigint', nullable: true, transformer: epochMs },
  },
  indices: [{ name: 'idx_api_token_username', columns: ['username'] }],
});

export interface AuditRow {
  id?: number;
  at: number;
  username: string;
  role: string;
  edge: string;
  operation: string;
  thing: string | null;
  outcome: 'ok' | 'refused' | 'failed';
  error: string | null;
}

export const AuditEntry = new EntitySchema<AuditRow>({
  name: 'AuditEntry',
  tableName: 'audit_entry',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    at: { type: 'bigint', transformer: epochMs },
    username: { type: String, length: 64 },
    role: { type: String, length: 10 },
    edge: { type: String, length: 20 },
    operation: { type: String, length: 60 },
    thing: { type: String, length: 200, nullable: true },
    outcome: { type: String, length: 10 },
    error: { type: String, length: 500, nullable: true },
  },
  indices: [{ name: 'idx_audit_entry_at', columns: ['at'] }],
});

export interface HubMetaRow {
  key: string;
  value: string;
}

export const HubMeta = new EntitySchema<HubMetaRow>({
  name: 'HubMeta',
  tableName: 'hub_meta',
  columns: {
    key: { type: String, primary: true, length: 100 },
    value: { type: 'text' },
  },
});
