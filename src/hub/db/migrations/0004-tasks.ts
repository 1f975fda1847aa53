import { Table, type MigrationInterface, type QueryRunner } from 'typeorm';

export class Tasks1763900000004 implements MigrationInterface {
  name = 'Tasks1763900000004';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'task',
        columns: [
          { name: 'id', type: 'varchar', length: '100', isPrimary: true },
          { name: 'name', type: 'varchar', length: '100' },
          { name: 'definition', type: 'text' },
          { name: 'enabled', type: 'boolean' },
          { name: 'last_run', type: 'bigint', isNullable: true },
          { name: 'last_result', type: 'varchar', length: '20', isNullable: true },
          { name: 'last_duration_ms', type: 'bigint', isNullable: true },
          { name: 'last_scheduled', type: 'bigint', isNullable: true },
          { name: 'created_at', type: 'bigint' },
          { name: 'updated_at', type: 'bigint' },
        ],
      }),
      true,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('task', true);
  }
}
