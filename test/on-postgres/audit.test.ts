/** test/audit.test.ts again, with every hub on PostgreSQL. */
import { onPostgres } from '../helpers/database.js';

await onPostgres(() => import('../audit.test.js'));
