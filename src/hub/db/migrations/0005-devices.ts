import { Table, TableColumn, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';

export class Devices1763900000005 implements MigrationInterface {
  name = 'Devices1763900000005';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'device',
        columns: [
          { name: 'id', type: 'varchar', length: '100', isPrimary: true },
          { name: 'name', type: 'varchar', length: '100' },
          { name: 'type', type: 'varchar', length: '50' },
          { name: 'definition', type: 'text' },
          { name: 'configuration', type: 'text' },
          { name: 'desired', type: 'varchar', length: '15' },
          { name: 'status', type: 'varchar', length: '20' },
          { name: 'status_reason', type: 'varchar', length: '300', isNullable: true },
          { name: 'last_seen', type: 'bigint', isNullable: true },
          { name: 'firmware_version', type: 'varchar', length: '200', isNullable: true },
          { name: 'created_at', type: 'bigint' },
          { name: 'updated_at', type: 'bigint' },
        ],
      }),
      true,
    );
    // Uploads are jobs too: which device one went to.
    await q.addColumn('job', new TableColumn({ name: 'device_id', type: 'varchar', length: '100', isNullable: true }));
    await q.createIndex('job', new TableIndex({ name: 'idx_job_device_id', columnNames: ['device_id'] }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropIndex('job', 'idx_job_device_id');
    await q.dropColumn('job', 'device_id');
    await q.dropTable('device', true);
  }
}
