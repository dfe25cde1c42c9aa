import { generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ApiDeps } from "../../lambdas/domain/products.ts";
import { LOCAL_IDENTITY } from "../../lambdas/names.ts";
import { jsonRequest, startApiServer } from "../support/api-server.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { testApiDeps } from "../support/deps.ts";
import { startTestEmulator, type TestEmulator } from "../support/emulator.ts";
import { authAs, mintToken } from "../support/identity.ts";
import { catalogueSnapshot, markPendingReview } from "../support/review-fixtures.ts";

/**
 * Who may do what, over HTTP: every refusal is checked to leave the catalogue, the uploads, the history and
 * the queue exactly as they were.
 */
let database: TestDatabase;
let emulator: TestEmulator;
let api: { url: string; close(): Promise<void> };
let deps: ApiDeps;

const call = (method: string, path: string, headers: Record<string, string>, body?: unknown) =>
  jsonRequest(api.url, method, path, headers, body);

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

const item = (sku: string) => ({
  sku,
  title: `Lamp ${sku}`,
  category: "lighting",
  mrp: "100.00",
  price: "90.00",
  gst: "18",
  contentType: "image/jpeg",
});

/** Everything a refused request could have changed, the queue included. */
const everything = async () => ({
  ...(await catalogueSnapshot(database.admin)),
  queue: await deps.queue.depth(),
});

let alice: Record<string, string>;
let mallory: Record<string, string>;
let reviewer: Record<string, string>;
let aliceProduct: { id: string };
let pendingProduct: { id: string };

beforeAll(async () => {
  database = await createTestDatabase("access");
  emulator = await startTestEmulator();
  deps = testApiDeps(database, emulator);
  api = await startApiServer(deps, { s3: emulator.s3, bucket: emulator.enhancedBucket });
  alice = await authAs("alice", "seller");
  mallory = await authAs("mallory", "seller");
  reviewer = await authAs("rita", "reviewer");
  const created = await call("POST", "/products", alice, { products: [item("LAMP-1"), item("LAMP-2")] });
  expect(created.status).toBe(201);
  [aliceProduct, pendingProduct] = created.body.products;
  await markPendingReview(database.admin, pendingProduct.id);
});

afterAll(async () => {
  await api.close();
  await emulator.stop();
  await database.drop();
});

describe("a request without a valid token is refused before anything happens", () => {
  const refusedWith = async (headers: Record<string, string>, message: RegExp) => {
    const before = await everything();
    for (const [method, path, body] of [
      ["POST", "/products", { products: [item("NEW-1")] }],
      ["GET", "/products", undefined],
      ["GET", `/products/${aliceProduct.id}`, undefined],
      ["POST", `/products/${aliceProduct.id}/uploads`, { contentType: "image/jpeg" }],
      ["POST", `/products/${pendingProduct.id}/review`, { decision: "approve", mainImage: "standard" }],
    ] as const) {
      const response = await call(method, path, headers, body);
      expect(response.status, `${method} ${path}`).toBe(401);
      expect(response.body.error.code).toBe("UNAUTHORIZED");
      expect(response.body.error.message).toMatch(message);
      expect(response.headers.get("www-authenticate")).toMatch(/^Bearer/);
    }
    expect(await everything()).toEqual(before);
  };

  it("no token at all", () => refusedWith({}, /sign in first/));

  it("a header that is not a bearer token", () =>
    refusedWith({ authorization: "Basic YWxpY2U6cGFzcw==" }, /Bearer/));

  it("text that is not a JWT", () => refusedWith(bearer("not-a-jwt"), /not a JWT/));

  it("an expired token", async () => {
    const expired = await mintToken("alice", ["seller"], {
      now: new Date(Date.now() - 2 * 3600_000),
      ttlSeconds: 3600,
    });
    await refusedWith(bearer(expired), /expired/);
  });

  it("a token signed by another key, under its own key id or under ours", async () => {
    const { privateKey } = await generateKeyPair("RS256");
    const claims = {
      "cognito:groups": ["sellers", "reviewers"],
      client_id: LOCAL_IDENTITY.clientId,
      token_use: "access",
      username: "alice",
    };
    const forge = (kid: string) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: "RS256", kid })
        .setSubject("alice")
        .setIssuer(LOCAL_IDENTITY.issuer)
        .setIssuedAt()
        .setExpirationTime("1h")
        .sign(privateKey);
    await refusedWith(bearer(await forge("someone-elses-key")), /signature/);
    const ourKid = JSON.parse(
      Buffer.from(
        (alice.authorization ?? "").replace("Bearer ", "").split(".")[0] ?? "",
        "base64url",
      ).toString(),
    ).kid as string;
    await refusedWith(bearer(await forge(ourKid)), /signature/);
  });

  it("an unsigned token (alg none)", async () => {
    const header = Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url");
    const payload = Buffer.from(
      JSON.stringify({
        sub: "alice",
        iss: LOCAL_IDENTITY.issuer,
        client_id: LOCAL_IDENTITY.clientId,
        token_use: "access",
        "cognito:groups": ["reviewers"],
        exp: Math.floor(Date.now() / 1000) + 3600,
      }),
    ).toString("base64url");
    await refusedWith(bearer(`${header}.${payload}.`), /./);
  });

  it("a token of another issuer", async () =>
    refusedWith(
      bearer(await mintToken("alice", ["seller"], { issuer: "https://evil.example" })),
      /issued by/,
    ));

  it("a token issued to another app client", async () =>
    refusedWith(
      bearer(await mintToken("alice", ["seller"], { clientId: "another-client" })),
      /another app client/,
    ));

  it("an id token instead of an access token", async () =>
    refusedWith(bearer(await mintToken("alice", ["seller"], { tokenUse: "id" })), /access token/));
});

