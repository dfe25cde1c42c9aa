import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMysqlDb } from "../../lambdas/adapters/database.ts";
import { createProductRepository } from "../../lambdas/adapters/product-repository.ts";
import type { ApiDeps } from "../../lambdas/domain/products.ts";
import { startApiServer } from "../support/api-server.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { testApiDeps } from "../support/deps.ts";
import { startTestEmulator, type TestEmulator } from "../support/emulator.ts";
import { authAs } from "../support/identity.ts";
import { CORPUS, postFile } from "../support/upload.ts";

let database: TestDatabase;
let emulator: TestEmulator;
let api: { url: string; close(): Promise<void> };
let deps: ApiDeps;

const product = (sku: string, overrides: Record<string, unknown> = {}) => ({
  sku,
  title: `Mug ${sku}`,
  category: "kitchen",
  mrp: "499.00",
  price: 449,
  discount: "10",
  gst: 18,
  contentType: "image/jpeg",
  ...overrides,
});

/** Signed in as the seller of this file's products unless the headers say otherwise. */
const request = async (
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) => {
  const signedIn = { ...(await authAs("api-seller", "seller")), ...headers };
  const response = await fetch(`${api.url}${path}`, {
    method,
    headers: body === undefined ? signedIn : { "content-type": "application/json", ...signedIn },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: text ? JSON.parse(text) : undefined,
    text,
  };
};

const productCount = async () =>
  Number(
    (
      await database.db
        .selectFrom("products")
        .select((eb) => eb.fn.countAll<number>().as("n"))
        .executeTakeFirstOrThrow()
    ).n,
  );

beforeAll(async () => {
  database = await createTestDatabase("api");
  emulator = await startTestEmulator();
  deps = testApiDeps(database, emulator);
  api = await startApiServer(deps, { s3: emulator.s3, bucket: emulator.enhancedBucket });
});

afterAll(async () => {
  await api.close();
  await emulator.stop();
  await database.drop();
});

describe("POST /products", () => {
  it("creates products in bulk and hands each a working presigned POST", async () => {
    const response = await request("POST", "/products", {
      products: [product("API-1"), product("API-2", { contentType: "image/png" })],
    });
    expect(response.status).toBe(201);
    const [first, second] = response.body.products;
    expect(first).toMatchObject({ sku: "API-1", status: "pending", created: true, statusReason: null });
    expect(first.upload.key).toMatch(new RegExp(`^raw/${first.id}/[0-9a-f-]{36}\\.jpg$`));
    expect(second.upload.key).toMatch(/\.png$/);
    expect(second.upload.fields["Content-Type"]).toBe("image/png");
    expect(Date.parse(first.upload.expiresAt) - Date.now()).toBeGreaterThan(890_000);

    const stored = await database.db
      .selectFrom("products")
      .selectAll()
      .where("id", "=", first.id)
      .executeTakeFirstOrThrow();
    expect(stored).toMatchObject({
      mrp: "499.00",
      price: "449.00",
      discount: "10.00",
      gst: "18.00",
      status: "pending",
    });
    const upload = await database.db
      .selectFrom("product_uploads")
      .selectAll()
      .where("object_key", "=", first.upload.key)
      .executeTakeFirstOrThrow();
    expect(upload).toMatchObject({ product_id: first.id, content_type: "image/jpeg" });

    const posted = await postFile(first.upload, `${CORPUS}apple.jpg`);
    expect(posted.status).toBe(201);
    expect(posted.text).toContain(`<Key>${first.upload.key}</Key>`);
  });

  it("returns a known sku's product instead of creating a duplicate", async () => {
    const before = await request("POST", "/products", { products: [product("IDEM-1")] });
    const again = await request("POST", "/products", { products: [product("IDEM-1", { title: "other" })] });
    expect(again.status).toBe(200);
    expect(again.body.products[0]).toMatchObject({
      id: before.body.products[0].id,
      created: false,
      status: "pending",
    });
    expect(again.body.products[0].upload.key).not.toBe(before.body.products[0].upload.key);
    const rows = await database.db.selectFrom("products").select("id").where("sku", "=", "IDEM-1").execute();
    expect(rows).toHaveLength(1);
  });

  it("rejects an invalid bulk request whole, naming every bad field, and writes nothing", async () => {
    const before = await productCount();
    const response = await request("POST", "/products", {
      products: [
        product("GOOD-1"),
        product("BAD-1", { price: "600.00" }),
        product("BAD-2", { title: "", contentType: "image/svg+xml", gst: "abc" }),
        { sku: "BAD-3" },
        product("GOOD-1"),
      ],
    });
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe("VALIDATION_FAILED");
    const paths = response.body.error.details.map((detail: { path: string }) => detail.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        "products[1].price",
        "products[2].title",
        "products[2].contentType",
        "products[2].gst",
        "products[3].title",
        "products[3].category",
        "products[3].mrp",
        "products[3].price",
        "products[3].gst",
        "products[3].contentType",
        "products[4].sku",
      ]),
    );
    const priceProblem = response.body.error.details.find(
      (detail: { path: string }) => detail.path === "products[1].price",
    );
    expect(priceProblem.message).toContain("mrp");
    expect(await productCount()).toBe(before);
  });

  it("answers malformed JSON and non-JSON bodies with a JSON error", async () => {
    const malformed = await request("POST", "/products", "{not json");
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe("MALFORMED_JSON");
    const wrongType = await request("POST", "/products", undefined, { "content-type": "text/plain" });
    expect(wrongType.status).toBe(415);
    expect(wrongType.body.error.code).toBe("UNSUPPORTED_MEDIA_TYPE");
  });
});

