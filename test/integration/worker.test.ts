import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { Metrics } from "@aws-lambda-powertools/metrics";
import { ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { ReceiveMessageCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import type { SQSEvent } from "aws-lambda";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { logger } from "../../lambdas/adapters/logger.ts";
import { createObjectStore } from "../../lambdas/adapters/object-store.ts";
import { createProductRepository } from "../../lambdas/adapters/product-repository.ts";
import type { WorkerDeps } from "../../lambdas/domain/enhance-upload.ts";
import type { ObjectStore } from "../../lambdas/domain/ports.ts";
import { type ApiDeps, createProducts } from "../../lambdas/domain/products.ts";
import { objectCreatedEvent } from "../../lambdas/domain/s3-events.ts";
import { DEFAULT_VARIANT_SET } from "../../lambdas/engine/variant-spec.ts";
import { createEnhanceHandler } from "../../lambdas/handlers/enhance.ts";
import { startEventSourcePoller, toSqsRecord } from "../../local/event-source-poller.ts";
import { lambdaContext } from "../../local/lambda-context.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { testApiDeps } from "../support/deps.ts";
import { startTestEmulator, type TestEmulator } from "../support/emulator.ts";
import { blackBilevelPng, heicHeader, pdfDocument, svgWithScript } from "../support/fixtures.ts";
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
  };
  apiDeps = testApiDeps(database, emulator, settings);
  workerDeps = { repository, objectStore, settings, clock: () => new Date(), log: logger };
});

afterAll(async () => {
  await emulator.stop();
  await database.drop();
});

/** A product whose photo is already in the raw bucket, and the S3 event S3 would send for it. */
const uploadedProduct = async (body: Uint8Array, contentType = "image/jpeg") => {
  const [summary] = await createProducts(apiDeps, [
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
const images = (id: string) =>
  database.db.selectFrom("product_images").selectAll().where("product_id", "=", id).execute();
const enhancedObjects = async (id: string) =>
  (
    await emulator.s3.send(
      new ListObjectsV2Command({ Bucket: emulator.enhancedBucket, Prefix: `enhanced/${id}/` }),
    )
  ).Contents ?? [];

describe("enhance worker", () => {
  const handler = () => createEnhanceHandler(workerDeps, 3);

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

    const history = await apiDeps.repository.history(productId);
    expect(history.map((entry) => `${entry.event}:${entry.variant ?? entry.toStatus}`)).toEqual([
      "status_changed:processing",
      "variant_created:standard",
      "variant_created:enhanced",
      "variant_created:web",
      "variant_created:thumb",
      "status_changed:pending_review",
    ]);
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
    // Twice in one batch (two SQS messages for one S3 event), then once more later.
    const first = await handler()(sqsEvent([event, event]), lambdaContext("enhance", 30));
    const again = await handler()(sqsEvent([event]), lambdaContext("enhance", 30));
    expect(first?.batchItemFailures).toEqual([]);
    expect(again?.batchItemFailures).toEqual([]);

    expect((await product(productId))?.status).toBe("pending_review");
    expect(await images(productId)).toHaveLength(4);
    expect(await enhancedObjects(productId)).toHaveLength(4);
    const originals = await database.db
      .selectFrom("product_originals")
      .selectAll()
      .where("product_id", "=", productId)
      .execute();
    expect(originals).toHaveLength(1);
    const events = (await apiDeps.repository.history(productId)).map(
      (entry) => `${entry.event}:${entry.toStatus ?? ""}`,
    );
    expect(events).toEqual([
      "status_changed:processing",
      "variant_created:",
      "variant_created:",
      "variant_created:",
      "variant_created:",
      "status_changed:pending_review",
    ]);
  });

  it("publishes metrics: photos enhanced, failures by code, time per variant", async () => {
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
    const good = await uploadedProduct(await readFile(`${CORPUS}stuff.jpg`));
    const bad = await uploadedProduct(new TextEncoder().encode("not a photo"));
    await createEnhanceHandler(
      workerDeps,
      3,
      metrics as unknown as Metrics,
    )(sqsEvent([good.event, bad.event]), lambdaContext("enhance", 30));
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

  it("ignores S3's test event", async () => {
    const response = await handler()(
      sqsEvent([
        { Service: "Amazon S3", Event: "s3:TestEvent", Time: new Date().toISOString(), Bucket: "b" },
      ]),
      lambdaContext("enhance", 30),
    );
    expect(response?.batchItemFailures).toEqual([]);
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
    const reads: string[] = [];
    const countingStore: ObjectStore = {
      ...workerDeps.objectStore,
      get: (bucket, key) => {
        reads.push(key);
        return workerDeps.objectStore.get(bucket, key);
      },
    };
    const { productId, event } = await uploadedProduct(big, "image/png");
    const response = await createEnhanceHandler({ ...workerDeps, objectStore: countingStore }, 3)(
      sqsEvent([event]),
      lambdaContext("enhance", 30),
    );
    expect(response?.batchItemFailures).toEqual([]);
    const failed = await product(productId);
    expect(failed?.status).toBe("failed");
    expect(failed?.statusReason).toMatch(/^the photo is 5\.6\d? MB; the limit is 2 MB/);
    expect(reads).toEqual([]);
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
    const [refusal] = await apiDeps.repository.history(productId);
    expect(refusal).toMatchObject({ event: "upload_refused", sourceKey: key, status: "failed" });
    expect(refusal?.error).toContain("approved");
  });

  it("sends a second photo back to the queue while the product is still processing the first", async () => {
    const { productId, key, event } = await uploadedProduct(await readFile(`${CORPUS}orange.jpg`));
    await apiDeps.repository.claimSequence(
      productId,
      "earlier-upload",
      { bucket: emulator.rawBucket, key: `${key}.earlier`, etag: randomUUID(), bytes: 1 },
      new Date(),
    );
    // With another record beside it: a batch whose every record fails is thrown whole, as in Lambda.
    const batch = sqsEvent([event, { Service: "Amazon S3", Event: "s3:TestEvent" }]);
    const response = await handler()(batch, lambdaContext("enhance", 30));
    expect(response?.batchItemFailures).toEqual([{ itemIdentifier: batch.Records[0]?.messageId }]);
    expect(await product(productId)).toMatchObject({ status: "processing", lastSequence: 1 });
    expect(await images(productId)).toEqual([]);
  });

  it("skips an object nobody issued an upload for", async () => {
    const key = `raw/${randomUUID()}/${randomUUID()}.jpg`;
    await emulator.s3.send(new PutObjectCommand({ Bucket: emulator.rawBucket, Key: key, Body: "x" }));
    const event = objectCreatedEvent({
      bucket: emulator.rawBucket,
      key,
      bytes: 1,
      etag: "e",
      region: "us-east-1",
    });
    const response = await handler()(sqsEvent([event]), lambdaContext("enhance", 30));
    expect(response?.batchItemFailures).toEqual([]);
  });
});

describe("enhance worker behind the queue", () => {
  const runThroughQueue = async (objectStore: ObjectStore, body: Uint8Array) => {
    const { productId, event } = await uploadedProduct(body);
    const poller = startEventSourcePoller({
      sqs: emulator.sqs,
      queueUrl: emulator.queue.url,
      queueArn: emulator.queue.arn,
      region: "us-east-1",
      handler: createEnhanceHandler({ ...workerDeps, objectStore }, 3),
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
});