describe("roles", () => {
  it("refuses a signed-in user in neither group, and a reviewer creating products", async () => {
    const before = await everything();
    const nobody = await authAs("nobody");
    const noRole = await call("POST", "/products", nobody, { products: [item("NOBODY-1")] });
    expect(noRole.status).toBe(403);
    expect(noRole.body.error.message).toMatch(/sellers group/);
    const asReviewer = await call("POST", "/products", reviewer, { products: [item("RITA-1")] });
    expect(asReviewer.status).toBe(403);
    expect(await everything()).toEqual(before);
  });

  it("refuses a seller on both review routes, even for their own product", async () => {
    const before = await everything();
    const one = await call("POST", `/products/${pendingProduct.id}/review`, alice, {
      decision: "approve",
      mainImage: "standard",
    });
    expect(one.status).toBe(403);
    expect(one.body.error.code).toBe("FORBIDDEN");
    const bulk = await call("POST", "/reviews", alice, {
      reviews: [{ id: pendingProduct.id, decision: "reject", reason: "self-review" }],
    });
    expect(bulk.status).toBe(403);
    expect(await everything()).toEqual(before);
  });

  it("refuses a reviewer uploading or re-enhancing another seller's product, which they can read", async () => {
    const before = await everything();
    expect((await call("GET", `/products/${pendingProduct.id}`, reviewer)).status).toBe(200);
    const upload = await call("POST", `/products/${pendingProduct.id}/uploads`, reviewer, {
      contentType: "image/jpeg",
    });
    expect(upload.status).toBe(403);
    const enhance = await call("POST", `/products/${pendingProduct.id}/enhance`, reviewer, { mode: "AUTO" });
    expect(enhance.status).toBe(403);
    expect(await everything()).toEqual(before);
  });
});

describe("another seller's product does not exist for a seller", () => {
  it("is a 404 to read, list, see the history or duplicates of, re-upload or re-enhance, and nothing changes", async () => {
    const before = await everything();
    const nobodys = "00000000-0000-4000-8000-000000000000";
    const unknown = await call("GET", `/products/${nobodys}`, mallory);
    expect(unknown.status).toBe(404);
    for (const [method, path, body] of [
      ["GET", `/products/${aliceProduct.id}`, undefined],
      ["GET", `/products/${aliceProduct.id}/history`, undefined],
      ["GET", `/products/${aliceProduct.id}/duplicates`, undefined],
      ["POST", `/products/${aliceProduct.id}/uploads`, { contentType: "image/jpeg" }],
      ["POST", `/products/${pendingProduct.id}/enhance`, { mode: "AUTO" }],
    ] as const) {
      const response = await call(method, path, mallory, body);
      expect(response.status, `${method} ${path}`).toBe(404);
      // Word for word what an id nobody has gets: nothing tells the two apart.
      const id = path.split("/")[2] ?? "";
      expect(response.body).toEqual(JSON.parse(JSON.stringify(unknown.body).replaceAll(nobodys, id)));
    }
    const listed = await call("GET", "/products?limit=100", mallory);
    expect(listed.status).toBe(200);
    expect(listed.body.products).toEqual([]);
    expect(await everything()).toEqual(before);
  });

  it("lets two sellers use the same sku, each getting their own product back on a repeat", async () => {
    const mine = await call("POST", "/products", mallory, { products: [item("LAMP-1")] });
    expect(mine.status).toBe(201);
    expect(mine.body.products[0].id).not.toBe(aliceProduct.id);
    const again = await call("POST", "/products", alice, { products: [item("LAMP-1")] });
    expect(again.status).toBe(200);
    expect(again.body.products[0]).toMatchObject({ id: aliceProduct.id, created: false });
  });
});

