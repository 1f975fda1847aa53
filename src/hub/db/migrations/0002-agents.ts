import { Table, type MigrationInterface, type QueryRunner } from 'typeorm';

export class Agents1763900000002 implements MigrationInterface {
  name = 'Agents1763900000002';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'agent',
        columns: [
          { name: 'id', type: 'varchar', length: '100', isPrimary: true },
          { name: 'name', type: 'varchar', length: '100' },
          { name: 'type', type: 'varchar', length: '50' },
          { name: 'definition', type: 'text' },
          { name: 'configuration', type: 'text' },
          { name: 'desired', type: 'varchar', length: '10' },
          { name: 'status', type: 'varchar', length: '20' },
          { name: 'status_reason', type: 'varchar', length: '200', isNullable: true },
          { name: 'health', type: 'integer' },
          { name: 'last_run', type: 'bigint', isNullable: true },
          { name: 'last_exit_code', type: 'integer', isNullable: true },
          { name: 'last_signal', type: 'varchar', length: '20', isNullable: true },
          { name: 'restarts', type: 'integer' },
          { name: 'pid', type: 'integer', isNullable: true },
          { name: 'pid_start_time', type: 'varchar', length: '30', isNullable: true },
          { name: 'created_at', type: 'bigint' },
          { name: 'updated_at', type: 'bigint' },
        ],
      }),
      true,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('agent', true);
  }
}
