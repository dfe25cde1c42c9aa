import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createMysqlDb, type Db } from "../../lambdas/adapters/database.ts";
import { appDatabaseUser, TABLES } from "../../lambdas/names.ts";
import {
  APP_PRIVILEGES,
  appTables,
  compareGrants,
  dropAppUser,
  ensureAppUser,
  inspectAppUser,
} from "../../schema/app-user.ts";
import { migrate } from "../../schema/migrate.ts";
import { createTestDatabase, DRIVERS, type TestDatabase, withCredentials } from "../support/database.ts";

const product = (id: string) => ({
  id,
  seller_id: "app-user-test",
  sku: `APP-${id.slice(0, 8)}`,
  title: "A mug",
  category: "kitchen",
  mrp: "10.00",
  price: "9.00",
  discount: "10.00",
  gst: "18.00",
  status: "pending" as const,
  status_reason: null,
  status_changed_at: new Date(),
  main_image: null,
  created_at: new Date(),
  updated_at: new Date(),
});

/** Table-level privileges on the database, as `{ table: [privileges] }`. */
const tablePrivileges = async (admin: Db, user: string, database: string) => {
  const state = await inspectAppUser(admin, user);
  const byTable: Record<string, string[]> = {};
  for (const held of state.privileges) {
    if (held.level !== "table" || held.schema !== database || !held.table) continue;
    byTable[held.table] = [...(byTable[held.table] ?? []), held.privilege].sort();
  }
  return byTable;
};

const everyAppTable = (privileges: readonly string[]) =>
  Object.fromEntries(appTables().map((table) => [table, [...privileges].sort()]));

/** Signs in with a user and password over mysql2 and runs one statement: resolves, or rejects with the server's reason. */
const signInAndSelect = async (adminUrl: string, user: string, password: string) => {
  const db = createMysqlDb(withCredentials(adminUrl, user, password), { connectionLimit: 1 });
  try {
    return (await sql<{ one: number }>`SELECT 1 AS one`.execute(db)).rows;
  } finally {
    await db.destroy();
  }
};

describe("the app tables", () => {
  it("are every table the migrations create but the migration runner's two", async () => {
    const database = await createTestDatabase("app_tables", { as: "admin" });
    try {
      const created = await sql<{ name: string }>`SELECT TABLE_NAME AS name FROM information_schema.TABLES
        WHERE TABLE_SCHEMA = DATABASE()`.execute(database.db);
      const names = created.rows
        .map((row) => row.name)
        .filter((name) => !name.startsWith("schema_migration"));
      expect(appTables()).toEqual(names.sort());
      expect(appTables()).toEqual(expect.arrayContaining([TABLES.products, TABLES.enhancementHistory]));
      expect(appTables()).not.toContain(TABLES.schemaMigrations);
      expect(appTables()).not.toContain(TABLES.schemaMigrationLock);
    } finally {
      await database.drop();
    }
  });

  it("each database gets its own user, named within MySQL 8's 32 characters", () => {
    expect(appDatabaseUser("pixel_lab")).toBe("pixel_lab_app");
    const long = "pixel_lab_test_repository_dataapi_0a1b2c3d";
    const other = "pixel_lab_test_repository_dataapi_0a1b2c3e";
    expect(appDatabaseUser(long)).toHaveLength(32);
    expect(appDatabaseUser(long)).toMatch(/^pixel_lab_test_repo_[0-9a-f]{8}_app$/);
    expect(appDatabaseUser(long)).not.toBe(appDatabaseUser(other));
    expect(appDatabaseUser(long)).toBe(appDatabaseUser(long));
  });
});

