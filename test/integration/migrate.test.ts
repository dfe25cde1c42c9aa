import { sql } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { createMysqlDb } from "../../lambdas/adapters/database.ts";
import { loadMigrations, migrate, splitStatements } from "../../schema/migrate.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";

const tablesOf = async (database: TestDatabase) =>
  (
    await sql<{
      name: string;
    }>`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE()`.execute(
      database.db,
    )
  ).rows
    .map((row) => row.name)
    .sort();

describe("migration runner", () => {
  let database: TestDatabase | undefined;
  afterEach(async () => {
    await database?.drop();
    database = undefined;
  });

  it("applies every migration once, in order, and records it", async () => {
    database = await createTestDatabase("migrate", { migrated: false });
    const migrations = await loadMigrations();
    expect(migrations.map((migration) => migration.version)).toEqual(["001_initial"]);

    expect(await migrate(database.db)).toEqual(["001_initial"]);
    expect(await migrate(database.db)).toEqual([]);
    expect(await tablesOf(database)).toEqual([
      "enhancement_history",
      "product_images",
      "product_originals",
      "product_uploads",
      "products",
      "schema_migrations",
    ]);
    const recorded = await database.db.selectFrom("schema_migrations").selectAll().execute();
    expect(recorded).toHaveLength(1);
    expect(recorded[0]?.checksum).toBe(migrations[0]?.checksum);
  });

  it("lets two processes start at once: the second waits for the lock and finds the work done", async () => {
    database = await createTestDatabase("migrate_race", { migrated: false });
    const other = createMysqlDb(database.url);
    try {
      const results = await Promise.all([migrate(database.db), migrate(other)]);
      expect(results.flat()).toEqual(["001_initial"]);
      expect(await database.db.selectFrom("schema_migrations").selectAll().execute()).toHaveLength(1);
    } finally {
      await other.destroy();
    }
  });

  it("refuses to run when an applied migration's file has changed", async () => {
    database = await createTestDatabase("migrate_changed");
    const [initial] = await loadMigrations();
    if (!initial) throw new Error("no migrations found");
    await expect(migrate(database.db, [{ ...initial, checksum: "0".repeat(64) }])).rejects.toThrow(
      "migration 001_initial was changed after it was applied",
    );
  });

  it("splits statements at line-ending semicolons and drops comment lines", () => {
    expect(
      splitStatements("-- note; not a statement\nCREATE TABLE a (x INT);\nINSERT INTO a VALUES (1);\n"),
    ).toEqual(["CREATE TABLE a (x INT)", "INSERT INTO a VALUES (1)"]);
  });
});
