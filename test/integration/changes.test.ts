import { CompiledQuery } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { changeRowsQuery, createProductRepository } from "../../lambdas/adapters/product-repository.ts";
import { CHANGES } from "../../lambdas/domain/changes.ts";
import type { ProductRepository } from "../../lambdas/domain/ports.ts";
import type { ApiDeps } from "../../lambdas/domain/products.ts";
import { changesResponseSchema } from "../../lambdas/domain/views.ts";
import { jsonRequest, startApiServer } from "../support/api-server.ts";
import { createTestDatabase, DRIVERS, type TestDatabase } from "../support/database.ts";
import { TEST_ASSETS_BASE_URL, testApiDeps } from "../support/deps.ts";
import { startTestEmulator, type TestEmulator } from "../support/emulator.ts";
import { authAs } from "../support/identity.ts";
import { markPendingReview } from "../support/review-fixtures.ts";

/** GET /changes over HTTP, on MariaDB: the cursor, 304, scoping, paging past 100 products, and late commits. */
let database: TestDatabase;
let emulator: TestEmulator;
let api: { url: string; close(): Promise<void> };
let reviewer: Record<string, string>;
/** Added to the API's clock: a test moves time on to see a gap given up, and puts it back. */
let clockOffsetMs = 0;

type Headers = Record<string, string>;
// biome-ignore lint/suspicious/noExplicitAny: answers are what the assertions examine
type Body = any;

beforeAll(async () => {
  database = await createTestDatabase("changes");
  emulator = await startTestEmulator();
  const deps: ApiDeps = {
    ...testApiDeps(database, emulator),
    clock: () => new Date(Date.now() + clockOffsetMs),
  };
  api = await startApiServer(deps, { s3: emulator.s3, bucket: emulator.enhancedBucket });
  reviewer = await authAs("rhea", "reviewer");
});

afterAll(async () => {
  await api.close();
  await emulator.stop();
  await database.drop();
});

let serial = 0;
/** A seller of the test's own: no other test's products are theirs. */
const newSeller = async (): Promise<Headers> => {
  serial += 1;
  return authAs(`feed-seller-${serial}`, "seller");
};

/** New products of the seller, put in pending_review without a history row: the feed has not seen them. */
const pendingProducts = async (seller: Headers, count: number): Promise<string[]> => {
  const products = Array.from({ length: count }, (_, index) => ({
    sku: `FEED-${serial}-${index}`,
    title: `Teapot ${index}`,
    category: "kitchen",
    mrp: "100.00",
    price: "90.00",
    gst: "18",
    contentType: "image/jpeg",
  }));
  const created = await jsonRequest(api.url, "POST", "/products", seller, { products });
  expect(created.status).toBe(201);
  const ids: string[] = created.body.products.map((product: { id: string }) => product.id);
  for (const id of ids) await markPendingReview(database.admin, id);
  return ids;
};

/** GET /changes as the caller, with the raw text: a 304 must have no body at all. */
const feed = async (
  headers: Headers,
  since?: string,
  query = since === undefined ? "" : `?since=${since}`,
) => {
  const response = await fetch(`${api.url}/changes${query}`, { headers });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    text,
    body: (text ? JSON.parse(text) : undefined) as Body,
  };
};

/** The cursor now: what a client takes before loading GET /products. */
const cursorNow = async (headers: Headers): Promise<string> => {
  const response = await feed(headers);
  expect(response.status).toBe(200);
  return response.body.cursor;
};

const productIds = (body: Body): string[] => body.changes.map((change: Body) => change.product.id);

const approve = (id: string) =>
  jsonRequest(api.url, "POST", `/products/${id}/review`, reviewer, {
    decision: "approve",
    mainImage: "standard",
  });
const reject = (id: string) =>
  jsonRequest(api.url, "POST", `/products/${id}/review`, reviewer, {
    decision: "reject",
    reason: "The teapot's spout is cut off.",
  });

