/** test/edge-limits-programs.test.ts again, with every hub on PostgreSQL. */
import { onPostgres } from '../helpers/database.js';

await onPostgres(() => import('../edge-limits-programs.test.js'));