describe("POST /products/{id}/uploads", () => {
  it("issues a fresh upload, and refuses one for an approved product", async () => {
    const created = await request("POST", "/products", { products: [product("UP-1")] });
    const id = created.body.products[0].id;
    const fresh = await request("POST", `/products/${id}/uploads`, { contentType: "image/webp" });
    expect(fresh.status).toBe(201);
    expect(fresh.body.upload.key).toMatch(new RegExp(`^raw/${id}/.+\\.webp$`));

    const invalid = await request("POST", `/products/${id}/uploads`, { contentType: "application/pdf" });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.details[0].path).toBe("contentType");

    await database.db.updateTable("products").set({ status: "approved" }).where("id", "=", id).execute();
    const refused = await request("POST", `/products/${id}/uploads`, { contentType: "image/jpeg" });
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toContain("approved");
  });

  it("answers 404 for an unknown product", async () => {
    const response = await request("POST", "/products/00000000-0000-4000-8000-000000000000/uploads", {
      contentType: "image/jpeg",
    });
    expect(response.status).toBe(404);
    expect(response.body.error.code).toBe("NOT_FOUND");
  });
});

describe("GET /products/{id}", () => {
  it("returns the product with its money as exact decimals", async () => {
    const created = await request("POST", "/products", {
      products: [product("GET-1", { mrp: 19.99, price: "19.99" })],
    });
    const response = await request("GET", `/products/${created.body.products[0].id}`);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      sku: "GET-1",
      mrp: "19.99",
      price: "19.99",
      status: "pending",
      images: [],
    });
  });

  it("answers 404 for an unknown or malformed id, and for an unknown route", async () => {
    expect((await request("GET", "/products/00000000-0000-4000-8000-000000000000")).status).toBe(404);
    expect((await request("GET", "/products/not-an-id")).body.error.code).toBe("NOT_FOUND");
    expect((await request("GET", "/nothing-here")).status).toBe(404);
    expect((await request("DELETE", "/products")).status).toBe(405);
  });
});

