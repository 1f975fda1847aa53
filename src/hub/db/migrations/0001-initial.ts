import { Table, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';

export class Initial1763900000001 implements MigrationInterface {
  name = 'Initial1763900000001';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'metric_sample',
        columns: [
          { name: 'id', type: 'integer', isPrimary: true, isGenerated: true, generationStrategy: 'increment' },
          { name: 'ts', type: 'bigint' },
          { name: 'resolution', type: 'integer' },
          { name: 'values', type: 'text' },
        ],
      }),
      true,
    );
    await q.createIndex('metric_sample', new TableIndex({ name: 'idx_metric_sample_ts', columnNames: ['ts'] }));
    await q.createTable(
      new Table({
        name: 'hidden_device',
        columns: [
          { name: 'device_id', type: 'varchar', length: '200', isPrimary: true },
          { name: 'hidden_at', type: 'bigint' },
        ],
      }),
      true,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('hidden_device', true);
    await q.dropTable('metric_sample', true);
  }
}
