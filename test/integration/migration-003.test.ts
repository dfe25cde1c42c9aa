import { afterEach, describe, expect, it } from "vitest";
import type { Db } from "../../lambdas/adapters/database.ts";
import { loadMigrations, migrate } from "../../schema/migrate.ts";
import { createTestDatabase, DRIVERS, type TestDatabase } from "../support/database.ts";

/**
 * `003_backlog_and_duplicate_pairs` on a database that already holds 002's data: duplicates written one
 * way between any originals, uploads that were processed before anyone recorded their receipt.
 */
let database: TestDatabase | undefined;

afterEach(async () => {
  await database?.drop();
  database = undefined;
});

const PRODUCT = { a: "00000000-0000-4000-8000-00000000000a", b: "00000000-0000-4000-8000-00000000000b" };
const at = new Date("2026-06-01T00:00:00.000Z");

const seed002 = async (db: Db) => {
  await db
    .insertInto("products")
    .values(
      Object.values(PRODUCT).map((id) => ({
        id,
        sku: id,
        title: "legacy",
        category: "legacy",
        mrp: "10.00",
        price: "9.00",
        discount: "0.00",
        gst: "5.00",
        status: "pending_review" as const,
        status_reason: null,
        created_at: at,
        updated_at: at,
        // A row as schema 002 had it: the columns of later migrations do not exist yet.
      })) as never,
    )
    .execute();
  await db
    .insertInto("product_uploads")
    .values(
      ["a1", "a2", "b1", "b-unused"].map((id) => ({
        id,
        product_id: id.startsWith("a") ? PRODUCT.a : PRODUCT.b,
        object_key: `raw/${id}.jpg`,
        content_type: "image/jpeg",
        max_bytes: 100,
        expires_at: at,
        created_at: at,
      })),
    )
    .execute();
  const hashed = (id: number, productId: string, uploadId: string, sequence: number) => ({
    id,
    product_id: productId,
    upload_id: uploadId,
    sequence,
    bucket: "raw",
    object_key: `raw/${uploadId}.jpg`,
    etag: uploadId,
    bytes: 1,
    status: "succeeded" as const,
    created_at: at,
    updated_at: at,
    phash: "0123456789abcdef",
    dhash: "0123456789abcdef",
    phash_band0: 1,
    phash_band1: 2,
    phash_band2: 3,
    phash_band3: 4,
    phash_band4: 5,
    phash_band5: 6,
  });
  // A's first photo was replaced by a second; B's one photo matched both, each time one way only.
  await db
    .insertInto("product_originals")
    .values([hashed(1, PRODUCT.a, "a1", 1), hashed(2, PRODUCT.a, "a2", 2), hashed(3, PRODUCT.b, "b1", 1)])
    .execute();
  const pair = (originalId: number, otherId: number) => ({
    product_id: PRODUCT.b,
    original_id: 3,
    duplicate_product_id: PRODUCT.a,
    duplicate_original_id: otherId,
    phash_distance: originalId,
    dhash_distance: 2,
    created_at: at,
  });
  await db
    .insertInto("product_duplicates")
    .values([pair(1, 1), pair(0, 2)])
    .execute();
};

describe.each(DRIVERS)("migration 003 over %s", (driver) => {
  it("keeps one duplicate row per pair, both ways, between latest photos, and marks processed uploads received", async () => {
    database = await createTestDatabase("migrate003", { migrated: false, driver, as: "admin" });
    const migrations = await loadMigrations();
    const before003 = migrations.filter((migration) => migration.version < "003");
    expect(await migrate(database.db, before003)).toEqual(["001_initial", "002_analysis_and_duplicates"]);
    await seed002(database.db);

    expect(
      await migrate(
        database.db,
        migrations.filter((migration) => migration.version < "004"),
      ),
    ).toEqual(["003_backlog_and_duplicate_pairs"]);

    const pairs = await database.db
      .selectFrom("product_duplicates")
      .select([
        "product_id",
        "original_id",
        "duplicate_product_id",
        "duplicate_original_id",
        "phash_distance",
      ])
      .orderBy("product_id")
      .execute();
    expect(pairs).toEqual([
      {
        product_id: PRODUCT.a,
        original_id: 2,
        duplicate_product_id: PRODUCT.b,
        duplicate_original_id: 3,
        phash_distance: 0,
      },
      {
        product_id: PRODUCT.b,
        original_id: 3,
        duplicate_product_id: PRODUCT.a,
        duplicate_original_id: 2,
        phash_distance: 0,
      },
    ]);
    const bands = await database.db
      .selectFrom("product_originals")
      .select(["id", "phash", "phash_band0", "phash_band5"])
      .orderBy("id")
      .execute();
    expect(bands).toEqual([
      // A's replaced photo keeps its hashes for the record but can no longer be found as a candidate.
      { id: 1, phash: "0123456789abcdef", phash_band0: null, phash_band5: null },
      { id: 2, phash: "0123456789abcdef", phash_band0: 1, phash_band5: 6 },
      { id: 3, phash: "0123456789abcdef", phash_band0: 1, phash_band5: 6 },
    ]);
    const uploads = await database.db
      .selectFrom("product_uploads")
      .select(["id", "received_at", "landed_at", "superseded_at", "requeued_at"])
      .orderBy("id")
      .execute();
    expect(uploads).toEqual([
      { id: "a1", received_at: at, landed_at: at, superseded_at: null, requeued_at: null },
      { id: "a2", received_at: at, landed_at: at, superseded_at: null, requeued_at: null },
      { id: "b-unused", received_at: null, landed_at: null, superseded_at: null, requeued_at: null },
      { id: "b1", received_at: at, landed_at: at, superseded_at: null, requeued_at: null },
    ]);
    expect(await database.db.selectFrom("leases").selectAll().execute()).toEqual([
      { name: "reconciler", holder: null, expires_at: null },
    ]);
  });
});
