/** The Home Assistant bridge's state: what info, status and the hub's entity show. */

/** The Home Assistant event each finished task run is fired as. */
export const JOB_FINISHED_EVENT = 'hearth_job_finished';

export const HA_STATES = ['off', 'connecting', 'connected', 'disconnected', 'auth_failed'] as const;
export type HaState = (typeof HA_STATES)[number];

export interface HaStatus {
  state: HaState;
  /** Where it connects (no credentials in it); absent when off. */
  url?: string;
  /** Home Assistant's version, from its auth_ok. */
  version?: string;
  /** Why the last attempt or the connection failed. */
  last_error?: string;
  /** When the current state began. */
  since: string;
}
