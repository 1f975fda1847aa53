/** test/devices/device-recovery.test.ts again, with every hub on PostgreSQL. */
import { onPostgres } from '../../helpers/database.js';

await onPostgres(() => import('../../devices/device-recovery.test.js'));
