import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { Metrics } from "@aws-lambda-powertools/metrics";
import { DeleteObjectCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import {
  DeleteMessageCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
} from "@aws-sdk/client-sqs";
import type { SQSEvent } from "aws-lambda";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { logger } from "../../lambdas/adapters/logger.ts";
import { createObjectStore } from "../../lambdas/adapters/object-store.ts";
import { createProductRepository } from "../../lambdas/adapters/product-repository.ts";
import { createEnhanceQueue } from "../../lambdas/adapters/queue.ts";
import type { WorkerDeps } from "../../lambdas/domain/enhance-upload.ts";
import type { Log, ObjectStore } from "../../lambdas/domain/ports.ts";
import { type ApiDeps, createProducts, createUpload } from "../../lambdas/domain/products.ts";
import { objectCreatedEvent } from "../../lambdas/domain/s3-events.ts";
import { DEFAULT_VARIANT_SET } from "../../lambdas/engine/variant-spec.ts";
import { createEnhanceHandler, type WorkerRuntime } from "../../lambdas/handlers/enhance.ts";
import { startEventSourcePoller, toSqsRecord } from "../../local/event-source-poller.ts";
import { lambdaContext } from "../../local/lambda-context.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { testApiDeps } from "../support/deps.ts";
import { startTestEmulator, type TestEmulator } from "../support/emulator.ts";
import { blackBilevelPng, heicHeader, pdfDocument, svgWithScript } from "../support/fixtures.ts";
import { TEST_SELLER } from "../support/identity.ts";
import { CORPUS, eventually, postUpload } from "../support/upload.ts";

const MB = 1024 * 1024;
let database: TestDatabase;
let emulator: TestEmulator;
let apiDeps: ApiDeps;
let workerDeps: WorkerDeps;
let truncatedApple: Buffer;

beforeAll(async () => {
  const apple = await readFile(`${CORPUS}apple.jpg`);
  truncatedApple = apple.subarray(0, Math.floor(apple.length * 0.6));
  database = await createTestDatabase("worker");
  emulator = await startTestEmulator({ visibilityTimeoutSeconds: 1, maxReceiveCount: 3 });
  const repository = createProductRepository(database.db);
  const objectStore = createObjectStore(emulator.s3);
  const settings = {
    variants: DEFAULT_VARIANT_SET,
    rawBucket: emulator.rawBucket,
    enhancedBucket: emulator.enhancedBucket,
    maxUploadBytes: 2 * MB,
    uploadUrlTtlSeconds: 900,
    maxInputPixels: 100_000_000,
    assetsBaseUrl: "https://cdn.example.test",
    rawRetentionDays: 30,
  };
  apiDeps = testApiDeps(database, emulator, settings);
  workerDeps = { repository, objectStore, settings, clock: () => new Date(), log: logger };
});

/** The worker as the Lambda runs it, over this file's database and emulator; `deps` may swap a port. */
const runtimeWith = (
  deps: Partial<WorkerDeps> = {},
  overrides: Partial<Omit<WorkerRuntime, "deps">> = {},
): WorkerRuntime => ({
  deps: { ...workerDeps, ...deps },
  queue: createEnhanceQueue(emulator.sqs, emulator.queue.url),
  maxReceiveCount: 3,
  photoBudgetSeconds: 10,
  busyRetryDelaySeconds: 1,
  maxDeferrals: 5,
  ...overrides,
});

/** Records every metric the handler adds, as `name unit dimensions value` lines. */
const metricsRecorder = () => {
  const recorded: string[] = [];
  const recorder = (dimensions: string[] = []) => ({
    addDimension(name: string, value: string) {
      return recorder([...dimensions, `${name}=${value}`]);
    },
    addMetric(name: string, unit: string, value: number) {
      recorded.push([name, unit, ...dimensions, unit === "Count" ? value : "t"].join(" "));
    },
  });
  const metrics = {
    ...recorder(),
    singleMetric: () => recorder(),
    publishStoredMetrics: () => recorded.push("published"),
  };
  return { recorded, metrics: metrics as unknown as Metrics };
};

/** An object store that counts what the worker asks of it. */
const countingStore = (inner: ObjectStore = workerDeps.objectStore) => {
  const calls = { head: [] as string[], get: [] as string[] };
  const store: ObjectStore = {
    ...inner,
    head: (bucket, key) => {
      calls.head.push(key);
      return inner.head(bucket, key);
    },
    get: (bucket, key) => {
      calls.get.push(key);
      return inner.get(bucket, key);
    },
  };
  return { store, calls };
};

afterAll(async () => {
  await emulator.stop();
  await database.drop();
});

/** A product whose photo is already in the raw bucket, and the S3 event S3 would send for it. */
const uploadedProduct = async (body: Uint8Array, contentType = "image/jpeg") => {
  const [summary] = await createProducts(apiDeps, TEST_SELLER, [
    {
      sku: `W-${randomUUID()}`,
      title: "Worker test",
      category: "test",
      mrp: "10.00",
      price: "9.00",
      discount: "10.00",
      gst: "5.00",
      contentType: contentType as "image/jpeg",
    },
  ]);
  if (!summary?.upload) throw new Error("no upload issued");
  const posted = await postUpload(summary.upload, body);
  expect(posted.status).toBe(201);
  const head = await workerDeps.objectStore.head(emulator.rawBucket, summary.upload.key);
  const event = objectCreatedEvent({
    bucket: emulator.rawBucket,
    key: summary.upload.key,
    bytes: head?.bytes ?? 0,
    etag: head?.etag ?? "",
    region: "us-east-1",
  });
  return { productId: summary.id, key: summary.upload.key, event };
};

const sqsEvent = (bodies: unknown[], receiveCount = 1): SQSEvent => ({
  Records: bodies.map((body) => {
    const record = toSqsRecord(
      { MessageId: randomUUID(), ReceiptHandle: randomUUID(), Body: JSON.stringify(body), MD5OfBody: "x" },
      emulator.queue.arn,
      "us-east-1",
    );
    record.attributes.ApproximateReceiveCount = String(receiveCount);
    return record;
  }),
});

const product = (id: string) => apiDeps.repository.findProduct(id);
/** Puts the product in `processing` with an earlier photo, as a worker still busy with it would. */
const processAnotherPhoto = (productId: string, key: string) =>
  apiDeps.repository.claimSequence(
    productId,
    "earlier-upload",
    { bucket: emulator.rawBucket, key: `${key}.earlier`, etag: randomUUID(), bytes: 1, landedAt: null },
    new Date(),
  );
const historyOf = (id: string) => apiDeps.repository.history(id, { limit: 100, order: "oldest" });
const images = (id: string) =>
  database.db.selectFrom("product_images").selectAll().where("product_id", "=", id).execute();
const enhancedObjects = async (id: string) =>
  (
    await emulator.s3.send(
      new ListObjectsV2Command({ Bucket: emulator.enhancedBucket, Prefix: `enhanced/${id}/` }),
    )
  ).Contents ?? [];

describe("enhance worker", () => {
  const handler = () => createEnhanceHandler(runtimeWith());

  it("turns an uploaded photo into the default variant set and moves the product to pending_review", async () => {
    const photo = await readFile(`${CORPUS}LadyBird.jpg`);
    const { productId, event } = await uploadedProduct(photo);
    const response = await handler()(sqsEvent([event]), lambdaContext("enhance", 30));
    expect(response?.batchItemFailures).toEqual([]);

    expect(await product(productId)).toMatchObject({
      status: "pending_review",
      statusReason: null,
      lastSequence: 1,
    });
    const rows = await images(productId);
    expect(rows.map((row) => [row.variant, row.format, row.sequence])).toEqual([
      ["standard", "jpeg", 1],
      ["enhanced", "jpeg", 1],
      ["web", "webp", 1],
      ["thumb", "webp", 1],
    ]);
    const standard = rows[0];
    expect(standard).toMatchObject({ width: 2000, height: 2000 });
    const stored = await workerDeps.objectStore.get(
      emulator.enhancedBucket,
      `enhanced/${productId}/1/standard.jpg`,
    );
    if (!stored) throw new Error("the standard variant was not stored");
    const metadata = await sharp(stored).metadata();
    expect(metadata).toMatchObject({ format: "jpeg", width: 2000, height: 2000, space: "srgb" });
    expect(metadata.exif).toBeUndefined();
    expect(stored.length).toBe(standard?.bytes);
    expect((await enhancedObjects(productId)).map((object) => object.Key?.split("/").at(-1)).sort()).toEqual([
      "enhanced.jpg",
      "standard.jpg",
      "thumb.webp",
      "web.webp",
    ]);

    const history = await historyOf(productId);
    expect(history.map((entry) => `${entry.event}:${entry.variant ?? entry.toStatus}`)).toEqual([
      "status_changed:processing",
      "variant_created:standard",
      "variant_created:enhanced",
      "variant_created:web",
      "variant_created:thumb",
      "status_changed:pending_review",
      // No Gemini key in this suite: the history says the AI step was skipped, and nothing called out.
      "ai_skipped:null",
    ]);
    expect(history.at(-1)?.error).toBe("the AI step was skipped: no Gemini API key is configured");
    const standardRow = history[1];
    expect(standardRow).toMatchObject({
      mode: "STANDARDIZE",
      outputUrl: `https://cdn.example.test/enhanced/${productId}/1/standard.jpg`,
      sourceBytes: photo.length,
    });
    const quality = standardRow?.qualityMetadata as {
      before: Record<string, number>;
      after: Record<string, number>;
      compliance: { profile: string; pass: boolean };
    };
    expect(Object.keys(quality.before).sort()).toEqual([
      "contrast",
      "exposure",
      "noise",
      "overall",
      "resolution",
      "sharpness",
    ]);
    expect(quality.compliance).toMatchObject({ profile: "amazon", pass: true });
    const web = history[3];
    expect(web?.sizeMetadata).toMatchObject({ targetBytes: 200 * 1024 });
    expect(web?.outputBytes).toBeLessThanOrEqual(200 * 1024);

    const [original] = await database.db
      .selectFrom("product_originals")
      .select(["phash", "dhash", "width", "height", "phash_band0"])
      .where("product_id", "=", productId)
      .execute();
    expect(original).toMatchObject({ width: 2560, height: 1600 });
    expect(original?.phash).toMatch(/^[0-9a-f]{16}$/);
    expect(original?.phash_band0).not.toBeNull();
  });

  it("processes one object once, however often S3 delivers its event", async () => {
    const { productId, event } = await uploadedProduct(await readFile(`${CORPUS}apple.jpg`));
    const { store, calls } = countingStore();
    const { recorded, metrics } = metricsRecorder();
    const worker = createEnhanceHandler(runtimeWith({ objectStore: store }), metrics);
    // Twice in one batch (two SQS messages for one S3 event), then once more later.
    const first = await worker(sqsEvent([event, event]), lambdaContext("enhance", 30));
    const again = await worker(sqsEvent([event]), lambdaContext("enhance", 30));
    expect(first?.batchItemFailures).toEqual([]);
    expect(again?.batchItemFailures).toEqual([]);

    // Three deliveries reached the worker; the photo was read and rendered once, the others were skipped.
    expect(calls.head).toHaveLength(3);
    expect(calls.get).toHaveLength(1);
    expect(recorded.filter((line) => !line.startsWith("VariantTime"))).toEqual([
      "PhotosEnhanced Count 1",
      "UploadsSkipped Count 1",
      "published",
      "UploadsSkipped Count 1",
      "published",
    ]);
    expect((await product(productId))?.status).toBe("pending_review");
    expect(await images(productId)).toHaveLength(4);
    expect(await enhancedObjects(productId)).toHaveLength(4);
    const originals = await database.db
      .selectFrom("product_originals")
      .selectAll()
      .where("product_id", "=", productId)
      .execute();
    expect(originals).toHaveLength(1);
    const events = (await historyOf(productId)).map((entry) => `${entry.event}:${entry.toStatus ?? ""}`);
    expect(events).toEqual([
      "status_changed:processing",
      "variant_created:",
      "variant_created:",
      "variant_created:",
      "variant_created:",
      "status_changed:pending_review",
      "ai_skipped:",
    ]);
  });

  it("finishes the sequence of a delivery that died mid-way when the object is delivered again", async () => {
    const { productId, key, event } = await uploadedProduct(await readFile(`${CORPUS}apple.jpg`));
    const head = await workerDeps.objectStore.head(emulator.rawBucket, key);
    const upload = await apiDeps.repository.findUploadByKey(key);
    if (!head || !upload) throw new Error("the upload did not land");
    // The first delivery claimed the object and its worker died before completing it.
    const claim = await apiDeps.repository.claimSequence(
      productId,
      upload.id,
      { bucket: emulator.rawBucket, key, etag: head.etag, bytes: head.bytes, landedAt: new Date() },
      new Date(),
    );
    expect(claim).toEqual({ kind: "started", sequence: 1 });
    const { store, calls } = countingStore();
    const response = await createEnhanceHandler(runtimeWith({ objectStore: store }))(
      sqsEvent([event], 2),
      lambdaContext("enhance", 30),
    );
    expect(response?.batchItemFailures).toEqual([]);
    expect(calls.get).toEqual([key]);
    expect(await product(productId)).toMatchObject({ status: "pending_review", lastSequence: 1 });
    expect((await images(productId)).map((row) => row.sequence)).toEqual([1, 1, 1, 1]);
  });

  it("publishes metrics: photos enhanced, failures by code, time per variant", async () => {
    const { recorded, metrics } = metricsRecorder();
    const good = await uploadedProduct(await readFile(`${CORPUS}stuff.jpg`));
    const bad = await uploadedProduct(new TextEncoder().encode("not a photo"));
    await createEnhanceHandler(runtimeWith(), metrics)(
      sqsEvent([good.event, bad.event]),
      lambdaContext("enhance", 30),
    );
    expect(recorded).toEqual([
      "PhotosEnhanced Count 1",
      "VariantTime Milliseconds Variant=standard t",
      "VariantTime Milliseconds Variant=enhanced t",
      "VariantTime Milliseconds Variant=web t",
      "VariantTime Milliseconds Variant=thumb t",
      "PhotosFailed Count FailureCode=NOT_AN_IMAGE 1",
      "published",
    ]);
  });

  it("ignores S3's test event: no lookup, no metric, no failure", async () => {
    const { store, calls } = countingStore();
    const { recorded, metrics } = metricsRecorder();
    const response = await createEnhanceHandler(runtimeWith({ objectStore: store }), metrics)(
      sqsEvent([
        { Service: "Amazon S3", Event: "s3:TestEvent", Time: new Date().toISOString(), Bucket: "b" },
      ]),
      lambdaContext("enhance", 30),
    );
    expect(response?.batchItemFailures).toEqual([]);
    expect(calls).toEqual({ head: [], get: [] });
    expect(recorded).toEqual(["published"]);
  });

  it("reports a message that is not an S3 event as a failure, so it is kept (DLQ), not dropped", async () => {
    const event = sqsEvent([{ hello: "world" }]);
    const handle = handler();
    const response = await handle(
      { Records: [...event.Records, ...sqsEvent([{ Service: "Amazon S3", Event: "s3:TestEvent" }]).Records] },
      lambdaContext("enhance", 30),
    );
    expect(response?.batchItemFailures).toEqual([{ itemIdentifier: event.Records[0]?.messageId }]);
  });

  it("fails a text file sent as image/jpeg with a reason, without retrying", async () => {
    const { productId, event } = await uploadedProduct(
      new TextEncoder().encode("just some notes, not a photo\n"),
    );
    const response = await handler()(sqsEvent([event]), lambdaContext("enhance", 30));
    expect(response?.batchItemFailures).toEqual([]);
    const failed = await product(productId);
    expect(failed?.status).toBe("failed");
    expect(failed?.statusReason).toContain("the upload is a text file (declared as image/jpeg)");
    expect(await images(productId)).toEqual([]);
  });

  it.each([
    ["an SVG with script", () => svgWithScript, "the upload is an SVG file (declared as image/jpeg)"],
    ["a PDF", () => pdfDocument, "the upload is a PDF file (declared as image/jpeg)"],
    ["a HEIC photo", () => heicHeader, "the upload is a HEIC file (declared as image/jpeg)"],
    [
      "a 20000×20000 PNG of a few KB",
      () => blackBilevelPng(20000, 20000),
      "the photo is 20000×20000 px (400 MP); the limit is 100 MP",
    ],
    [
      "a truncated JPEG",
      () => truncatedApple,
      "the JPEG file is truncated or corrupt and cannot be decoded; export the photo again and re-upload it",
    ],
  ])("refuses %s with a reason, without retrying", async (_what, body, reason) => {
    const { productId, event } = await uploadedProduct(body());
    const response = await handler()(sqsEvent([event]), lambdaContext("enhance", 30));
    expect(response?.batchItemFailures).toEqual([]);
    const failed = await product(productId);
    expect(failed?.status).toBe("failed");
    expect(failed?.statusReason).toContain(reason);
    expect(await images(productId)).toEqual([]);
    expect(await enhancedObjects(productId)).toEqual([]);
  });

  it("fails an upload over the size limit, naming both sizes, before reading it", async () => {
    const big = await sharp({
      create: {
        width: 1400,
        height: 1400,
        channels: 3,
        background: "#808080",
        noise: { type: "gaussian", mean: 128, sigma: 60 },
      },
    })
      .png({ compressionLevel: 0 })
      .toBuffer();
    expect(big.length).toBeGreaterThan(2 * MB);
    const { store, calls } = countingStore();
    const { productId, event } = await uploadedProduct(big, "image/png");
    const response = await createEnhanceHandler(runtimeWith({ objectStore: store }))(
      sqsEvent([event]),
      lambdaContext("enhance", 30),
    );
    expect(response?.batchItemFailures).toEqual([]);
    const failed = await product(productId);
    expect(failed?.status).toBe("failed");
    expect(failed?.statusReason).toMatch(/^the photo is 5\.6\d? MB; the limit is 2 MB/);
    expect(calls.get).toEqual([]);
  });

  it("refuses a photo for an approved product and records why, leaving it approved", async () => {
    const { productId, key, event } = await uploadedProduct(await readFile(`${CORPUS}orange.jpg`));
    await database.db
      .updateTable("products")
      .set({ status: "approved" })
      .where("id", "=", productId)
      .execute();
    const response = await handler()(sqsEvent([event]), lambdaContext("enhance", 30));
    expect(response?.batchItemFailures).toEqual([]);
    expect((await product(productId))?.status).toBe("approved");
    const [refusal] = await historyOf(productId);
    expect(refusal).toMatchObject({ event: "upload_refused", sourceKey: key, status: "failed" });
    expect(refusal?.error).toContain("approved");
  });

  it("lets a second photo wait its turn as a fresh, delayed message while the product processes the first", async () => {
    const { productId, key, event } = await uploadedProduct(await readFile(`${CORPUS}orange.jpg`));
    await processAnotherPhoto(productId, key);
    const { recorded, metrics } = metricsRecorder();
    const batch = sqsEvent([event], 2);
    const response = await createEnhanceHandler(runtimeWith(), metrics)(batch, lambdaContext("enhance", 30));
    // This delivery succeeds (its receives are not spent); a copy waits in the queue with its count.
    expect(response?.batchItemFailures).toEqual([]);
    expect(recorded).toEqual(["PhotosWaiting Count 1", "published"]);
    expect(await product(productId)).toMatchObject({ status: "processing", lastSequence: 1 });
    expect(await images(productId)).toEqual([]);
    const copy = await eventually(
      async () => {
        const received = await emulator.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: emulator.queue.url,
            WaitTimeSeconds: 1,
            MessageAttributeNames: ["All"],
            MessageSystemAttributeNames: ["All"],
          }),
        );
        return received.Messages?.[0];
      },
      { what: "the delayed copy" },
    );
    expect(JSON.parse(copy.Body ?? "{}")).toEqual(event);
    expect(copy.MessageAttributes?.deferrals?.StringValue).toBe("1");
    expect(copy.Attributes?.ApproximateReceiveCount).toBe("1");
    // The upload counts as received: the reconciler must not take the waiting photo for a lost one.
    const upload = await database.db
      .selectFrom("product_uploads")
      .select(["received_at", "superseded_at"])
      .where("object_key", "=", key)
      .executeTakeFirstOrThrow();
    expect(upload.received_at).toBeInstanceOf(Date);
    expect(upload.superseded_at).toBeNull();
  });

  it("treats a photo that has waited longer than any sequence may run as a fault", async () => {
    const { productId, key, event } = await uploadedProduct(await readFile(`${CORPUS}orange.jpg`));
    await processAnotherPhoto(productId, key);
    const batch = sqsEvent([event, { Service: "Amazon S3", Event: "s3:TestEvent" }]);
    const record = batch.Records[0];
    if (!record) throw new Error("no record");
    record.messageAttributes = {
      deferrals: { dataType: "Number", stringValue: "5", stringListValues: [], binaryListValues: [] },
    };
    const response = await handler()(batch, lambdaContext("enhance", 30));
    expect(response?.batchItemFailures).toEqual([{ itemIdentifier: record.messageId }]);
  });

  it("skips an object nobody issued an upload for, without reading it, and says why", async () => {
    const key = `raw/${randomUUID()}/${randomUUID()}.jpg`;
    await emulator.s3.send(new PutObjectCommand({ Bucket: emulator.rawBucket, Key: key, Body: "x" }));
    const event = objectCreatedEvent({
      bucket: emulator.rawBucket,
      key,
      bytes: 1,
      etag: "e",
      region: "us-east-1",
    });
    const { store, calls } = countingStore();
    const { recorded, metrics } = metricsRecorder();
    const logged: unknown[][] = [];
    const log: Log = {
      info: (...line: unknown[]) => logged.push(line),
      warn: () => undefined,
      error: () => undefined,
    };
    const response = await createEnhanceHandler(runtimeWith({ objectStore: store, log }), metrics)(
      sqsEvent([event]),
      lambdaContext("enhance", 30),
    );
    expect(response?.batchItemFailures).toEqual([]);
    expect(recorded).toEqual(["UploadsSkipped Count 1", "published"]);
    expect(logged).toEqual([
      ["skipped", { bucket: emulator.rawBucket, key, reason: `no upload was issued for ${key}` }],
    ]);
    expect(calls).toEqual({ head: [], get: [] });
    const originals = await database.db
      .selectFrom("product_originals")
      .select("id")
      .where("object_key", "=", key)
      .execute();
    expect(originals).toEqual([]);
  });

  it("fails a re-enhancement whose original has expired, with that reason, without retrying", async () => {
    const { productId, key, event } = await uploadedProduct(await readFile(`${CORPUS}orange.jpg`));
    expect((await handler()(sqsEvent([event]), lambdaContext("enhance", 30)))?.batchItemFailures).toEqual([]);
    await emulator.s3.send(new DeleteObjectCommand({ Bucket: emulator.rawBucket, Key: key }));
    const message = {
      type: "reenhance",
      requestId: randomUUID(),
      productId,
      variant: { name: "hero", mode: "FULL", format: "jpeg" },
    };
    const response = await handler()(sqsEvent([message]), lambdaContext("enhance", 30));
    expect(response?.batchItemFailures).toEqual([]);
    expect(await product(productId)).toMatchObject({
      status: "failed",
      lastSequence: 2,
      statusReason:
        "the original photo is no longer stored (originals are kept for 30 days after upload); upload the photo again",
    });
  });

  it("fails a degenerate photo at once with a reason naming its size", async () => {
    const speck = await sharp({ create: { width: 1, height: 1, channels: 3, background: "#808080" } })
      .png()
      .toBuffer();
    const { productId, event } = await uploadedProduct(speck, "image/png");
    const response = await handler()(sqsEvent([event]), lambdaContext("enhance", 30));
    expect(response?.batchItemFailures).toEqual([]);
    expect(await product(productId)).toMatchObject({
      status: "failed",
      statusReason: "the photo is 1×1 px; at least 16 px is needed on each side. Upload a larger photo",
    });
  });
});