describe.each(DRIVERS)("the app user, signed in over %s", (driver) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase("app_user", { driver });
  });
  afterAll(async () => database.drop());

  it("reads and writes the app's tables", async () => {
    const id = "00000000-0000-4000-8000-00000000a001";
    await database.db.insertInto("products").values(product(id)).execute();
    await database.db.updateTable("products").set({ title: "A red mug" }).where("id", "=", id).execute();
    const stored = await database.db.selectFrom("products").select("title").where("id", "=", id).execute();
    expect(stored).toEqual([{ title: "A red mug" }]);
    await database.db.deleteFrom("products").where("id", "=", id).execute();
    expect(await database.db.selectFrom("products").select("id").where("id", "=", id).execute()).toEqual([]);

    expect(appTables().length).toBeGreaterThan(5);
    const readable: Record<string, boolean> = {};
    for (const table of appTables()) {
      await sql`SELECT * FROM ${sql.table(table)} LIMIT 1`.execute(database.db);
      readable[table] = true;
    }
    expect(readable).toEqual(Object.fromEntries(appTables().map((table) => [table, true])));
  });

  it.each([
    ["CREATE TABLE", "CREATE TABLE intruder (id INT)"],
    ["DROP TABLE", "DROP TABLE products"],
    ["ALTER TABLE", "ALTER TABLE products ADD COLUMN intruder INT"],
    ["CREATE INDEX", "CREATE INDEX ix_intruder ON products (title)"],
    ["TRUNCATE", "TRUNCATE TABLE enhancement_history"],
    ["reading the migrations", "SELECT * FROM schema_migrations"],
    ["taking the migration lock", "UPDATE schema_migration_lock SET owner = 'me'"],
    ["CREATE USER", "CREATE USER intruder IDENTIFIED BY 'intruder-password'"],
    ["GRANT", "GRANT SELECT ON schema_migrations TO CURRENT_USER"],
    ["CREATE DATABASE", "CREATE DATABASE pixel_lab_intruder"],
  ])("is refused %s", async (_, statement) => {
    await expect(sql.raw(statement).execute(database.db)).rejects.toThrow(/denied/i);
  });

  it("cannot run the migrations (only the admin can)", async () => {
    await expect(migrate(database.db)).rejects.toThrow(/denied/i);
    const tables = await sql<{ name: string }>`SELECT TABLE_NAME AS name FROM information_schema.TABLES
      WHERE TABLE_SCHEMA = ${database.name} AND TABLE_NAME = 'products'`.execute(database.admin);
    expect(tables.rows).toEqual([{ name: "products" }]);
  });
});

