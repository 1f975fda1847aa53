/** An agent as the world sees it: its thing state (MQTT, WebSocket) and its API view (secrets masked). */
import type { AgentRow } from '../db/schema.js';
import type { Enforcement } from '../supervisor/limits.js';
import { SECRET_MASK, isSecret, type EnvValue } from '../secrets.js';
import type { ProgramStatus } from '../supervisor/spec.js';
import { AgentCreate } from './schema.js';

/** Which limits are in force and how (the kernel's answer, see supervisor/limits.ts). */
export type LimitEnforcement = Enforcement;

export interface AgentState {
  id: string;
  name: string;
  type: string;
  status: ProgramStatus;
  reason: string | null;
  desired: 'running' | 'stopped';
  pid: number | null;
  started_at: string | null;
  /** When a restart by policy will happen (status backoff). */
  next_start_at: string | null;
  restarts: number;
  last_exit_code: number | null;
  last_signal: string | null;
  health: number;
  health_check: { ok: boolean; detail: string; at: string } | null;
  cpu_percent: number | null;
  memory_bytes: number | null;
  /** Failed, or in a crash loop: the problem binary_sensor. */
  problem: boolean;
  limits: LimitEnforcement;
  /** How many copies run (the definition's instances), and how many of them are running. */
  instances: number;
  instances_running: number;
  /** Each copy; with one instance, the same as the fields above. */
  instance_states: InstanceState[];
  /** Instance 0's PORT (port: true), or null. */
  port: number | null;
  /** The reload under way: the instance being replaced, of how many. */
  reloading: { instance: number; of: number } | null;
  last_reload: { at: string; ok: boolean; detail: string } | null;
}

/** One copy of an agent. */
export interface InstanceState {
  instance: number;
  status: ProgramStatus;
  reason: string | null;
  pid: number | null;
  port: number | null;
  started_at: string | null;
  restarts: number;
  last_exit_code: number | null;
  health: number;
  cpu_percent: number | null;
  memory_bytes: number | null;
}

/** The definition with secret env values masked: what the API answers. */
export type AgentDefinitionView = Omit<AgentCreate, 'name' | 'configuration'>;

export interface AgentView extends AgentState {
  definition: AgentDefinitionView;
  configuration: Record<string, unknown>;
  last_run: string | null;
  created_at: string;
  updated_at: string;
}

export function maskEnv(env: Record<string, EnvValue> | undefined): Record<string, EnvValue> | undefined {
  if (!env) return env;
  return Object.fromEntries(
    Object.entries(env).map(([k, v]) => [k, isSecret(k, v) ? (typeof v === 'string' ? SECRET_MASK : { value: SECRET_MASK, secret: true }) : v]),
  );
}

export function agentView(row: AgentRow, state: AgentState): AgentView {
  const def = row.definition as Omit<AgentCreate, 'name' | 'type' | 'configuration'>;
  return {
    ...state,
    definition: { ...def, type: row.type, env: maskEnv(def.env) },
    configuration: row.configuration,
    last_run: row.last_run === null ? null : new Date(row.last_run).toISOString(),
    created_at: new Date(row.created_at).toISOString(),
    updated_at: new Date(row.updated_at).toISOString(),
  };
}