describe("GET /products", () => {
  it("lists newest first, filters by status, and pages with a cursor without gaps or repeats, even on equal timestamps", async () => {
    const skus = ["LIST-A", "LIST-B", "LIST-C", "LIST-D", "LIST-E"];
    const created = await request("POST", "/products", { products: skus.map((sku) => product(sku)) });
    const ids = (created.body.products as { id: string }[]).map((item) => item.id);

    const seen: { id: string; createdAt: string }[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await request("GET", `/products?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      expect(page.status).toBe(200);
      expect(page.body.products.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.products);
      cursor = page.body.nextCursor;
      pages += 1;
    } while (cursor && pages < 100);
    const seenIds = seen.map((item) => item.id);
    expect(new Set(seenIds).size).toBe(seenIds.length);
    expect(seenIds).toEqual(expect.arrayContaining(ids));
    const times = seen.map((item) => Date.parse(item.createdAt));
    expect([...times].sort((a, b) => b - a)).toEqual(times);

    await database.db
      .updateTable("products")
      .set({ status: "approved" })
      .where("id", "=", ids[0] as string)
      .execute();
    const approved = await request("GET", "/products?status=approved&limit=100");
    expect(approved.body.products.map((item: { id: string }) => item.id)).toContain(ids[0]);
    expect(approved.body.products.every((item: { status: string }) => item.status === "approved")).toBe(true);
  });

  it("names each bad query parameter", async () => {
    const response = await request("GET", "/products?status=shipped&limit=1000&cursor=nonsense&sort=asc");
    expect(response.status).toBe(400);
    expect(response.body.error.details.map((detail: { path: string }) => detail.path).sort()).toEqual([
      "limit",
      "sort",
      "status",
    ]);
    const badCursor = await request("GET", "/products?cursor=nonsense");
    expect(badCursor.status).toBe(400);
    expect(badCursor.body.error.details).toEqual([
      { path: "cursor", message: "is not a cursor this API returned" },
    ]);
  });
});

describe("GET /products/{id}/history", () => {
  it("answers the product's history, oldest first, and 404 for an unknown product", async () => {
    const created = await request("POST", "/products", { products: [product("HISTORY-1")] });
    const id = created.body.products[0].id;
    await database.db
      .insertInto("enhancement_history")
      .values([
        {
          product_id: id,
          event: "upload_refused",
          status: "failed",
          error: "first",
          quality_metadata: null,
          size_metadata: null,
          created_at: new Date("2026-01-01T00:00:00Z"),
        },
        {
          product_id: id,
          event: "upload_refused",
          status: "failed",
          error: "second",
          quality_metadata: null,
          size_metadata: null,
          created_at: new Date("2026-01-02T00:00:00Z"),
        },
      ])
      .execute();
    const response = await request("GET", `/products/${id}/history`);
    expect(response.status).toBe(200);
    expect(response.body.history.map((entry: { error: string }) => entry.error)).toEqual(["first", "second"]);
    expect(response.body.history[0].createdAt).toBe("2026-01-01T00:00:00.000Z");
    expect((await request("GET", "/products/00000000-0000-4000-8000-000000000000/history")).status).toBe(404);
  });
});

describe("GET /products/{id}/history, a page at a time", () => {
  it("pages oldest first or newest first with a cursor, without gaps or repeats", async () => {
    const created = await request("POST", "/products", { products: [product("HISTORY-PAGES")] });
    const id = created.body.products[0].id;
    await database.db
      .insertInto("enhancement_history")
      .values(
        ["a", "b", "c", "d", "e"].map((error, index) => ({
          product_id: id,
          event: "upload_refused",
          status: "failed",
          error,
          quality_metadata: null,
          size_metadata: null,
          created_at: new Date(Date.UTC(2026, 0, index + 1)),
        })),
      )
      .execute();
    const walk = async (query: string) => {
      const seen: string[][] = [];
      let cursor: string | null = null;
      do {
        const response = await request(
          "GET",
          `/products/${id}/history?${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
        );
        expect(response.status).toBe(200);
        seen.push(response.body.history.map((entry: { error: string }) => entry.error));
        cursor = response.body.nextCursor;
      } while (cursor);
      return seen;
    };
    expect(await walk("limit=2")).toEqual([["a", "b"], ["c", "d"], ["e"]]);
    expect(await walk("limit=2&order=newest")).toEqual([["e", "d"], ["c", "b"], ["a"]]);
    expect(await walk("limit=5")).toEqual([["a", "b", "c", "d", "e"]]);
  });

  it("names each bad query parameter", async () => {
    const created = await request("POST", "/products", { products: [product("HISTORY-BAD")] });
    const id = created.body.products[0].id;
    const response = await request(
      "GET",
      `/products/${id}/history?limit=101&order=sideways&cursor=nonsense&x=1`,
    );
    expect(response.status).toBe(400);
    expect(response.body.error.details.map((detail: { path: string }) => detail.path).sort()).toEqual([
      "limit",
      "order",
      "x",
    ]);
    const badCursor = await request("GET", `/products/${id}/history?cursor=nonsense`);
    expect(badCursor.status).toBe(400);
    expect(badCursor.body.error.details).toEqual([
      { path: "cursor", message: "is not a cursor this API returned" },
    ]);
  });
});

