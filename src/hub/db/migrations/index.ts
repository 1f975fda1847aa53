/** Every migration, in order. A schema change is one new file plus one line here. */
import { Initial1763900000001 } from './0001-initial.js';

export const MIGRATIONS = [Initial1763900000001];
