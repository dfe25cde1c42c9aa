import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ApiDeps } from "../../lambdas/domain/products.ts";
import { jsonRequest, startApiServer } from "../support/api-server.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { testApiDeps } from "../support/deps.ts";
import { startTestEmulator, type TestEmulator } from "../support/emulator.ts";
import { authAs } from "../support/identity.ts";
import { catalogueSnapshot, markPendingReview } from "../support/review-fixtures.ts";

/** The review workflow over HTTP: decisions, their audit trail, races, bulk decisions and the review queue. */
let database: TestDatabase;
let emulator: TestEmulator;
let api: { url: string; close(): Promise<void> };
let deps: ApiDeps;
let seller: Record<string, string>;
let otherSeller: Record<string, string>;
let rita: Record<string, string>;
let rob: Record<string, string>;

const call = (method: string, path: string, headers: Record<string, string>, body?: unknown) =>
  jsonRequest(api.url, method, path, headers, body);

let serial = 0;
/** New products of a seller, waiting for review since the given times (oldest first by default). */
const pendingProducts = async (
  headers: Record<string, string>,
  count: number,
  { category = "lighting", waitingSince = [] as Date[] } = {},
): Promise<string[]> => {
  const products = Array.from({ length: count }, () => {
    serial += 1;
    return {
      sku: `REVIEW-${serial}`,
      title: `Desk lamp ${serial}`,
      category,
      mrp: "100.00",
      price: "90.00",
      gst: "18",
      contentType: "image/jpeg",
    };
  });
  const created = await call("POST", "/products", headers, { products });
  expect(created.status).toBe(201);
  const ids: string[] = created.body.products.map((product: { id: string }) => product.id);
  for (const [index, id] of ids.entries()) {
    await markPendingReview(database.admin, id, { waitingSince: waitingSince[index] ?? new Date() });
  }
  return ids;
};

const historyOf = async (id: string, headers: Record<string, string>) =>
  (await call("GET", `/products/${id}/history?limit=100`, headers)).body.history as {
    event: string;
    fromStatus: string;
    toStatus: string;
    variant: string | null;
    actor: string | null;
    reason: string | null;
  }[];

beforeAll(async () => {
  database = await createTestDatabase("review");
  emulator = await startTestEmulator();
  deps = testApiDeps(database, emulator);
  api = await startApiServer(deps, { s3: emulator.s3, bucket: emulator.enhancedBucket });
  seller = await authAs("sam", "seller");
  otherSeller = await authAs("sue", "seller");
  rita = await authAs("rita", "reviewer");
  rob = await authAs("rob", "reviewer");
});

afterAll(async () => {
  await api.close();
  await emulator.stop();
  await database.drop();
});