describe("near-duplicates, found by the worker", () => {
  /** Photos no other test of this file (and database) uploads, so every match is this test's own. */
  const photoOf = (name: "plant.jpg" | "TwoWings.jpg") => readFile(`${CORPUS}${name}`);
  const duplicatesOf = async (productId: string) =>
    (await apiDeps.repository.duplicatesOf(productId, 100)).map((duplicate) => duplicate.productId);
  const pairRows = (productIds: string[]) =>
    database.db
      .selectFrom("product_duplicates")
      .select(["product_id", "duplicate_product_id"])
      .where("product_id", "in", productIds)
      .execute();
  const run = async (...events: unknown[]) => {
    const response = await handler()(sqsEvent(events), lambdaContext("enhance", 30));
    expect(response?.batchItemFailures).toEqual([]);
  };
  const handler = () => createEnhanceHandler(runtimeWith());

  it("records one row per pair of products, both ways, from each product's latest photo only", async () => {
    const photo = await photoOf("plant.jpg");
    const copy = await sharp(photo).resize({ width: 800 }).jpeg({ quality: 60 }).toBuffer();
    const a = await uploadedProduct(photo);
    await run(a.event);
    const b = await uploadedProduct(copy);
    await run(b.event);
    // When B duplicates A, A lists B too: one row each way.
    expect(await duplicatesOf(b.productId)).toEqual([a.productId]);
    expect(await duplicatesOf(a.productId)).toEqual([b.productId]);
    expect(await pairRows([a.productId, b.productId])).toHaveLength(2);

    // Re-enhancing A, and B's event delivered again, add nothing.
    await run({
      type: "reenhance",
      requestId: randomUUID(),
      productId: a.productId,
      variant: { name: "hero", mode: "FULL", format: "jpeg" },
    });
    await run(b.event);
    expect((await product(a.productId))?.lastSequence).toBe(2);
    expect(await pairRows([a.productId, b.productId])).toHaveLength(2);

    // A new, different photo for A: A's old photo no longer takes part, so the pair is gone both ways.
    const ticket = await createUpload(apiDeps, TEST_SELLER, a.productId, "image/jpeg");
    expect((await postUpload(ticket, await photoOf("TwoWings.jpg"))).status).toBe(201);
    const head = await workerDeps.objectStore.head(emulator.rawBucket, ticket.key);
    await run(
      objectCreatedEvent({
        bucket: emulator.rawBucket,
        key: ticket.key,
        bytes: head?.bytes ?? 0,
        etag: head?.etag ?? "",
        region: "us-east-1",
      }),
    );
    expect((await product(a.productId))?.lastSequence).toBe(3);
    expect(await duplicatesOf(a.productId)).toEqual([]);
    expect(await duplicatesOf(b.productId)).toEqual([]);

    // A third product with A's old photo matches B (whose latest photo it is), never A.
    const c = await uploadedProduct(photo);
    await run(c.event);
    expect(await duplicatesOf(c.productId)).toEqual([b.productId]);
    expect(await duplicatesOf(b.productId)).toEqual([c.productId]);
    expect(await duplicatesOf(a.productId)).toEqual([]);
  });
});

