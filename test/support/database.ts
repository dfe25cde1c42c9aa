import { randomBytes } from "node:crypto";
import { createMysqlDb, type Db, dropDatabase, ensureDatabase } from "../../lambdas/adapters/database.ts";
import { migrate } from "../../schema/migrate.ts";

/** The server tests create their databases on; each test file gets a database of its own. */
export const TEST_DATABASE_SERVER = process.env.TEST_DATABASE_SERVER ?? "mysql://root@127.0.0.1:3306";

export interface TestDatabase {
  url: string;
  db: Db;
  drop(): Promise<void>;
}

export const uniqueDatabaseUrl = (label: string): string =>
  `${TEST_DATABASE_SERVER}/pixel_lab_test_${label}_${randomBytes(4).toString("hex")}`;

export const createTestDatabase = async (
  label: string,
  options: { migrated?: boolean } = {},
): Promise<TestDatabase> => {
  const url = uniqueDatabaseUrl(label);
  await ensureDatabase(url);
  const db = createMysqlDb(url);
  if (options.migrated ?? true) await migrate(db);
  return {
    url,
    db,
    async drop() {
      await db.destroy();
      await dropDatabase(url);
    },
  };
};
