/** test/ports.test.ts again, with every database on PostgreSQL. */
import { onPostgres } from '../helpers/database.js';

await onPostgres(() => import('../ports.test.js'));