/** A history row inside a transaction that stays open until `commit()`: its id is taken, the row not yet seen. */
const openInsert = async (productId: string) => {
  let commit = () => {};
  const committed = new Promise<void>((resolve) => {
    commit = resolve;
  });
  let inserted = () => {};
  const insertedRow = new Promise<void>((resolve) => {
    inserted = resolve;
  });
  const transaction = database.admin.transaction().execute(async (trx) => {
    await trx
      .insertInto("enhancement_history")
      .values({
        product_id: productId,
        sequence: 1,
        event: "ai_skipped",
        status: "skipped",
        error: "no Gemini key is configured",
        quality_metadata: null,
        size_metadata: null,
        created_at: new Date(),
      })
      .execute();
    inserted();
    await committed;
  });
  await insertedRow;
  return async () => {
    commit();
    await transaction;
  };
};

describe("GET /changes", () => {
  it("answers the current cursor without `since`, then 304 with no body while nothing changes", async () => {
    const seller = await newSeller();
    const first = await feed(seller);
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ changes: [], cursor: expect.any(String), more: false });
    expect(first.headers.get("cache-control")).toBe("no-store");
    expect(first.headers.get("etag")).toBe(`"${first.body.cursor}"`);

    for (const caller of [seller, reviewer]) {
      const unchanged = await feed(caller, first.body.cursor);
      expect(unchanged.status).toBe(304);
      expect(unchanged.text).toBe("");
      expect(unchanged.headers.get("content-type")).toBeNull();
      expect(unchanged.headers.get("cache-control")).toBe("no-store");
      expect(unchanged.headers.get("etag")).toBe(`"${first.body.cursor}"`);
    }
  });

  it("answers a review decision with the product as GET /products lists it and the history row, then 304 from the new cursor", async () => {
    const seller = await newSeller();
    const [id] = (await pendingProducts(seller, 1)) as [string];
    const sellerCursor = await cursorNow(seller);
    const reviewerCursor = await cursorNow(reviewer);
    expect((await approve(id)).status).toBe(200);

    const seen = await feed(seller, sellerCursor);
    expect(seen.status).toBe(200);
    expect(changesResponseSchema.parse(seen.body)).toEqual(seen.body);
    const listed = (await jsonRequest(api.url, "GET", "/products", seller)).body.products[0];
    const [row] = (await jsonRequest(api.url, "GET", `/products/${id}/history?order=newest&limit=1`, seller))
      .body.history;
    expect(seen.body).toEqual({
      changes: [
        {
          product: listed,
          events: [
            {
              id: row.id,
              event: "reviewed",
              variant: "standard",
              toStatus: "approved",
              createdAt: row.createdAt,
            },
          ],
        },
      ],
      cursor: expect.any(String),
      more: false,
    });
    expect(listed).toMatchObject({
      id,
      status: "approved",
      mainImage: "standard",
      thumbnailUrl: `${TEST_ASSETS_BASE_URL}/enhanced/${id}/1/thumb.jpg`,
    });
    expect(seen.body.cursor).not.toBe(sellerCursor);
    expect(seen.headers.get("etag")).toBe(`"${seen.body.cursor}"`);
    expect((await feed(seller, seen.body.cursor)).status).toBe(304);

    // A reviewer follows every product: the same change.
    const reviewed = await feed(reviewer, reviewerCursor);
    expect(reviewed.body.changes).toEqual(seen.body.changes);
    expect((await feed(reviewer, reviewed.body.cursor)).status).toBe(304);
  });

  it("never tells a seller of another seller's product, whose change only moves the cursor; a reviewer sees both", async () => {
    const alice = await newSeller();
    const bob = await newSeller();
    const [alices] = (await pendingProducts(alice, 1)) as [string];
    const [bobs, bobsNext] = (await pendingProducts(bob, 2)) as [string, string];
    const [aliceCursor, bobCursor, reviewerCursor] = await Promise.all([
      cursorNow(alice),
      cursorNow(bob),
      cursorNow(reviewer),
    ]);
    expect((await reject(alices)).status).toBe(200);
    expect((await approve(bobs)).status).toBe(200);

    const forAlice = await feed(alice, aliceCursor);
    expect(productIds(forAlice.body)).toEqual([alices]);
    expect(forAlice.body.changes[0].product).toMatchObject({
      status: "rejected",
      statusReason: expect.any(String),
    });
    expect(forAlice.text).not.toContain(bobs);
    const forBob = await feed(bob, bobCursor);
    expect(productIds(forBob.body)).toEqual([bobs]);
    expect(forBob.text).not.toContain(alices);
    // Ordered by their latest change, the newest last.
    expect(productIds((await feed(reviewer, reviewerCursor)).body)).toEqual([alices, bobs]);

    // Only Bob's product changes: Alice learns nothing but a new cursor, and then 304.
    expect((await approve(bobsNext)).status).toBe(200);
    const moved = await feed(alice, forAlice.body.cursor);
    expect(moved.status).toBe(200);
    expect(moved.body).toEqual({ changes: [], cursor: expect.any(String), more: false });
    expect(moved.text).not.toContain(bobsNext);
    expect((await feed(alice, moved.body.cursor)).status).toBe(304);
    expect(productIds((await feed(bob, forBob.body.cursor)).body)).toEqual([bobsNext]);
  });

  it(`answers at most ${CHANGES.products} products at a time, and the next call goes on with nothing skipped or repeated`, async () => {
    const seller = await newSeller();
    const ids = await pendingProducts(seller, 130);
    const cursor = await cursorNow(seller);
    for (const batch of [ids.slice(0, 100), ids.slice(100)]) {
      const decided = await jsonRequest(api.url, "POST", "/reviews", reviewer, {
        reviews: batch.map((id) => ({ id, decision: "approve", mainImage: "thumb" })),
      });
      expect(decided.status).toBe(200);
    }
    // The first product changes again after the 101st did: that belongs to the next answer.
    await database.admin
      .insertInto("enhancement_history")
      .values({
        product_id: ids[0] as string,
        event: "notification_requeued",
        status: "succeeded",
        quality_metadata: null,
        size_metadata: null,
        created_at: new Date(),
      })
      .execute();

    const first = await feed(seller, cursor);
    expect(first.status).toBe(200);
    expect(first.body.more).toBe(true);
    expect(productIds(first.body)).toEqual(ids.slice(0, 100));
    const second = await feed(seller, first.body.cursor);
    expect(second.body.more).toBe(false);
    expect(productIds(second.body)).toEqual([...ids.slice(100), ids[0]]);
    expect(second.body.changes.at(-1).events.map((event: Body) => event.event)).toEqual([
      "notification_requeued",
    ]);

    // Every row once, in the order it was written.
    const events: number[] = [...first.body.changes, ...second.body.changes].flatMap((change: Body) =>
      change.events.map((event: Body) => event.id),
    );
    expect(events).toHaveLength(131);
    expect(new Set(events).size).toBe(131);
    expect(events).toEqual([...events].sort((a, b) => a - b));
    expect((await feed(seller, second.body.cursor)).status).toBe(304);
  });

  it("delivers a row whose transaction commits after a later row's, once it commits", async () => {
    const seller = await newSeller();
    const [slow, quick] = (await pendingProducts(seller, 2)) as [string, string];
    const cursor = await cursorNow(seller);
    const commit = await openInsert(slow);
    expect((await approve(quick)).status).toBe(200);

    const before = await feed(seller, cursor);
    expect(productIds(before.body)).toEqual([quick]);
    expect((await feed(seller, before.body.cursor)).status).toBe(304);

    await commit();
    const after = await feed(seller, before.body.cursor);
    expect(after.status).toBe(200);
    expect(productIds(after.body)).toEqual([slow]);
    expect(after.body.changes[0].events).toEqual([expect.objectContaining({ event: "ai_skipped" })]);
    expect(after.body.changes[0].events[0].id).toBeLessThan(before.body.changes[0].events[0].id);
    expect((await feed(seller, after.body.cursor)).status).toBe(304);
  });

  it(`reads a gap again for ${CHANGES.gapWatchSeconds} s, then gives it up`, async () => {
    const seller = await newSeller();
    const [first, second, quick] = (await pendingProducts(seller, 3)) as [string, string, string];
    const cursor = await cursorNow(seller);
    const commitFirst = await openInsert(first);
    const commitSecond = await openInsert(second);
    expect((await approve(quick)).status).toBe(200);
    const seen = await feed(seller, cursor);
    expect(productIds(seen.body)).toEqual([quick]);
    try {
      clockOffsetMs = (CHANGES.gapWatchSeconds - 10) * 1000;
      await commitFirst();
      const late = await feed(seller, seen.body.cursor);
      expect(productIds(late.body)).toEqual([first]);

      // The second gap was found when the first was: its time is up now, and its row is no longer looked for.
      clockOffsetMs = (CHANGES.gapWatchSeconds + 5) * 1000;
      await commitSecond();
      expect((await feed(seller, late.body.cursor)).status).toBe(304);
    } finally {
      clockOffsetMs = 0;
      await Promise.all([commitFirst(), commitSecond()]);
    }
  });

  it("refuses a `since` this API did not return, or one past the newest change, naming it", async () => {
    const seller = await newSeller();
    await cursorNow(seller);
    const encoded = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
    const cases: [string, string, RegExp][] = [
      ["not base64url JSON", "not-a-cursor", /not a cursor this API returned/],
      ["empty", "", /not a cursor this API returned/],
      ["a history page's cursor", Buffer.from("12").toString("base64url"), /not a cursor this API returned/],
      [
        "a product list's cursor",
        encoded({ sort: "newest", time: new Date().toISOString(), id: "x" }),
        /not a cursor this API returned/,
      ],
      ["a negative id", encoded({ after: -1 }), /not a cursor this API returned/],
      ["a gap above the cursor", encoded({ after: 5, gaps: [[6, 7, 0]] }), /not a cursor this API returned/],
      ["past the newest change", encoded({ after: 1_000_000_000 }), /past the newest change/],
    ];
    for (const [what, since, message] of cases) {
      const response = await feed(seller, since);
      expect(response.status, what).toBe(400);
      expect(response.body.error.code, what).toBe("VALIDATION_FAILED");
      expect(response.body.error.details, what).toEqual([
        { path: "since", message: expect.stringMatching(message) },
      ]);
    }
    const unknown = await feed(seller, undefined, "?cursor=abc");
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.details).toEqual([{ path: "cursor", message: expect.any(String) }]);
  });

  it("asks for a token", async () => {
    const response = await feed({});
    expect(response.status).toBe(401);
    expect(response.body.error.code).toBe("UNAUTHORIZED");
    expect(response.headers.get("www-authenticate")).toMatch(/^Bearer/);
  });
});

