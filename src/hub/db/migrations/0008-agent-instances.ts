import { TableColumn, type MigrationInterface, type QueryRunner } from 'typeorm';

/** Agents with several instances: every instance's process, for crash recovery. */
export class AgentInstances1763900000008 implements MigrationInterface {
  name = 'AgentInstances1763900000008';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn('agent', new TableColumn({ name: 'processes', type: 'text', isNullable: true }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('agent', 'processes');
  }
}
