import { Table, TableUnique, type MigrationInterface, type QueryRunner } from 'typeorm';

/** The ports handed out as PORT: the port is the key, so two owners can never share one. */
export class Ports1763900000007 implements MigrationInterface {
  name = 'Ports1763900000007';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'port_allocation',
        columns: [
          { name: 'port', type: 'integer', isPrimary: true },
          { name: 'owner_kind', type: 'varchar', length: '10' },
          { name: 'owner_id', type: 'varchar', length: '100' },
          { name: 'instance', type: 'integer' },
          { name: 'allocated_at', type: 'bigint' },
        ],
        uniques: [new TableUnique({ name: 'uq_port_allocation_owner', columnNames: ['owner_kind', 'owner_id', 'instance'] })],
      }),
      true,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('port_allocation', true);
  }
}