describe("the feed's read on MariaDB", () => {
  it("is one range over the history's primary key, each product found by its primary key", async () => {
    const seller = await newSeller();
    await pendingProducts(seller, 20);
    const [product] = await database.admin.selectFrom("products").select("id").limit(1).execute();
    await database.admin
      .insertInto("enhancement_history")
      .values(
        Array.from({ length: 200 }, () => ({
          product_id: product?.id as string,
          event: "notification_requeued",
          status: "succeeded",
          quality_metadata: null,
          size_metadata: null,
          created_at: new Date(),
        })),
      )
      .execute();
    for (const sellerId of [`feed-seller-${serial}`, undefined]) {
      const query = changeRowsQuery(database.db, {
        afterId: 100,
        gaps: [{ from: 40, to: 41 }],
        limit: CHANGES.rows,
        sellerId,
      }).compile();
      const plan = await database.admin.executeQuery<Record<string, unknown>>(
        CompiledQuery.raw(`EXPLAIN ${query.sql}`, [...query.parameters]),
      );
      const byTable = Object.fromEntries(plan.rows.map((row) => [row.table, row]));
      expect(Object.keys(byTable).sort(), JSON.stringify(plan.rows)).toEqual(["h", "p"]);
      expect(byTable.h, JSON.stringify(plan.rows)).toMatchObject({ type: "range", key: "PRIMARY" });
      expect(byTable.h?.Extra, JSON.stringify(plan.rows)).not.toMatch(/filesort/);
      expect(byTable.p, JSON.stringify(plan.rows)).toMatchObject({ type: "eq_ref", key: "PRIMARY" });
    }
  });
});

