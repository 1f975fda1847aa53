/** test/devices/device-control.test.ts again, with every hub on PostgreSQL. */
import { onPostgres } from '../../helpers/database.js';

await onPostgres(() => import('../../devices/device-control.test.js'));