describe("POST /products/{id}/review", () => {
  it("approves with a main image that the product then shows, and records who chose it", async () => {
    const [id] = await pendingProducts(seller, 1);
    const approved = await call("POST", `/products/${id}/review`, rita, {
      decision: "approve",
      mainImage: "standard",
    });
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({
      id,
      status: "approved",
      mainImage: "standard",
      statusReason: null,
    });
    const shown = await call("GET", `/products/${id}`, seller);
    expect(shown.body).toMatchObject({ status: "approved", mainImage: "standard" });
    expect((await historyOf(id as string, seller)).at(-1)).toMatchObject({
      event: "reviewed",
      fromStatus: "pending_review",
      toStatus: "approved",
      variant: "standard",
      actor: "rita",
      reason: null,
    });
    // Approved is final: no more photos.
    expect(
      (await call("POST", `/products/${id}/uploads`, seller, { contentType: "image/jpeg" })).status,
    ).toBe(409);
  });

  it("rejects with a reason the seller sees, and the seller can upload again, which starts over", async () => {
    const [id] = await pendingProducts(seller, 1);
    const reason = "The lamp is cut off at the top; show all of it.";
    const rejected = await call("POST", `/products/${id}/review`, rob, { decision: "reject", reason });
    expect(rejected.status).toBe(200);
    expect(rejected.body).toMatchObject({ status: "rejected", statusReason: reason, mainImage: null });
    expect((await historyOf(id as string, seller)).at(-1)).toMatchObject({
      event: "reviewed",
      toStatus: "rejected",
      actor: "rob",
      reason,
    });
    const upload = await call("POST", `/products/${id}/uploads`, seller, { contentType: "image/png" });
    expect(upload.status).toBe(201);
    expect(upload.body.upload.key).toMatch(new RegExp(`^raw/${id}/`));
  });

  it("refuses an invalid decision, naming the field, and changes nothing", async () => {
    const [id] = await pendingProducts(seller, 1);
    const before = await catalogueSnapshot(database.admin);
    const cases: [unknown, string, RegExp][] = [
      [{ decision: "reject", reason: "no" }, "reason", /at least 3/],
      [{ decision: "reject", reason: "x".repeat(501) }, "reason", /at most 500/],
      [{ decision: "reject" }, "reason", /required/],
      [{ decision: "approve" }, "mainImage", /required/],
      [{ decision: "approve", mainImage: "poster" }, "mainImage", /standard, thumb/],
      [{ decision: "maybe" }, "decision", /approve .* or reject/],
      [{ decision: "approve", mainImage: "standard", extra: 1 }, "extra", /not a known field/],
    ];
    for (const [body, path, message] of cases) {
      const response = await call("POST", `/products/${id}/review`, rita, body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body.error.details, JSON.stringify(body)).toContainEqual({
        path,
        message: expect.stringMatching(message),
      });
    }
    expect(await catalogueSnapshot(database.admin)).toEqual(before);
  });

  it("refuses a product that is not waiting for review with 409 and its current state, changing nothing", async () => {
    const created = await call("POST", "/products", seller, {
      products: [
        {
          sku: "NOT-YET",
          title: "No photo yet",
          category: "x",
          mrp: "1",
          price: "1",
          gst: "0",
          contentType: "image/jpeg",
        },
      ],
    });
    const id = created.body.products[0].id;
    const before = await catalogueSnapshot(database.admin);
    const response = await call("POST", `/products/${id}/review`, rita, {
      decision: "approve",
      mainImage: "standard",
    });
    expect(response.status).toBe(409);
    expect(response.body.error.message).toMatch(/is pending: only a product in pending_review/);
    expect(response.body.product).toMatchObject({ id, status: "pending" });
    expect(await catalogueSnapshot(database.admin)).toEqual(before);
  });

  it("lets exactly one of two reviewers deciding at once win; the other gets 409 with the winner's decision", async () => {
    for (let round = 0; round < 5; round += 1) {
      const [id] = await pendingProducts(seller, 1);
      const [first, second] = await Promise.all([
        call("POST", `/products/${id}/review`, rita, { decision: "approve", mainImage: "thumb" }),
        call("POST", `/products/${id}/review`, rob, { decision: "reject", reason: "Too dark to sell from." }),
      ]);
      const statuses = [first.status, second.status].sort();
      expect(statuses).toEqual([200, 409]);
      const winner = first.status === 200 ? first : second;
      const loser = first.status === 200 ? second : first;
      expect(loser.body.product).toEqual(winner.body);
      const decisions = (await historyOf(id as string, rita)).filter((entry) => entry.event === "reviewed");
      expect(decisions).toHaveLength(1);
      expect((await call("GET", `/products/${id}`, rita)).body.status).toBe(winner.body.status);
    }
  });
});

