/** test/agents-instances.test.ts again, with every hub on PostgreSQL. */
import { onPostgres } from '../helpers/database.js';

await onPostgres(() => import('../agents-instances.test.js'));