describe("POST /products/{id}/enhance", () => {
  it("answers 409 with the reason when the original photo has expired from the raw bucket", async () => {
    const created = await request("POST", "/products", { products: [product("REENHANCE-GONE")] });
    const id = created.body.products[0].id;
    const key = created.body.products[0].upload.key;
    // Processed once, long ago; the raw object has since expired.
    await database.db
      .insertInto("product_originals")
      .values({
        product_id: id,
        upload_id: "u",
        sequence: 1,
        bucket: emulator.rawBucket,
        object_key: key,
        etag: "e",
        bytes: 1,
        status: "succeeded",
        phash: "0123456789abcdef",
        dhash: "0123456789abcdef",
        created_at: new Date(),
        updated_at: new Date(),
      })
      .execute();
    await database.db
      .updateTable("products")
      .set({ status: "pending_review", last_sequence: 1 })
      .where("id", "=", id)
      .execute();
    const response = await request("POST", `/products/${id}/enhance`, { mode: "FULL" });
    expect(response.status).toBe(409);
    expect(response.body.error).toMatchObject({
      code: "CONFLICT",
      message: `product ${id} cannot be re-enhanced: the original photo is no longer stored (originals are kept for 30 days after upload); upload the photo again`,
    });
  });
});

describe("errors and health", () => {
  it("never leaks internals in a 5xx", async () => {
    const broken = createMysqlDb("mysql://nobody:secret-password@127.0.0.1:3306/missing_database");
    const brokenApi = await startApiServer(
      { ...deps, repository: createProductRepository(broken) },
      { s3: emulator.s3, bucket: emulator.enhancedBucket },
    );
    try {
      const response = await fetch(`${brokenApi.url}/products/00000000-0000-4000-8000-000000000000`, {
        headers: await authAs("api-seller", "seller"),
      });
      const text = await response.text();
      expect(response.status).toBe(500);
      expect(JSON.parse(text).error.code).toBe("INTERNAL");
      expect(text).not.toMatch(/nobody|secret|missing_database|Access denied|ER_/i);
      expect(text).toMatch(/request id [0-9a-f-]{36}/);

      const health = await fetch(`${brokenApi.url}/health`);
      const report = await health.json();
      expect(health.status).toBe(503);
      expect(report).toMatchObject({
        status: "degraded",
        checks: {
          database: { status: "unavailable" },
          objectStore: { status: "ok" },
          queue: { status: "ok" },
        },
      });
    } finally {
      await brokenApi.close();
      await broken.destroy();
    }
  });

  it("counts a dependency that never answers as unavailable instead of hanging", async () => {
    const hangingApi = await startApiServer(
      { ...deps, queue: { ...deps.queue, ping: () => new Promise<void>(() => undefined) } },
      { s3: emulator.s3, bucket: emulator.enhancedBucket },
    );
    try {
      const started = Date.now();
      const response = await fetch(`${hangingApi.url}/health`);
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({
        checks: { queue: { status: "unavailable" }, database: { status: "ok" } },
      });
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await hangingApi.close();
    }
  });

  it("reports every dependency reachable", async () => {
    const response = await request("GET", "/health");
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      status: "ok",
      checks: { database: { status: "ok" }, objectStore: { status: "ok" }, queue: { status: "ok" } },
    });
  });
});