describe("the list's filters cannot be turned against it", () => {
  it("refuses a seller's seller filter naming someone else, and allows their own", async () => {
    const before = await everything();
    const forged = await call("GET", "/products?seller=alice", mallory);
    expect(forged.status).toBe(403);
    expect(forged.body.products).toBeUndefined();
    const own = await call("GET", "/products?seller=alice", alice);
    expect(own.status).toBe(200);
    expect(own.body.products.map((product: { sellerId: string }) => product.sellerId)).toEqual([
      "alice",
      "alice",
    ]);
    expect(await everything()).toEqual(before);
  });

  it("treats SQL-looking text as text, for sellers and reviewers alike", async () => {
    const before = await everything();
    for (const query of [
      "q=%27%20OR%201%3D1%20--%20",
      "category=lighting%27%20OR%20%271%27%3D%271",
      "q=%25",
      "q=_",
      "seller=alice%27%20OR%20%271%27%3D%271",
    ]) {
      const asReviewer = await call("GET", `/products?${query}`, reviewer);
      expect(asReviewer.status, query).toBe(200);
      expect(asReviewer.body.products, query).toEqual([]);
    }
    const asSeller = await call("GET", "/products?q=%27%20OR%201%3D1%20--%20", mallory);
    expect(asSeller.body.products).toEqual([]);
    expect(await everything()).toEqual(before);
  });

  it("names each oversized or unknown query parameter", async () => {
    const long = "x".repeat(101);
    const response = await call(
      "GET",
      `/products?q=${long}&category=${"c".repeat(101)}&seller=${"s".repeat(129)}&sort=random&cursor=${"z".repeat(201)}&drop=table`,
      reviewer,
    );
    expect(response.status).toBe(400);
    expect(response.body.error.details.map((detail: { path: string }) => detail.path).sort()).toEqual(
      ["category", "cursor", "drop", "q", "seller", "sort"].sort(),
    );
  });
});

describe("near-duplicates across sellers", () => {
  it("tells a seller a near-duplicate exists without naming another seller's product; a reviewer sees it", async () => {
    const mine = await call("POST", "/products", mallory, { products: [item("COPY-1")] });
    const copy = mine.body.products[0].id as string;
    const at = new Date();
    const original = (id: number, productId: string) => ({
      id,
      product_id: productId,
      upload_id: productId,
      sequence: 1,
      bucket: "raw",
      object_key: `raw/${productId}/photo.jpg`,
      etag: `etag-${id}`,
      bytes: 1,
      status: "succeeded" as const,
      phash: "0123456789abcdef",
      dhash: "0123456789abcdef",
      created_at: at,
      updated_at: at,
    });
    await database.admin
      .insertInto("product_originals")
      .values([original(9001, aliceProduct.id), original(9002, copy)])
      .execute();
    const pair = (productId: string, originalId: number, otherId: string, otherOriginal: number) => ({
      product_id: productId,
      original_id: originalId,
      duplicate_product_id: otherId,
      duplicate_original_id: otherOriginal,
      phash_distance: 2,
      dhash_distance: 3,
      created_at: at,
    });
    await database.admin
      .insertInto("product_duplicates")
      .values([pair(copy, 9002, aliceProduct.id, 9001), pair(aliceProduct.id, 9001, copy, 9002)])
      .execute();

    const seen = await call("GET", `/products/${copy}/duplicates`, mallory);
    expect(seen.body.duplicates).toEqual([
      { product: null, pHashDistance: 2, dHashDistance: 3, detectedAt: expect.any(String) },
    ]);
    expect(JSON.stringify((await call("GET", `/products/${copy}`, mallory)).body)).not.toContain(
      aliceProduct.id,
    );
    const reviewed = await call("GET", `/products/${copy}/duplicates`, reviewer);
    expect(reviewed.body.duplicates).toEqual([
      expect.objectContaining({
        product: {
          id: aliceProduct.id,
          sellerId: "alice",
          sku: "LAMP-1",
          title: "Lamp LAMP-1",
          status: "pending",
        },
      }),
    ]);
  });
});