describe.each(DRIVERS)("the repository's changesSince over %s", (driver) => {
  let db: TestDatabase;
  let repository: ProductRepository;

  beforeAll(async () => {
    db = await createTestDatabase("changes_repo", { driver });
    repository = createProductRepository(db.db);
  });
  afterAll(async () => db.drop());

  it("reads rows after the cursor and in its gaps, naming only the products in scope, and the newest ids", async () => {
    const now = new Date("2026-12-02T09:30:00.000Z");
    const item = (sku: string) => ({
      sku,
      title: sku,
      category: "kitchen",
      mrp: "10.00",
      price: "9.00",
      discount: "0.00",
      gst: "18.00",
      contentType: "image/jpeg" as const,
    });
    const [a1, a2] = (await repository.createProducts("ann", [item("A-1"), item("A-2")], now)).map(
      ({ product }) => product.id,
    );
    const [b1] = (await repository.createProducts("ben", [item("B-1")], now)).map(
      ({ product }) => product.id,
    );
    const ids: number[] = [];
    for (const productId of [a1, b1, a2, a1]) {
      const result = await db.admin
        .insertInto("enhancement_history")
        .values({
          product_id: productId as string,
          event: "status_changed",
          to_status: "processing",
          status: "succeeded",
          quality_metadata: null,
          size_metadata: null,
          created_at: now,
        })
        .executeTakeFirst();
      ids.push(Number(result.insertId));
    }

    const forAnn = await repository.changesSince({
      after: { afterId: 0, gaps: [], limit: 10 },
      sellerId: "ann",
      productLimit: 1,
      newest: 2,
    });
    expect(forAnn.rows).toEqual([
      {
        id: ids[0],
        productId: a1,
        event: "status_changed",
        variant: null,
        toStatus: "processing",
        createdAt: now,
      },
      {
        id: ids[1],
        productId: null,
        event: "status_changed",
        variant: null,
        toStatus: "processing",
        createdAt: now,
      },
      {
        id: ids[2],
        productId: a2,
        event: "status_changed",
        variant: null,
        toStatus: "processing",
        createdAt: now,
      },
      {
        id: ids[3],
        productId: a1,
        event: "status_changed",
        variant: null,
        toStatus: "processing",
        createdAt: now,
      },
    ]);
    expect([...forAnn.products.keys()]).toEqual([a1]);
    expect(forAnn.products.get(a1 as string)).toMatchObject({ sellerId: "ann", sku: "A-1" });
    expect(forAnn.newestIds).toEqual([ids[3], ids[2]]);

    const forReviewer = await repository.changesSince({
      after: {
        afterId: ids[2] as number,
        gaps: [{ from: ids[0] as number, to: ids[1] as number }],
        limit: 10,
      },
      productLimit: 100,
      newest: 1,
    });
    expect(forReviewer.rows.map((row) => [row.id, row.productId])).toEqual([
      [ids[0], a1],
      [ids[1], b1],
      [ids[3], a1],
    ]);
    expect([...forReviewer.products.keys()].sort()).toEqual([a1, b1].sort());
    expect(forReviewer.newestIds).toEqual([ids[3]]);

    const none = await repository.changesSince({ productLimit: 0, newest: 100 });
    expect(none).toEqual({ rows: [], products: new Map(), newestIds: [...ids].reverse() });
  });
});