describe("POST /reviews", () => {
  it("applies each decision on its own and answers each in its place", async () => {
    const [approveMe, rejectMe, decided] = await pendingProducts(seller, 3);
    await call("POST", `/products/${decided}/review`, rob, { decision: "approve", mainImage: "standard" });
    const response = await call("POST", "/reviews", rita, {
      reviews: [
        { id: approveMe, decision: "approve", mainImage: "thumb" },
        { id: "00000000-0000-4000-8000-000000000000", decision: "approve", mainImage: "thumb" },
        { id: rejectMe, decision: "reject", reason: "x" },
        { id: decided, decision: "reject", reason: "Changed my mind." },
        { id: rejectMe, decision: "reject", reason: "Background is cluttered." },
        "not an object",
      ],
    });
    expect(response.status).toBe(200);
    expect(response.body.results).toEqual([
      { id: approveMe, status: "approved" },
      {
        id: "00000000-0000-4000-8000-000000000000",
        status: null,
        error: expect.objectContaining({ code: "NOT_FOUND" }),
      },
      {
        id: rejectMe,
        status: null,
        error: expect.objectContaining({
          code: "VALIDATION_FAILED",
          details: [{ path: "reviews[2].reason", message: "must be at least 3 characters" }],
        }),
      },
      { id: decided, status: "approved", error: expect.objectContaining({ code: "CONFLICT" }) },
      { id: rejectMe, status: "rejected" },
      { id: "", status: null, error: expect.objectContaining({ code: "VALIDATION_FAILED" }) },
    ]);
    expect((await call("GET", `/products/${approveMe}`, seller)).body).toMatchObject({
      status: "approved",
      mainImage: "thumb",
    });
  });

  it("takes 1 to 100 decisions", async () => {
    const none = await call("POST", "/reviews", rita, { reviews: [] });
    expect(none.status).toBe(400);
    const tooMany = await call("POST", "/reviews", rita, {
      reviews: Array.from({ length: 101 }, () => ({ id: "x", decision: "reject", reason: "too many" })),
    });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error.details).toEqual([
      { path: "reviews", message: "must contain at most 100 decisions" },
    ]);
  });
});

describe("GET /products for reviewers: the review queue", () => {
  it("puts products waiting for review first, longest waiting first, across pages and sellers", async () => {
    const now = Date.now();
    const minutesAgo = (minutes: number) => new Date(now - minutes * 60_000);
    const queueCategory = `queue-${Date.now()}`;
    const samIds = await pendingProducts(seller, 2, {
      category: queueCategory,
      waitingSince: [minutesAgo(30), minutesAgo(10)],
    });
    const sueIds = await pendingProducts(otherSeller, 2, {
      category: queueCategory,
      waitingSince: [minutesAgo(40), minutesAgo(20)],
    });
    // Decided long ago: it waits for nothing, so it comes after every product still waiting.
    const [decidedEarlier] = await pendingProducts(seller, 1, {
      category: queueCategory,
      waitingSince: [minutesAgo(90)],
    });
    await call("POST", `/products/${decidedEarlier}/review`, rob, {
      decision: "reject",
      reason: "Blurred photo.",
    });

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = `/products?category=${queueCategory}&sort=waiting&limit=2${cursor ? `&cursor=${cursor}` : ""}`;
      const page = await call("GET", query, rita);
      expect(page.status).toBe(200);
      seen.push(...page.body.products.map((product: { id: string }) => product.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual([sueIds[0], samIds[0], sueIds[1], samIds[1], decidedEarlier]);

    const sellersOnly = await call(
      "GET",
      `/products?category=${queueCategory}&seller=sue&status=pending_review`,
      rita,
    );
    expect(sellersOnly.body.products.map((product: { id: string }) => product.id).sort()).toEqual(
      [...sueIds].sort(),
    );
    // A seller's list is their own, whatever else it asks for.
    const asSam = await call("GET", `/products?category=${queueCategory}&sort=waiting`, seller);
    expect(asSam.body.products.map((product: { sellerId: string }) => product.sellerId)).toEqual([
      "sam",
      "sam",
      "sam",
    ]);
  });

  it("searches sku and title literally, case-insensitively", async () => {
    const [id] = await pendingProducts(otherSeller, 1);
    const { sku, title } = (await call("GET", `/products/${id}`, rita)).body;
    for (const text of [sku.toLowerCase(), title.slice(5).toUpperCase()]) {
      const found = await call("GET", `/products?q=${encodeURIComponent(text)}`, rita);
      expect(
        found.body.products.map((product: { id: string }) => product.id),
        text,
      ).toContain(id);
    }
    expect((await call("GET", `/products?q=${encodeURIComponent(sku)}`, seller)).body.products).toEqual([]);
  });

  it("refuses a cursor of another sort order", async () => {
    await pendingProducts(seller, 3);
    const page = await call("GET", "/products?sort=waiting&limit=1", rita);
    const wrongSort = await call("GET", `/products?sort=newest&cursor=${page.body.nextCursor}`, rita);
    expect(wrongSort.status).toBe(400);
    expect(wrongSort.body.error.details).toEqual([
      { path: "cursor", message: "is not a cursor this API returned" },
    ]);
  });
});