/** The object keys of every message in the DLQ, read without taking them (visibility 0). */
const deadLetterKeys = async (): Promise<{ key: string }[]> => {
  const received = await emulator.sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: emulator.deadLetterQueue.url,
      MaxNumberOfMessages: 10,
      VisibilityTimeout: 0,
    }),
  );
  return (received.Messages ?? []).map((message) => ({
    key: decodeURIComponent(JSON.parse(message.Body ?? "{}").Records?.[0]?.s3?.object?.key ?? ""),
  }));
};

describe("enhance worker behind the queue", () => {
  const runThroughQueue = async (objectStore: ObjectStore, body: Uint8Array) => {
    const { productId, event } = await uploadedProduct(body);
    const poller = startEventSourcePoller({
      sqs: emulator.sqs,
      queueUrl: emulator.queue.url,
      queueArn: emulator.queue.arn,
      region: "us-east-1",
      handler: createEnhanceHandler(runtimeWith({ objectStore })),
      functionName: "enhance",
      batchSize: 5,
      concurrency: 1,
      timeoutSeconds: 30,
      log: logger,
    });
    await emulator.sqs.send(
      new SendMessageCommand({ QueueUrl: emulator.queue.url, MessageBody: JSON.stringify(event) }),
    );
    return { productId, poller };
  };

  it("retries a transient fault through the queue and then succeeds", async () => {
    let failuresLeft = 1;
    const flaky: ObjectStore = {
      ...workerDeps.objectStore,
      get: async (bucket, key) => {
        if (failuresLeft > 0) {
          failuresLeft -= 1;
          throw new Error("socket hang up");
        }
        return workerDeps.objectStore.get(bucket, key);
      },
    };
    const { productId, poller } = await runThroughQueue(flaky, await readFile(`${CORPUS}butterfly.jpg`));
    try {
      const done = await eventually(
        async () => {
          const current = await product(productId);
          return current?.status === "pending_review" ? current : undefined;
        },
        { what: "pending_review after a retry" },
      );
      expect(done.lastSequence).toBe(1);
      expect(failuresLeft).toBe(0);
      expect(await images(productId)).toHaveLength(4);
    } finally {
      await poller.stop();
    }
  });

  it("sends a message whose fault never clears to the DLQ and marks the product failed", async () => {
    let attempts = 0;
    const broken: ObjectStore = {
      ...workerDeps.objectStore,
      get: async () => {
        attempts += 1;
        throw new Error("storage unavailable");
      },
    };
    const { productId, poller } = await runThroughQueue(broken, await readFile(`${CORPUS}fruits.jpg`));
    try {
      await emulator.server.spy.waitForMessage(
        { service: "sqs", queueName: emulator.queue.name, status: "dlq" },
        undefined,
        20_000,
      );
      const failed = await eventually(
        async () => {
          const current = await product(productId);
          return current?.status === "failed" ? current : undefined;
        },
        { what: "failed after the last attempt" },
      );
      expect(attempts).toBe(3);
      expect(failed.statusReason).toBe(
        "processing failed 3 times because of a temporary fault (storage or database unavailable); upload the photo again to retry",
      );
      const dead = await emulator.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: emulator.deadLetterQueue.url, MaxNumberOfMessages: 10 }),
      );
      expect(
        dead.Messages?.map((message) => JSON.parse(message.Body ?? "{}").Records[0].s3.object.key),
      ).toContain(
        (
          await database.db
            .selectFrom("product_uploads")
            .select("object_key")
            .where("product_id", "=", productId)
            .executeTakeFirstOrThrow()
        ).object_key,
      );
    } finally {
      await poller.stop();
    }
  });

  it("ends three photos uploaded back to back for one product with the last one's variants, none in the DLQ", async () => {
    const photos = await Promise.all(
      ["apple.jpg", "orange.jpg", "butterfly.jpg"].map((name) => readFile(`${CORPUS}${name}`)),
    );
    const [summary] = await createProducts(apiDeps, TEST_SELLER, [
      {
        sku: `THREE-${randomUUID()}`,
        title: "Three photos",
        category: "test",
        mrp: "10.00",
        price: "9.00",
        discount: "0.00",
        gst: "5.00",
        contentType: "image/jpeg",
      },
    ]);
    if (!summary?.upload) throw new Error("no upload issued");
    const productId = summary.id;
    const tickets = [
      summary.upload,
      await createUpload(apiDeps, TEST_SELLER, productId, "image/jpeg"),
      await createUpload(apiDeps, TEST_SELLER, productId, "image/jpeg"),
    ];
    const events: unknown[] = [];
    for (const [index, ticket] of tickets.entries()) {
      expect((await postUpload(ticket, photos[index] as Buffer)).status).toBe(201);
      const head = await workerDeps.objectStore.head(emulator.rawBucket, ticket.key);
      events.push(
        objectCreatedEvent({
          bucket: emulator.rawBucket,
          key: ticket.key,
          bytes: head?.bytes ?? 0,
          etag: head?.etag ?? "",
          region: "us-east-1",
        }),
      );
    }
    const poller = startEventSourcePoller({
      sqs: emulator.sqs,
      queueUrl: emulator.queue.url,
      queueArn: emulator.queue.arn,
      region: "us-east-1",
      handler: createEnhanceHandler(runtimeWith()),
      functionName: "enhance",
      batchSize: 1,
      concurrency: 2,
      timeoutSeconds: 30,
      log: logger,
    });
    try {
      for (const event of events) {
        await emulator.sqs.send(
          new SendMessageCommand({ QueueUrl: emulator.queue.url, MessageBody: JSON.stringify(event) }),
        );
      }
      const lastKey = tickets[2]?.key;
      await eventually(
        async () => {
          const uploads = await database.db
            .selectFrom("product_uploads")
            .select(["object_key", "superseded_at"])
            .where("product_id", "=", productId)
            .execute();
          const originals = await database.db
            .selectFrom("product_originals")
            .select(["object_key", "status"])
            .where("product_id", "=", productId)
            .execute();
          const settled = uploads.every(
            (upload) =>
              upload.superseded_at !== null ||
              originals.some(
                (original) => original.object_key === upload.object_key && original.status !== "processing",
              ),
          );
          return settled && originals.some((original) => original.object_key === lastKey) ? true : undefined;
        },
        { what: "every photo processed or superseded", timeoutMs: 30_000 },
      );
    } finally {
      await poller.stop();
    }
    const final = await product(productId);
    expect(final?.status).toBe("pending_review");
    // The product shows the last photo's variants.
    const history = await historyOf(productId);
    const lastSequenceSources = history
      .filter((entry) => entry.event === "variant_created" && entry.sequence === final?.lastSequence)
      .map((entry) => entry.sourceKey);
    expect(lastSequenceSources).toEqual([tickets[2]?.key, tickets[2]?.key, tickets[2]?.key, tickets[2]?.key]);
    // Each earlier photo was processed before it (in landing order) or recorded as superseded; none twice.
    const originals = await database.db
      .selectFrom("product_originals")
      .select(["object_key", "sequence"])
      .where("product_id", "=", productId)
      .orderBy("sequence")
      .execute();
    const processed = originals.map((original) =>
      tickets.findIndex((ticket) => ticket.key === original.object_key),
    );
    expect(processed).toEqual([...processed].sort());
    expect(new Set(processed).size).toBe(processed.length);
    const superseded = history
      .filter((entry) => entry.event === "upload_superseded")
      .map((entry) => entry.sourceKey);
    expect([...superseded, ...originals.map((original) => original.object_key)].sort()).toEqual(
      tickets.map((ticket) => ticket.key).sort(),
    );
    // The queue's DLQ holds what earlier tests sent there; none of it is this product's.
    expect((await deadLetterKeys()).filter(({ key }) => key.includes(productId))).toEqual([]);
  });

  it("returns records the time budget leaves unstarted, visible again at once", async () => {
    const first = await uploadedProduct(await readFile(`${CORPUS}apple.jpg`));
    const second = await uploadedProduct(await readFile(`${CORPUS}orange.jpg`));
    for (const event of [first.event, second.event]) {
      await emulator.sqs.send(
        new SendMessageCommand({ QueueUrl: emulator.queue.url, MessageBody: JSON.stringify(event) }),
      );
    }
    // Received as the event source would, with a visibility timeout far longer than the test.
    const received: Message[] = [];
    await eventually(async () => {
      const batch = await emulator.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: emulator.queue.url,
          MaxNumberOfMessages: 2,
          VisibilityTimeout: 120,
          WaitTimeSeconds: 1,
          MessageSystemAttributeNames: ["All"],
        }),
      );
      received.push(...(batch.Messages ?? []));
      return received.length >= 2 ? true : undefined;
    });
    const event: SQSEvent = {
      Records: received.map((message) => toSqsRecord(message, emulator.queue.arn, "us-east-1")),
    };
    // The first record starts with 30 s left; by the second only 5 s are, under the 10 s budget.
    const remaining = [30_000];
    const context = {
      ...lambdaContext("enhance", 30),
      getRemainingTimeInMillis: () => remaining.shift() ?? 5_000,
    };
    const response = await createEnhanceHandler(runtimeWith())(event, context);
    const [started, unstarted] = event.Records;
    expect(response?.batchItemFailures).toEqual([{ itemIdentifier: unstarted?.messageId }]);
    const startedProduct = started?.body.includes(first.key) ? first.productId : second.productId;
    const unstartedProduct = startedProduct === first.productId ? second.productId : first.productId;
    expect((await product(startedProduct))?.status).toBe("pending_review");
    expect((await product(unstartedProduct))?.status).toBe("pending");
    // Back on the queue now, not in 120 s.
    const again = await emulator.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: emulator.queue.url,
        WaitTimeSeconds: 2,
        MessageSystemAttributeNames: ["All"],
      }),
    );
    expect(again.Messages?.map((message) => message.MessageId)).toEqual([unstarted?.messageId]);
    for (const message of [...received, ...(again.Messages ?? [])]) {
      await emulator.sqs
        .send(
          new DeleteMessageCommand({ QueueUrl: emulator.queue.url, ReceiptHandle: message.ReceiptHandle }),
        )
        .catch(() => undefined);
    }
  });
});
