import { readFile } from "node:fs/promises";
import { DeleteObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ORIGINAL_URL } from "../../lambdas/domain/original.ts";
import type { ApiDeps } from "../../lambdas/domain/products.ts";
import { jsonRequest, startApiServer } from "../support/api-server.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { testApiDeps } from "../support/deps.ts";
import { startTestEmulator, type TestEmulator } from "../support/emulator.ts";
import { authAs } from "../support/identity.ts";
import { markPendingReview } from "../support/review-fixtures.ts";
import { CORPUS, postFile } from "../support/upload.ts";

/**
 * `GET /products/{id}`'s `original`: a presigned GET of the photo the variants came from, for its seller and
 * reviewers; another seller gets the usual 404, and a product with no processed photo (or one the raw bucket
 * no longer keeps) answers null.
 */
let database: TestDatabase;
let emulator: TestEmulator;
let api: { url: string; close(): Promise<void> };
let deps: ApiDeps;
let alice: Record<string, string>;
let mallory: Record<string, string>;
let rita: Record<string, string>;
const now = new Date("2026-12-02T10:07:30.000Z");

const call = (method: string, path: string, headers: Record<string, string>, body?: unknown) =>
  jsonRequest(api.url, method, path, headers, body);

const item = (sku: string, contentType = "image/jpeg") => ({
  sku,
  title: `Kettle ${sku}`,
  category: "kitchen",
  mrp: "100.00",
  price: "90.00",
  gst: "18",
  contentType,
});

/** The product's photo uploaded and recorded as the worker records a processed original, at `sequence` 1. */
const processedOriginal = async (product: { id: string; upload: { key: string } }, bytes: number) => {
  await database.admin
    .insertInto("product_originals")
    .values({
      product_id: product.id,
      upload_id: product.upload.key.split("/")[2]?.split(".")[0] ?? "",
      sequence: 1,
      bucket: emulator.rawBucket,
      object_key: product.upload.key,
      etag: "etag",
      bytes,
      status: "succeeded",
      created_at: now,
      updated_at: now,
      width: 640,
      height: 480,
      analysis: JSON.stringify({ quality: { scores: { overall: 70 } } }),
      phash: "0123456789abcdef",
      dhash: "0123456789abcdef",
    })
    .execute();
  await markPendingReview(database.admin, product.id);
};

let photo: { id: string; upload: { key: string } };
let tiff: { id: string; upload: { key: string } };
let noPhoto: { id: string };
let photoBytes: Buffer;

beforeAll(async () => {
  database = await createTestDatabase("original");
  emulator = await startTestEmulator();
  deps = { ...testApiDeps(database, emulator), clock: () => now };
  api = await startApiServer(deps, { s3: emulator.s3, bucket: emulator.enhancedBucket });
  alice = await authAs("alice", "seller");
  mallory = await authAs("mallory", "seller");
  rita = await authAs("rita", "reviewer");
  const created = await call("POST", "/products", alice, {
    products: [item("KETTLE-1"), item("KETTLE-2", "image/tiff"), item("KETTLE-3")],
  });
  expect(created.status).toBe(201);
  [photo, tiff, noPhoto] = created.body.products;
  photoBytes = await readFile(`${CORPUS}apple.jpg`);
  expect((await postFile(created.body.products[0].upload, `${CORPUS}apple.jpg`)).status).toBe(201);
  await processedOriginal(photo, photoBytes.length);
  await emulator.s3.send(
    new PutObjectCommand({
      Bucket: emulator.rawBucket,
      Key: tiff.upload.key,
      Body: new Uint8Array([0x49, 0x49, 0x2a, 0x00]),
      ContentType: "image/tiff",
    }),
  );
  await processedOriginal(tiff, 4);
});

afterAll(async () => {
  await api.close();
  await emulator.stop();
  await database.drop();
});

describe("GET /products/{id}: the original photo", () => {
  it("gives the seller a presigned GET that answers the photo's own bytes, valid at least 15 minutes", async () => {
    const response = await call("GET", `/products/${photo.id}`, alice);
    expect(response.status).toBe(200);
    const original = response.body.original;
    expect(original).toMatchObject({
      contentType: "image/jpeg",
      width: 640,
      height: 480,
      bytes: photoBytes.length,
    });
    const url = new URL(original.url);
    expect(url.pathname).toBe(`/${emulator.rawBucket}/${photo.upload.key}`);
    expect(url.searchParams.get("X-Amz-SignedHeaders")).toBe("host");
    // Signed as of the start of the 5-minute step (10:05), valid for 15 minutes plus that step.
    expect(url.searchParams.get("X-Amz-Date")).toBe("20261202T100500Z");
    expect(original.expiresAt).toBe("2026-12-02T10:25:00.000Z");
    expect(Date.parse(original.expiresAt) - now.getTime()).toBeGreaterThanOrEqual(
      ORIGINAL_URL.ttlSeconds * 1000,
    );
    const photoResponse = await fetch(original.url);
    expect(photoResponse.status).toBe(200);
    expect(photoResponse.headers.get("content-type")).toBe("image/jpeg");
    expect(Buffer.from(await photoResponse.arrayBuffer()).equals(photoBytes)).toBe(true);
  });

  it("answers the same URL within the step, so a browser's cache serves it", async () => {
    const first = await call("GET", `/products/${photo.id}`, alice);
    const again = await call("GET", `/products/${photo.id}`, rita);
    expect(again.body.original.url).toBe(first.body.original.url);
  });

  it("shows a reviewer the original of any seller's product", async () => {
    const response = await call("GET", `/products/${photo.id}`, rita);
    expect(response.status).toBe(200);
    expect(response.body.original.contentType).toBe("image/jpeg");
  });

  it("is a 404 for another seller, naming nothing of the product or its photo", async () => {
    const response = await call("GET", `/products/${photo.id}`, mallory);
    expect(response.status).toBe(404);
    expect(response.body.error.code).toBe("NOT_FOUND");
    expect(JSON.stringify(response.body)).not.toContain(photo.upload.key);
    expect(response.body.original).toBeUndefined();
  });

  it("names a TIFF's type, which a page cannot show", async () => {
    const response = await call("GET", `/products/${tiff.id}`, rita);
    expect(response.body.original).toMatchObject({ contentType: "image/tiff", bytes: 4 });
  });

  it("is null for a product with no processed photo", async () => {
    const response = await call("GET", `/products/${noPhoto.id}`, alice);
    expect(response.status).toBe(200);
    expect(response.body.original).toBeNull();
  });

  it("is null once the raw bucket no longer keeps the photo", async () => {
    await emulator.s3.send(new DeleteObjectCommand({ Bucket: emulator.rawBucket, Key: tiff.upload.key }));
    const response = await call("GET", `/products/${tiff.id}`, alice);
    expect(response.status).toBe(200);
    expect(response.body.original).toBeNull();
    expect(response.body.analysis).not.toBeNull();
  });
});
