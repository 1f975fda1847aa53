import { Table, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';

export class Jobs1763900000003 implements MigrationInterface {
  name = 'Jobs1763900000003';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'job',
        columns: [
          { name: 'id', type: 'integer', isPrimary: true, isGenerated: true, generationStrategy: 'increment' },
          { name: 'kind', type: 'varchar', length: '20' },
          { name: 'task_id', type: 'varchar', length: '100', isNullable: true },
          { name: 'trigger', type: 'varchar', length: '30' },
          { name: 'status', type: 'varchar', length: '20' },
          { name: 'progress', type: 'integer' },
          { name: 'attempt', type: 'integer' },
          { name: 'created_at', type: 'bigint' },
          { name: 'started_at', type: 'bigint', isNullable: true },
          { name: 'ended_at', type: 'bigint', isNullable: true },
          { name: 'exit_code', type: 'integer', isNullable: true },
          { name: 'error', type: 'varchar', length: '500', isNullable: true },
          { name: 'steps', type: 'text' },
          { name: 'stdout_tail', type: 'text' },
          { name: 'stderr_tail', type: 'text' },
          { name: 'pid', type: 'integer', isNullable: true },
          { name: 'pid_start_time', type: 'varchar', length: '30', isNullable: true },
        ],
      }),
      true,
    );
    await q.createIndex('job', new TableIndex({ name: 'idx_job_task_id', columnNames: ['task_id'] }));
    await q.createIndex('job', new TableIndex({ name: 'idx_job_status', columnNames: ['status'] }));
    await q.createIndex('job', new TableIndex({ name: 'idx_job_created_at', columnNames: ['created_at'] }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('job', true);
  }
}
