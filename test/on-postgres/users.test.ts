/** test/users.test.ts again, with every hub on PostgreSQL. */
import { onPostgres } from '../helpers/database.js';

await onPostgres(() => import('../users.test.js'));
