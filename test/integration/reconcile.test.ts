import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { logger } from "../../lambdas/adapters/logger.ts";
import type { ProductRepository } from "../../lambdas/domain/ports.ts";
import { type ApiDeps, createProducts } from "../../lambdas/domain/products.ts";
import { type ReconcileDeps, reconcile } from "../../lambdas/domain/reconcile.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { testApiDeps } from "../support/deps.ts";
import { startTestEmulator, type TestEmulator } from "../support/emulator.ts";
import { CORPUS, postUpload } from "../support/upload.ts";

let database: TestDatabase;
let emulator: TestEmulator;
let repository: ProductRepository;
let apiDeps: ApiDeps;
let deps: ReconcileDeps;
/** The reconciler runs "later": its clock is an hour ahead of when the photos were uploaded. */
const later = () => new Date(Date.now() + 3600 * 1000);

beforeAll(async () => {
  database = await createTestDatabase("reconcile");
  emulator = await startTestEmulator();
  apiDeps = testApiDeps(database, emulator);
  ({ repository } = apiDeps);
  deps = {
    repository,
    objectStore: apiDeps.objectStore,
    queue: apiDeps.queue,
    settings: {
      rawBucket: emulator.rawBucket,
      region: "us-east-1",
      lostAfterSeconds: 180,
      stuckAfterSeconds: 900,
      lookbackHours: 2,
    },
    clock: later,
    log: logger,
  };
});

afterAll(async () => {
  await emulator.stop();
  await database.drop();
});

const newProduct = async (sku: string) => {
  const [summary] = await createProducts(apiDeps, [
    {
      sku,
      title: sku,
      category: "test",
      mrp: "10.00",
      price: "9.00",
      discount: "0.00",
      gst: "5.00",
      contentType: "image/jpeg",
    },
  ]);
  if (!summary?.upload) throw new Error("no upload issued");
  return { productId: summary.id, upload: summary.upload };
};

const queuedKeys = async (): Promise<string[]> => {
  const received = await emulator.sqs.send(
    new ReceiveMessageCommand({ QueueUrl: emulator.queue.url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
  );
  return (received.Messages ?? []).map((message) =>
    decodeURIComponent(JSON.parse(message.Body ?? "{}").Records[0].s3.object.key),
  );
};

describe("reconciler", () => {
  it("re-queues a photo whose notification never reached the worker, once it has had time to arrive", async () => {
    const { productId, upload } = await newProduct(`LOST-${randomUUID()}`);
    const never = await newProduct(`NEVER-${randomUUID()}`);
    const approved = await newProduct(`APPROVED-${randomUUID()}`);
    const photo = await readFile(`${CORPUS}apple.jpg`);
    expect((await postUpload(upload, photo)).status).toBe(201);
    expect((await postUpload(approved.upload, photo)).status).toBe(201);
    await database.db
      .updateTable("products")
      .set({ status: "approved" })
      .where("id", "=", approved.productId)
      .execute();

    // Right away, the photo's own notification may still be on its way: nothing is re-queued.
    expect((await reconcile({ ...deps, clock: () => new Date() })).requeued).toEqual([]);

    const report = await reconcile(deps);
    expect(report.requeued).toEqual([{ productId, key: upload.key }]);
    expect(await queuedKeys()).toEqual([upload.key]);
    expect(report.requeued.map((item) => item.productId)).not.toContain(never.productId);
  });

  it("fails a sequence whose worker never finished, with a reason, and leaves a live one alone", async () => {
    const stuck = await newProduct(`STUCK-${randomUUID()}`);
    const live = await newProduct(`LIVE-${randomUUID()}`);
    const source = (key: string) => ({ bucket: emulator.rawBucket, key, etag: randomUUID(), bytes: 100 });
    await repository.claimSequence(
      stuck.productId,
      "u",
      source(stuck.upload.key),
      new Date(Date.now() - 2 * 3600 * 1000),
    );
    await repository.claimSequence(live.productId, "u", source(live.upload.key), later());

    const report = await reconcile(deps);
    expect(report.failed).toEqual([{ productId: stuck.productId, sequence: 1 }]);
    const failed = await repository.findProduct(stuck.productId);
    expect(failed?.status).toBe("failed");
    expect(failed?.statusReason).toBe(
      "processing did not finish within 15 minutes (the worker stopped before completing it); upload the photo again to retry",
    );
    expect((await repository.findProduct(live.productId))?.status).toBe("processing");
    // Running again changes nothing: the failed sequence is no longer processing.
    expect((await reconcile(deps)).failed).toEqual([]);
  });
});
