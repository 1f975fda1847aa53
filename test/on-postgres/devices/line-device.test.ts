/** test/devices/line-device.test.ts again, with every hub on PostgreSQL. */
import { onPostgres } from '../../helpers/database.js';

await onPostgres(() => import('../../devices/line-device.test.js'));
