import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createProductRepository, transitionStatus } from "../../lambdas/adapters/product-repository.ts";
import { StaleVersionError } from "../../lambdas/domain/errors.ts";
import type { ProductRepository, SourceObject } from "../../lambdas/domain/ports.ts";
import type { NewProduct } from "../../lambdas/domain/product-input.ts";
import { createTestDatabase, DRIVERS, type TestDatabase } from "../support/database.ts";

const SELLER = "repository-seller";

const now = new Date("2026-01-02T03:04:05.678Z");

const newProduct = (sku: string, overrides: Partial<NewProduct> = {}): NewProduct => ({
  sku,
  title: `Product ${sku}`,
  category: "kitchen",
  mrp: "99999999.99",
  price: "1234.50",
  discount: "12.50",
  gst: "18.00",
  contentType: "image/jpeg",
  ...overrides,
});

const source = (key: string, etag = "etag-1"): SourceObject => ({
  bucket: "raw",
  key,
  etag,
  bytes: 1000,
  landedAt: null,
});

describe.each(DRIVERS)("product repository over %s", (driver) => {
  let database: TestDatabase;
  let repository: ProductRepository;

  const historyOf = async (productId: string) =>
    (await repository.history(productId, { limit: 100, order: "oldest" })).map(
      (entry) => `${entry.event}:${entry.fromStatus ?? ""}>${entry.toStatus ?? ""}`,
    );

  beforeAll(async () => {
    database = await createTestDatabase("repository", { driver });
    repository = createProductRepository(database.db);
  });
  afterAll(async () => database.drop());

  it("stores money exactly and is idempotent on sku", async () => {
    const [first] = await repository.createProducts(SELLER, [newProduct("REPO-1")], now);
    expect(first?.created).toBe(true);
    const stored = await repository.findProduct(first?.product.id ?? "");
    expect(stored).toMatchObject({
      sku: "REPO-1",
      mrp: "99999999.99",
      price: "1234.50",
      discount: "12.50",
      gst: "18.00",
      status: "pending",
      version: 1,
      lastSequence: 0,
    });
    expect(stored?.createdAt.toISOString()).toBe(now.toISOString());

    const again = await repository.createProducts(
      SELLER,
      [newProduct("REPO-1", { title: "renamed" }), newProduct("REPO-2")],
      now,
    );
    expect(again.map((result) => result.created)).toEqual([false, true]);
    expect(again[0]?.product.id).toBe(first?.product.id);
    expect(again[0]?.product.title).toBe("Product REPO-1");
    const count = await database.db
      .selectFrom("products")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("sku", "in", ["REPO-1", "REPO-2"])
      .executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(2);
  });

  it("treats skus that differ only in case as the same product, as the unique key does", async () => {
    const [lower] = await repository.createProducts(SELLER, [newProduct("case-sku-1")], now);
    const [upper] = await repository.createProducts(SELLER, [newProduct("CASE-SKU-1")], now);
    expect(upper).toMatchObject({ created: false, product: { id: lower?.product.id, sku: "case-sku-1" } });
  });

  it("creates concurrently requested skus once", async () => {
    const batch = [newProduct("RACE-1"), newProduct("RACE-2")];
    const [a, b] = await Promise.all([
      repository.createProducts(SELLER, batch, now),
      repository.createProducts(SELLER, batch, now),
    ]);
    expect(a?.map((result) => result.product.id)).toEqual(b?.map((result) => result.product.id));
    const rows = await database.db
      .selectFrom("products")
      .select("id")
      .where("sku", "in", ["RACE-1", "RACE-2"])
      .execute();
    expect(rows).toHaveLength(2);
  });

  it("runs a sequence pending → processing → pending_review and records every step", async () => {
    const [{ product } = { product: undefined }] = await repository.createProducts(
      SELLER,
      [newProduct("SEQ-1")],
      now,
    );
    if (!product) throw new Error("not created");
    const key = `raw/${product.id}/u1.jpg`;

    expect(await repository.claimSequence(product.id, "u1", source(key), now)).toEqual({
      kind: "started",
      sequence: 1,
    });
    expect((await repository.findProduct(product.id))?.status).toBe("processing");
    // A second delivery of the same object while the first is mid-flight resumes the same sequence.
    expect(await repository.claimSequence(product.id, "u1", source(key), now)).toEqual({
      kind: "resumed",
      sequence: 1,
    });
    // A different photo waits until this one is done.
    expect(await repository.claimSequence(product.id, "u2", source(`raw/${product.id}/u2.jpg`), now)).toEqual(
      {
        kind: "busy",
      },
    );

    const variant = {
      variant: "standard",
      mode: "STANDARD",
      key: `enhanced/${product.id}/1/standard.jpg`,
      url: "http://cdn/standard.jpg",
      format: "jpeg",
      width: 2000,
      height: 1250,
      bytes: 123456,
      processingMs: 321.4,
      qualityMetadata: { sharpness: 50 },
      sizeMetadata: { quality: 85 },
    };
    const sourceDetails = { key, url: null, bytes: 1000, width: 2560, height: 1600 };
    await repository.completeSequence(
      product.id,
      1,
      { source: sourceDetails, variants: [variant], skipped: [] },
      now,
    );
    // Completing twice (a duplicate delivery) changes nothing.
    await repository.completeSequence(
      product.id,
      1,
      { source: sourceDetails, variants: [variant], skipped: [] },
      now,
    );

    const done = await repository.findProduct(product.id);
    expect(done).toMatchObject({ status: "pending_review", lastSequence: 1, version: 3 });
    expect(await repository.currentImages(product.id)).toEqual([
      {
        sequence: 1,
        variant: "standard",
        key: variant.key,
        format: "jpeg",
        width: 2000,
        height: 1250,
        bytes: 123456,
        aiGenerated: false,
        needsAttention: false,
        guardrail: null,
      },
    ]);
    expect(await historyOf(product.id)).toEqual([
      "status_changed:pending>processing",
      "variant_created:>",
      "status_changed:processing>pending_review",
    ]);
    const variantRow = (await repository.history(product.id, { limit: 100, order: "oldest" }))[1];
    expect(variantRow).toMatchObject({
      sequence: 1,
      mode: "STANDARD",
      outputKey: variant.key,
      outputWidth: 2000,
      processingMs: 321,
      qualityMetadata: { sharpness: 50 },
      sizeMetadata: { quality: 85 },
    });
    expect(await repository.claimSequence(product.id, "u1", source(key), now)).toEqual({
      kind: "finished",
      sequence: 1,
    });

    // A new photo starts sequence 2 from pending_review.
    expect(await repository.claimSequence(product.id, "u2", source(`raw/${product.id}/u2.jpg`), now)).toEqual(
      {
        kind: "started",
        sequence: 2,
      },
    );
    await repository.failSequence(product.id, 2, "the upload is a text file", now);
    const failed = await repository.findProduct(product.id);
    expect(failed).toMatchObject({
      status: "failed",
      statusReason: "the upload is a text file",
      lastSequence: 2,
    });
    // The failed sequence made no images: the current images are still sequence 1's.
    expect((await repository.currentImages(product.id)).map((image) => image.sequence)).toEqual([1]);
    const last = (await repository.history(product.id, { limit: 100, order: "oldest" })).at(-1);
    expect(last).toMatchObject({
      event: "status_changed",
      toStatus: "failed",
      error: "the upload is a text file",
    });
  });

  it("refuses an upload for an approved product without starting a sequence", async () => {
    const [{ product } = { product: undefined }] = await repository.createProducts(
      SELLER,
      [newProduct("APPROVED-1")],
      now,
    );
    if (!product) throw new Error("not created");
    await database.db
      .updateTable("products")
      .set({ status: "approved" })
      .where("id", "=", product.id)
      .execute();
    expect(await repository.claimSequence(product.id, "u1", source(`raw/${product.id}/u1.jpg`), now)).toEqual(
      {
        kind: "refused",
        status: "approved",
      },
    );
    expect(
      await repository.claimSequence("00000000-0000-0000-0000-000000000000", "u", source("raw/x"), now),
    ).toEqual({
      kind: "unknown-product",
    });
  });

  it("writes nothing when the row changed since it was read (stale version)", async () => {
    const [{ product } = { product: undefined }] = await repository.createProducts(
      SELLER,
      [newProduct("STALE-1")],
      now,
    );
    if (!product) throw new Error("not created");
    await database.db.updateTable("products").set({ version: 7 }).where("id", "=", product.id).execute();
    await expect(
      database.db
        .transaction()
        .execute((trx) =>
          transitionStatus(trx, { product, to: "processing", reason: null, sequence: 1, now }),
        ),
    ).rejects.toBeInstanceOf(StaleVersionError);
    expect(await repository.findProduct(product.id)).toMatchObject({ status: "pending", version: 7 });
    expect(await repository.history(product.id, { limit: 100, order: "oldest" })).toEqual([]);
  });

  it("refuses a move the status rules forbid", async () => {
    const [{ product } = { product: undefined }] = await repository.createProducts(
      SELLER,
      [newProduct("RULES-1")],
      now,
    );
    if (!product) throw new Error("not created");
    await expect(
      database.db
        .transaction()
        .execute((trx) =>
          transitionStatus(trx, { product, to: "approved", reason: null, sequence: null, now }),
        ),
    ).rejects.toThrow("a product cannot move from pending to approved");
    expect((await repository.findProduct(product.id))?.status).toBe("pending");
  });

  it("pages a long history of heavy rows, each page an answer the Data API can carry", async () => {
    const [{ product } = { product: undefined }] = await repository.createProducts(
      SELLER,
      [newProduct("HEAVY-HISTORY")],
      now,
    );
    if (!product) throw new Error("not created");
    // 150 rows of 8 KB of metadata each (a variant's is 2–4 KB): 1.2 MB in all, over the 1 MiB a Data
    // API answer may carry, which the stand-in enforces as the service does.
    const metadata = JSON.stringify({ operations: ["x".repeat(8 * 1024)] });
    await database.db
      .insertInto("enhancement_history")
      .values(
        Array.from({ length: 150 }, (_, index) => ({
          product_id: product.id,
          event: "variant_created",
          variant: `v${index}`,
          status: "succeeded",
          quality_metadata: metadata,
          size_metadata: null,
          created_at: now,
        })),
      )
      .execute();
    const seen: string[] = [];
    let afterId: number | undefined;
    for (;;) {
      // The API's largest page, and one more row to know whether another page follows.
      const page = await repository.history(product.id, { limit: 101, order: "newest", afterId });
      seen.push(...page.map((entry) => entry.variant ?? ""));
      if (page.length < 101) break;
      afterId = page.at(-1)?.id;
    }
    expect(seen).toHaveLength(150);
    expect(new Set(seen).size).toBe(150);
    expect(seen[0]).toBe("v149");
  });

  it("keeps skus unique per seller: two sellers may share one, a seller gets theirs back", async () => {
    const [mine] = await repository.createProducts("seller-a", [newProduct("SHARED-SKU")], now);
    const [theirs] = await repository.createProducts("seller-b", [newProduct("shared-sku")], now);
    expect(theirs?.created).toBe(true);
    expect(theirs?.product.id).not.toBe(mine?.product.id);
    const [again] = await repository.createProducts("seller-a", [newProduct("SHARED-SKU")], now);
    expect(again).toMatchObject({ created: false, product: { id: mine?.product.id, sellerId: "seller-a" } });
  });

  it("filters by seller, category and text, and orders the review queue by waiting time", async () => {
    const seller = `queue-${driver}`;
    const created = await repository.createProducts(
      seller,
      [newProduct("Q-1", { title: "100% cotton_towel" }), newProduct("Q-2"), newProduct("Q-3")],
      now,
    );
    const [towel, second, third] = created.map(({ product }) => product.id);
    // Waiting since: second 3 min, third 2 min; the towel is still pending (no photo).
    for (const [id, minutes] of [
      [second, 3],
      [third, 2],
    ] as const) {
      await database.admin
        .updateTable("products")
        .set({ status: "pending_review", status_changed_at: new Date(now.getTime() - minutes * 60_000) })
        .where("id", "=", id as string)
        .execute();
    }
    const ids = async (query: Partial<Parameters<ProductRepository["listProducts"]>[0]>) =>
      (await repository.listProducts({ sort: "newest", limit: 10, sellerId: seller, ...query })).map(
        (product) => product.id,
      );
    expect(await ids({ sort: "waiting" })).toEqual([second, third, towel]);
    expect(await ids({ search: "100%" })).toEqual([towel]);
    // As LIKE wildcards these would match the towel ("cOTton", "cotON_TOwel"); as text they match nothing.
    expect(await ids({ search: "o_t" })).toEqual([]);
    expect(await ids({ search: "on%to" })).toEqual([]);
    expect(await ids({ search: "cotton_towel" })).toEqual([towel]);
    expect(await ids({ category: "garden" })).toEqual([]);
    expect(await ids({ sellerId: "nobody" })).toEqual([]);
    const afterSecond = await repository.listProducts({
      sort: "waiting",
      limit: 10,
      sellerId: seller,
      after: { sort: "waiting", group: 0, time: new Date(now.getTime() - 3 * 60_000), id: second as string },
    });
    expect(afterSecond.map((product) => product.id)).toEqual([third, towel]);
  });

  it("applies one review decision at a time and records it with its reviewer", async () => {
    const [{ product } = { product: undefined }] = await repository.createProducts(
      SELLER,
      [newProduct(`REVIEW-${driver}`)],
      now,
    );
    const id = product?.id as string;
    await database.admin
      .insertInto("product_images")
      .values({
        product_id: id,
        sequence: 1,
        variant: "standard",
        object_key: `enhanced/${id}/1/standard.jpg`,
        format: "jpeg",
        width: 10,
        height: 10,
        bytes: 10,
        created_at: now,
      })
      .execute();
    await database.admin
      .updateTable("products")
      .set({ status: "pending_review", last_sequence: 1 })
      .where("id", "=", id)
      .execute();
    const unknownVariant = await repository.decideReview({
      productId: id,
      decision: { decision: "approve", mainImage: "thumb" },
      actor: "rita",
      now,
    });
    expect(unknownVariant).toMatchObject({ kind: "unknown-variant", variants: ["standard"] });
    const decisions = await Promise.all(
      (["rita", "rob"] as const).map((actor) =>
        repository.decideReview({
          productId: id,
          decision: { decision: "approve", mainImage: "standard" },
          actor,
          now,
        }),
      ),
    );
    expect(decisions.map((decision) => decision.kind).sort()).toEqual(["decided", "not-pending"]);
    expect(await repository.findProduct(id)).toMatchObject({ status: "approved", mainImage: "standard" });
    const reviewed = (await repository.history(id, { limit: 10, order: "oldest" })).filter(
      (entry) => entry.event === "reviewed",
    );
    expect(reviewed).toEqual([expect.objectContaining({ variant: "standard", toStatus: "approved" })]);
    expect(["rita", "rob"]).toContain(reviewed[0]?.actor);
  });
});
