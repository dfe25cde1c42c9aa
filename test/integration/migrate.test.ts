import { sql } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import type { Db } from "../../lambdas/adapters/database.ts";
import { loadMigrations, type Migration, migrate, splitStatements } from "../../schema/migrate.ts";
import { createTestDatabase, DRIVERS, type TestDatabase } from "../support/database.ts";

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

const lockRow = (db: Db) =>
  db
    .selectFrom("schema_migration_lock")
    .select(["owner", "expires_at"])
    .where("id", "=", 1)
    .executeTakeFirst();

/** Pretends a runner on another machine holds the lock, its lease ending `seconds` from now (negative: past). */
const holdLock = async (db: Db, owner: string, seconds: number) => {
  await sql`UPDATE schema_migration_lock
    SET owner = ${owner}, expires_at = UTC_TIMESTAMP(3) + INTERVAL ${sql.lit(seconds)} SECOND
    WHERE id = 1`.execute(db);
};

describe.each(DRIVERS)("migration runner over %s", (driver) => {
  let database: TestDatabase | undefined;
  afterEach(async () => {
    await database?.drop();
    database = undefined;
  });

  it("applies every migration once, in order, records it and releases the lock", async () => {
    database = await createTestDatabase("migrate", { migrated: false, driver, as: "admin" });
    const migrations = await loadMigrations();
    const versions = [
      "001_initial",
      "002_analysis_and_duplicates",
      "003_backlog_and_duplicate_pairs",
      "004_sellers_and_review",
      "005_ai_step",
      "006_push_connections",
    ];
    expect(migrations.map((migration) => migration.version)).toEqual(versions);

    expect(await migrate(database.db)).toEqual(versions);
    expect(await migrate(database.db)).toEqual([]);
    expect(await tablesOf(database)).toEqual([
      "enhancement_history",
      "leases",
      "product_duplicates",
      "product_images",
      "product_originals",
      "product_uploads",
      "products",
      "push_connections",
      "schema_migration_lock",
      "schema_migrations",
    ]);
    const recorded = await database.db.selectFrom("schema_migrations").selectAll().execute();
    expect(recorded.map((row) => [row.version, row.checksum])).toEqual(
      migrations.map((migration) => [migration.version, migration.checksum]),
    );
    expect(recorded[0]?.applied_at).toBeInstanceOf(Date);
    expect(await lockRow(database.db)).toEqual({ owner: null, expires_at: null });
  });

  it("lets two processes start at once: the second waits for the lock and finds the work done", async () => {
    database = await createTestDatabase("migrate_race", { migrated: false, driver, as: "admin" });
    const other = database.connect();
    try {
      const results = await Promise.all([migrate(database.db), migrate(other)]);
      expect(results.flat()).toEqual([
        "001_initial",
        "002_analysis_and_duplicates",
        "003_backlog_and_duplicate_pairs",
        "004_sellers_and_review",
        "005_ai_step",
        "006_push_connections",
      ]);
      expect(await database.db.selectFrom("schema_migrations").selectAll().execute()).toHaveLength(6);
    } finally {
      await other.destroy();
    }
  });

  it("refuses to run when an applied migration's file has changed, and releases the lock", async () => {
    database = await createTestDatabase("migrate_changed", { driver, as: "admin" });
    const [initial] = await loadMigrations();
    if (!initial) throw new Error("no migrations found");
    await expect(migrate(database.db, [{ ...initial, checksum: "0".repeat(64) }])).rejects.toThrow(
      "migration 001_initial was changed after it was applied",
    );
    expect(await lockRow(database.db)).toEqual({ owner: null, expires_at: null });
  });

  it("waits for a lock another runner holds and gives up naming the holder", async () => {
    database = await createTestDatabase("migrate_held", { driver, as: "admin" });
    await holdLock(database.db, "runner-on-another-host", 3600);
    const started = Date.now();
    await expect(migrate(database.db, undefined, { lockWaitSeconds: 1 })).rejects.toThrow(
      /could not take the migration lock within 1 s: runner-on-another-host holds it until \d{4}-/,
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect((await lockRow(database.db))?.owner).toBe("runner-on-another-host");
  });

  it("takes over the lock of a runner that died once its lease has expired", async () => {
    database = await createTestDatabase("migrate_expired", { driver, as: "admin" });
    await holdLock(database.db, "runner-that-crashed", -1);
    expect(await migrate(database.db, undefined, { lockWaitSeconds: 1 })).toEqual([]);
    expect(await lockRow(database.db)).toEqual({ owner: null, expires_at: null });
  });

  it("stops a runner whose lease ran out mid-migration and was taken over, before its next statement", async () => {
    database = await createTestDatabase("migrate_lease", { driver, as: "admin" });
    const initial = await loadMigrations();
    // A statement that outlasts the 1 s lease: the second runner takes the expired lock meanwhile.
    const slow: Migration = {
      version: "900_slow",
      statements: ["DO SLEEP(2)", "CREATE TABLE slow_done (x INT)"],
      checksum: "9".repeat(64),
    };
    const other = database.connect();
    try {
      const first = migrate(database.db, [...initial, slow], { lockLeaseSeconds: 1 });
      const second = (async () => {
        await new Promise((resolve) => setTimeout(resolve, 100));
        return migrate(other, [...initial, slow], { lockLeaseSeconds: 1, lockWaitSeconds: 10 });
      })();
      const [firstResult, secondResult] = await Promise.allSettled([first, second]);
      expect(firstResult).toMatchObject({
        status: "rejected",
        reason: { message: "lost the migration lock: its lease expired and another runner took it" },
      });
      expect(secondResult).toEqual({ status: "fulfilled", value: ["900_slow"] });
      expect(await tablesOf(database)).toContain("slow_done");
    } finally {
      await other.destroy();
    }
  });
});

describe("migration files", () => {
  it("splits statements at line-ending semicolons and drops comment lines", () => {
    expect(
      splitStatements("-- note; not a statement\nCREATE TABLE a (x INT);\nINSERT INTO a VALUES (1);\n"),
    ).toEqual(["CREATE TABLE a (x INT)", "INSERT INTO a VALUES (1)"]);
  });
});