describe.each(DRIVERS)("ensureAppUser over %s", (driver) => {
  let database: TestDatabase;
  const users: string[] = [];
  const newUser = () => {
    const user = `pl_test_app_${randomBytes(4).toString("hex")}`;
    users.push(user);
    return user;
  };
  const password = () => randomBytes(18).toString("base64url");

  beforeAll(async () => {
    database = await createTestDatabase("ensure_app_user", { driver, as: "admin" });
  });
  afterEach(async () => {
    for (const user of users.splice(0)) await dropAppUser(database.admin, user);
  });
  afterAll(async () => database.drop());

  it("creates the user with SELECT, INSERT, UPDATE and DELETE on each app table and nothing else", async () => {
    const user = newUser();
    const result = await ensureAppUser(database.db, { user, password: password(), database: database.name });
    expect(result).toEqual({ created: true, tables: appTables(), revoked: [] });
    expect(await tablePrivileges(database.admin, user, database.name)).toEqual(everyAppTable(APP_PRIVILEGES));
    expect(compareGrants(await inspectAppUser(database.admin, user), database.name)).toEqual({
      missing: [],
      extra: [],
    });
  });

  it("runs again without change, and then keeps the password in sync", async () => {
    const user = newUser();
    const first = password();
    const second = password();
    await ensureAppUser(database.db, { user, password: first, database: database.name });
    expect(await ensureAppUser(database.db, { user, password: first, database: database.name })).toEqual({
      created: false,
      tables: appTables(),
      revoked: [],
    });
    expect(await signInAndSelect(database.adminUrl, user, first)).toEqual([{ one: 1 }]);

    await ensureAppUser(database.db, { user, password: second, database: database.name });
    await expect(signInAndSelect(database.adminUrl, user, first)).rejects.toThrow(/Access denied/);
    expect(await signInAndSelect(database.adminUrl, user, second)).toEqual([{ one: 1 }]);
  });

  it("grants what is missing and takes away what it did not grant", async () => {
    const user = newUser();
    const secret = password();
    await ensureAppUser(database.db, { user, password: secret, database: database.name });
    const name = database.name;
    for (const statement of [
      `REVOKE DELETE ON \`${name}\`.products FROM '${user}'@'%'`,
      `GRANT DROP, ALTER ON \`${name}\`.products TO '${user}'@'%'`,
      `GRANT SELECT ON \`${name}\`.schema_migrations TO '${user}'@'%'`,
      `GRANT CREATE ON \`${name}\`.* TO '${user}'@'%'`,
      `GRANT PROCESS ON *.* TO '${user}'@'%'`,
      `GRANT SELECT ON \`${name}\`.leases TO '${user}'@'%' WITH GRANT OPTION`,
    ]) {
      await sql.raw(statement).execute(database.admin);
    }
    expect(compareGrants(await inspectAppUser(database.admin, user), name)).toEqual({
      missing: [`DELETE ON ${name}.products`],
      extra: expect.arrayContaining([
        `DROP ON ${name}.products`,
        `ALTER ON ${name}.products`,
        `SELECT ON ${name}.schema_migrations`,
        `CREATE ON ${name}.*`,
        "PROCESS ON *.*",
        `GRANT OPTION ON ${name}.leases`,
      ]),
    });

    const result = await ensureAppUser(database.db, { user, password: secret, database: name });
    expect([...result.revoked].sort()).toEqual(
      [
        `ALTER ON ${name}.products`,
        `CREATE ON ${name}.*`,
        `DROP ON ${name}.products`,
        `GRANT OPTION ON ${name}.leases`,
        "PROCESS ON *.*",
        `SELECT ON ${name}.schema_migrations`,
      ].sort(),
    );
    expect(await tablePrivileges(database.admin, user, name)).toEqual(everyAppTable(APP_PRIVILEGES));
    expect(compareGrants(await inspectAppUser(database.admin, user), name)).toEqual({
      missing: [],
      extra: [],
    });
  });

  it("grants a newly named table once it exists, and names one that does not", async () => {
    const user = newUser();
    const secret = password();
    await sql`CREATE TABLE widgets (id INT PRIMARY KEY)`.execute(database.admin);
    try {
      await ensureAppUser(
        database.db,
        { user, password: secret, database: database.name },
        { tables: [...appTables(), "widgets"] },
      );
      const asApp = createMysqlDb(`${withCredentials(database.adminUrl, user, secret)}`, {
        connectionLimit: 1,
      });
      try {
        await sql`INSERT INTO widgets (id) VALUES (1)`.execute(asApp);
        expect((await sql`SELECT id FROM widgets`.execute(asApp)).rows).toEqual([{ id: 1 }]);
      } finally {
        await asApp.destroy();
      }
      await expect(
        ensureAppUser(
          database.db,
          { user, password: secret, database: database.name },
          { tables: [...appTables(), "gadgets"] },
        ),
      ).rejects.toThrow(
        /gadgets does not exist in database .*TABLES \(lambdas\/names\.ts\) needs a migration/,
      );
    } finally {
      await sql`DROP TABLE widgets`.execute(database.admin);
    }
  });

  it("refuses a user name MySQL 8 would refuse, and a password it cannot write as a literal", async () => {
    await expect(
      ensureAppUser(database.db, { user: "u".repeat(33), password: password(), database: database.name }),
    ).rejects.toThrow(/must be 1-32 letters, digits or '_'/);
    await expect(
      ensureAppUser(database.db, { user: newUser(), password: "it's-a-password", database: database.name }),
    ).rejects.toThrow(/without ' or \\/);
  });
});
