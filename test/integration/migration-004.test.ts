import { afterEach, describe, expect, it } from "vitest";
import { loadMigrations, migrate } from "../../schema/migrate.ts";
import { createTestDatabase, DRIVERS, type TestDatabase } from "../support/database.ts";

/** `004_sellers_and_review` on a catalogue made before sign-in: every product gets an owner and a waiting time. */
let database: TestDatabase | undefined;

afterEach(async () => {
  await database?.drop();
  database = undefined;
});

const created = new Date("2026-03-01T00:00:00.000Z");
const changed = new Date("2026-03-02T12:00:00.000Z");

describe.each(DRIVERS)("migration 004 over %s", (driver) => {
  it("gives existing products the documented default owner, keeps their waiting time, and scopes skus per seller", async () => {
    database = await createTestDatabase("migrate004", { migrated: false, driver, as: "admin" });
    const migrations = await loadMigrations();
    await migrate(
      database.db,
      migrations.filter((migration) => migration.version < "004"),
    );
    await database.db
      .insertInto("products")
      .values({
        id: "00000000-0000-4000-8000-0000000000c1",
        sku: "OLD-1",
        title: "Made before sign-in",
        category: "legacy",
        mrp: "10.00",
        price: "9.00",
        discount: "0.00",
        gst: "5.00",
        status: "pending_review",
        status_reason: null,
        created_at: created,
        updated_at: changed,
        // A row as schema 003 had it: the columns this migration adds do not exist yet.
      } as never)
      .execute();

    expect(
      await migrate(
        database.db,
        migrations.filter((migration) => migration.version < "005"),
      ),
    ).toEqual(["004_sellers_and_review"]);

    const row = await database.db.selectFrom("products").selectAll().executeTakeFirstOrThrow();
    expect(row).toMatchObject({ seller_id: "unassigned", status_changed_at: changed, main_image: null });
    const another = {
      ...row,
      id: "00000000-0000-4000-8000-0000000000c2",
      seller_id: "alice",
    };
    // Another seller may now use the sku; the same seller may not.
    await database.db.insertInto("products").values(another).execute();
    await expect(
      database.db
        .insertInto("products")
        .values({ ...another, id: "00000000-0000-4000-8000-0000000000c3" })
        .execute(),
    ).rejects.toThrow(/Duplicate entry|duplicate/i);
  });
});
