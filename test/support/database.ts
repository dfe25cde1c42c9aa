import { randomBytes } from "node:crypto";
import {
  createDataApiDb,
  createMysqlDb,
  type Db,
  dropDatabase,
  ensureDatabase,
} from "../../lambdas/adapters/database.ts";
import { appDatabaseUser } from "../../lambdas/names.ts";
import { dropAppUser, ensureAppUser } from "../../schema/app-user.ts";
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

/**
 * Who the test signs in as: the app user, with exactly the grants the handlers have in AWS (the default, so a
 * query that needs more fails a test), or the admin, for suites that run DDL (the migration runner's).
 */
export type DatabaseRole = "app" | "admin";

export interface TestDatabase {
  /** The mysql2 URL of the role `db` signs in as. */
  url: string;
  /** The mysql2 URL of the admin (the test server's root) on this database. */
  adminUrl: string;
  /** The database's name on the server. */
  name: string;
  driver: DatabaseDriver;
  role: DatabaseRole;
  /** The test's handle, through `driver`, as `role`. */
  db: Db;
  /** The admin over mysql2, for setting up and inspecting what the role may not touch. */
  admin: Db;
  /** The app user this database's handlers sign in as (`role: "app"` only). */
  appUser: { user: string; password: string } | undefined;
  /** Another handle on the same database through the same driver and role (a second process); the caller destroys it. */
  connect(): Db;
  /** The Data API stand-in the `data-api` driver talks to, signed in to the server as `role`. */
  dataApi: DataApiServer | undefined;
  drop(): Promise<void>;
}

export const uniqueDatabaseUrl = (label: string): string =>
  `${TEST_DATABASE_SERVER}/pixel_lab_test_${label}_${randomBytes(4).toString("hex")}`;

/** The same server and database, signed in as another user. */
export const withCredentials = (url: string, user: string, password: string): string => {
  const copy = new URL(url);
  copy.username = encodeURIComponent(user);
  copy.password = encodeURIComponent(password);
  return copy.toString();
};

/** Drops a database a test (or a local stack it started) created, and its app user. */
export const dropDatabaseAndAppUser = async (adminUrl: string): Promise<void> => {
  await dropDatabase(adminUrl);
  const admin = createMysqlDb(adminUrl.replace(/\/[^/]*$/, "/"), { connectionLimit: 1 });
  try {
    await dropAppUser(admin, appDatabaseUser(new URL(adminUrl).pathname.slice(1)));
  } finally {
    await admin.destroy();
  }
};

/**
 * A database of the test's own on the test server: created and migrated by the admin and, for the `app` role,
 * given its app user (`schema/app-user.ts`, as every deploy does), whom `db` then signs in as.
 */
export const createTestDatabase = async (
  label: string,
  options: { migrated?: boolean; driver?: DatabaseDriver; as?: DatabaseRole } = {},
): Promise<TestDatabase> => {
  const driver = options.driver ?? "mysql2";
  const role = options.as ?? "app";
  const migrated = options.migrated ?? true;
  if (role === "app" && !migrated) {
    throw new Error('an unmigrated database has no tables for the app user: pass `as: "admin"`');
  }
  const adminUrl = uniqueDatabaseUrl(driver === "data-api" ? `${label}_dataapi` : label);
  const name = new URL(adminUrl).pathname.slice(1);
  await ensureDatabase(adminUrl);
  const admin = createMysqlDb(adminUrl);
  const appUser =
    role === "app"
      ? { user: appDatabaseUser(name), password: randomBytes(18).toString("base64url") }
      : undefined;
  let dataApi: DataApiServer | undefined;
  let db: Db | undefined;
  const drop = async () => {
    await db?.destroy();
    await dataApi?.close();
    await dropDatabase(adminUrl);
    if (appUser) await dropAppUser(admin, appUser.user);
    await admin.destroy();
  };
  try {
    if (migrated) await migrate(admin);
    if (appUser) await ensureAppUser(admin, { ...appUser, database: name });
    const url = appUser ? withCredentials(adminUrl, appUser.user, appUser.password) : adminUrl;
    if (driver === "data-api") {
      // The stand-in signs in to the server with the credentials in its URL, as the Data API does with the secret's.
      dataApi = await startDataApiServer({ databaseServer: url.replace(/\/[^/]*$/, "") });
    }
    const server = dataApi;
    const connect = (): Db =>
      server
        ? createDataApiDb({
            client: createDataApiTestClient(server.endpoint),
            resourceArn: TEST_CLUSTER_ARN,
            secretArn: TEST_SECRET_ARN,
            database: name,
          })
        : createMysqlDb(url);
    db = connect();
    return { url, adminUrl, name, driver, role, db, admin, appUser, connect, dataApi, drop };
  } catch (error) {
    await drop();
    throw error;
  }
};
