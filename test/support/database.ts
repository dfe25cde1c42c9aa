import { randomBytes } from "node:crypto";
import {
  createDataApiDb,
  createMysqlDb,
  type Db,
  dropDatabase,
  ensureDatabase,
} from "../../lambdas/adapters/database.ts";
import { migrate } from "../../schema/migrate.ts";
import {
  createDataApiTestClient,
  type DataApiServer,
  startDataApiServer,
  TEST_CLUSTER_ARN,
  TEST_SECRET_ARN,
} from "./data-api-server.ts";

/** The server tests create their databases on; each test file gets a database of its own. */
export const TEST_DATABASE_SERVER = process.env.TEST_DATABASE_SERVER ?? "mysql://root@127.0.0.1:3306";

/** mysql2 straight to the server (the local stack), or the RDS Data API (AWS) through the local stand-in. */
export type DatabaseDriver = "mysql2" | "data-api";

/** For `describe.each`: the data-layer suites run over both drivers. */
export const DRIVERS: readonly DatabaseDriver[] = ["mysql2", "data-api"];

export interface TestDatabase {
  url: string;
  /** The database's name on the server. */
  name: string;
  driver: DatabaseDriver;
  db: Db;
  /** Another handle on the same database through the same driver (a second process); the caller destroys it. */
  connect(): Db;
  /** The Data API stand-in the `data-api` driver talks to. */
  dataApi: DataApiServer | undefined;
  drop(): Promise<void>;
}

export const uniqueDatabaseUrl = (label: string): string =>
  `${TEST_DATABASE_SERVER}/pixel_lab_test_${label}_${randomBytes(4).toString("hex")}`;

export const createTestDatabase = async (
  label: string,
  options: { migrated?: boolean; driver?: DatabaseDriver } = {},
): Promise<TestDatabase> => {
  const driver = options.driver ?? "mysql2";
  const url = uniqueDatabaseUrl(driver === "data-api" ? `${label}_dataapi` : label);
  const name = new URL(url).pathname.slice(1);
  await ensureDatabase(url);
  const dataApi =
    driver === "data-api" ? await startDataApiServer({ databaseServer: TEST_DATABASE_SERVER }) : undefined;
  const connect = (): Db =>
    dataApi
      ? createDataApiDb({
          client: createDataApiTestClient(dataApi.endpoint),
          resourceArn: TEST_CLUSTER_ARN,
          secretArn: TEST_SECRET_ARN,
          database: name,
        })
      : createMysqlDb(url);
  const db = connect();
  const drop = async () => {
    await db.destroy();
    await dataApi?.close();
    await dropDatabase(url);
  };
  if (options.migrated ?? true) {
    try {
      await migrate(db);
    } catch (error) {
      await drop();
      throw error;
    }
  }
  return { url, name, driver, db, connect, dataApi, drop };
};
