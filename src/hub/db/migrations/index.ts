/** Every migration, in order. A schema change is one new file plus one line here. */
import { Initial1763900000001 } from './0001-initial.js';
import { Agents1763900000002 } from './0002-agents.js';

export const MIGRATIONS = [Initial1763900000001, Agents1763900000002];
