import { Table, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';

/** Users, their API tokens, the audit of changes, and a row the health check writes and reads back. */
export class Users1763900000006 implements MigrationInterface {
  name = 'Users1763900000006';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'hearth_user',
        columns: [
          { name: 'username', type: 'varchar', length: '64', isPrimary: true },
          { name: 'password_hash', type: 'varchar', length: '300' },
          { name: 'role', type: 'varchar', length: '10' },
          { name: 'enabled', type: 'boolean' },
          { name: 'created_at', type: 'bigint' },
          { name: 'updated_at', type: 'bigint' },
        ],
      }),
      true,
    );
    await q.createTable(
      new Table({
        name: 'api_token',
        columns: [
          { name: 'id', type: 'varchar', length: '32', isPrimary: true },
          { name: 'username', type: 'varchar', length: '64' },
          { name: 'name', type: 'varchar', length: '100' },
          { name: 'role', type: 'varchar', length: '10' },
          { name: 'secret_hash', type: 'varchar', length: '64' },
          { name: 'created_at', type: 'bigint' },
          { name: 'expires_at', type: 'bigint', isNullable: true },
          { name: 'last_used_at', type: 'bigint', isNullable: true },
        ],
      }),
      true,
    );
    await q.createIndex('api_token', new TableIndex({ name: 'idx_api_token_username', columnNames: ['username'] }));
    await q.createTable(
      new Table({
        name: 'audit_entry',
        columns: [
          { name: 'id', type: 'integer', isPrimary: true, isGenerated: true, generationStrategy: 'increment' },
          { name: 'at', type: 'bigint' },
          { name: 'username', type: 'varchar', length: '64' },
          { name: 'role', type: 'varchar', length: '10' },
          { name: 'edge', type: 'varchar', length: '20' },
          { name: 'operation', type: 'varchar', length: '60' },
          { name: 'thing', type: 'varchar', length: '200', isNullable: true },
          { name: 'outcome', type: 'varchar', length: '10' },
          { name: 'error', type: 'varchar', length: '500', isNullable: true },
        ],
      }),
      true,
    );
    await q.createIndex('audit_entry', new TableIndex({ name: 'idx_audit_entry_at', columnNames: ['at'] }));
    await q.createTable(
      new Table({
        name: 'hub_meta',
        columns: [
          { name: 'key', type: 'varchar', length: '100', isPrimary: true },
          { name: 'value', type: 'text' },
        ],
      }),
      true,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('hub_meta', true);
    await q.dropTable('audit_entry', true);
    await q.dropTable('api_token', true);
    await q.dropTable('hearth_user', true);
  }
}
