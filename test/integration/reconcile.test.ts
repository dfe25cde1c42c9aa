import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { ReceiveMessageCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { logger } from "../../lambdas/adapters/logger.ts";
import type { ProductRepository } from "../../lambdas/domain/ports.ts";
import { type ApiDeps, createProducts } from "../../lambdas/domain/products.ts";
import { RECONCILER_LEASE, type ReconcileDeps, reconcile } from "../../lambdas/domain/reconcile.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { testApiDeps } from "../support/deps.ts";
import { startTestEmulator, type TestEmulator } from "../support/emulator.ts";
import { TEST_SELLER } from "../support/identity.ts";
import { CORPUS, postUpload } from "../support/upload.ts";

/**
 * Each test has a database and a queue of its own: what the reconciler decides depends on every upload
 * it can see and on the queue's counts, so nothing may leak in from another test.
 */
let database: TestDatabase;
let emulator: TestEmulator;
let repository: ProductRepository;
let apiDeps: ApiDeps;
let photo: Buffer;

const SETTINGS = {
  lostAfterSeconds: 180,
  hardCapSeconds: 3600,
  stuckAfterSeconds: 900,
  lookbackHours: 3,
  pageSize: 100,
  timeBudgetSeconds: 60,
  timeoutSeconds: 120,
};

/** The reconciler as AWS runs it, looking at the world `minutesLater` from now. */
const depsAt = (minutesLater: number, overrides: Partial<ReconcileDeps> = {}): ReconcileDeps => ({
  repository,
  objectStore: apiDeps.objectStore,
  queue: apiDeps.queue,
  settings: { rawBucket: emulator.rawBucket, region: "us-east-1", ...SETTINGS },
  clock: () => new Date(Date.now() + minutesLater * 60_000),
  log: logger,
  ...overrides,
});

beforeEach(async () => {
  photo ??= await readFile(`${CORPUS}apple.jpg`);
  database = await createTestDatabase("reconcile");
  emulator = await startTestEmulator();
  apiDeps = testApiDeps(database, emulator);
  ({ repository } = apiDeps);
});

afterEach(async () => {
  await emulator.stop();
  await database.drop();
});

/** A product with an upload issued `issuedMinutesAgo` ago; `landed` posts the photo (its object lands now). */
const newUpload = async (label: string, { landed = true, issuedMinutesAgo = 10 } = {}) => {
  const [summary] = await createProducts(apiDeps, TEST_SELLER, [
    {
      sku: `${label}-${randomUUID()}`,
      title: label,
      category: "test",
      mrp: "10.00",
      price: "9.00",
      discount: "0.00",
      gst: "5.00",
      contentType: "image/jpeg",
    },
  ]);
  if (!summary?.upload) throw new Error("no upload issued");
  await database.db
    .updateTable("product_uploads")
    .set({ created_at: new Date(Date.now() - issuedMinutesAgo * 60_000) })
    .where("object_key", "=", summary.upload.key)
    .execute();
  if (landed) expect((await postUpload(summary.upload, photo)).status).toBe(201);
  return { productId: summary.id, key: summary.upload.key };
};

/** Takes every message off the queue and returns the object keys they name. */
const drainQueue = async (): Promise<string[]> => {
  const keys: string[] = [];
  for (;;) {
    const received = await emulator.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: emulator.queue.url,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
      }),
    );
    if (!received.Messages?.length) return keys;
    for (const message of received.Messages) {
      keys.push(decodeURIComponent(JSON.parse(message.Body ?? "{}").Records?.[0]?.s3?.object?.key ?? "?"));
    }
  }
};

/** A message in the queue that is not any upload's notification: part of a backlog. */
const queueSomethingElse = (count = 1) =>
  Promise.all(
    Array.from({ length: count }, () =>
      emulator.sqs.send(
        new SendMessageCommand({ QueueUrl: emulator.queue.url, MessageBody: JSON.stringify({ other: 1 }) }),
      ),
    ),
  );

const requeueHistory = (productId: string) =>
  database.db
    .selectFrom("enhancement_history")
    .select(["event", "source_key", "error"])
    .where("product_id", "=", productId)
    .where("event", "=", "notification_requeued")
    .execute();

describe("reconciler: photos whose notification never reached the worker", () => {
  it("re-queues a landed photo when the queue holds nothing that could carry its notification", async () => {
    const lost = await newUpload("LOST");
    const never = await newUpload("NEVER", { landed: false });

    const report = await reconcile(depsAt(10));
    expect(report).toMatchObject({
      ran: true,
      requeued: [{ productId: lost.productId, key: lost.key, because: "queue-empty" }],
      waiting: 0,
      truncated: false,
      queue: { visible: 0, inFlight: 0, delayed: 0 },
    });
    expect(await drainQueue()).toEqual([lost.key]);
    expect(await requeueHistory(lost.productId)).toEqual([
      {
        event: "notification_requeued",
        source_key: lost.key,
        error:
          "re-queued: its notification never reached the worker and the queue holds nothing that could carry it",
      },
    ]);
    expect(await requeueHistory(never.productId)).toEqual([]);
  });

  it("leaves a landed photo that a backlog in the queue explains, and counts it as waiting", async () => {
    const waiting = await newUpload("WAITING");
    await queueSomethingElse();
    const report = await reconcile(depsAt(10));
    expect(report).toMatchObject({ requeued: [], waiting: 1, queue: { visible: 1 } });
    expect(await requeueHistory(waiting.productId)).toEqual([]);
  });

  it("re-queues only the surplus, oldest first, when more photos wait than the queue holds messages", async () => {
    const oldest = await newUpload("OLDEST");
    await new Promise((resolve) => setTimeout(resolve, 1100)); // objects' LastModified has 1 s resolution
    const newer = await newUpload("NEWER");
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const newest = await newUpload("NEWEST");
    await queueSomethingElse(1);
    const report = await reconcile(depsAt(10));
    expect(report.requeued).toEqual([
      { productId: oldest.productId, key: oldest.key, because: "more-than-queued" },
      { productId: newer.productId, key: newer.key, because: "more-than-queued" },
    ]);
    expect(report.waiting).toBe(1);
    expect(await requeueHistory(newest.productId)).toEqual([]);
  });

  it("re-queues a photo that landed longer ago than the hard cap, however long the queue", async () => {
    const stale = await newUpload("STALE", { issuedMinutesAgo: 30 });
    await queueSomethingElse(5);
    // Seen 61 minutes after it landed.
    const report = await reconcile(depsAt(61));
    expect(report.requeued).toEqual([
      { productId: stale.productId, key: stale.key, because: "over-hard-cap" },
    ]);
  });

  it("waits for a photo that landed too recently for its own notification to have arrived", async () => {
    const recent = await newUpload("RECENT");
    // Issued 10 minutes ago but landed just now: 2 minutes later it is still within its grace.
    expect((await reconcile(depsAt(2))).requeued).toEqual([]);
    expect((await reconcile(depsAt(4))).requeued).toEqual([
      { productId: recent.productId, key: recent.key, because: "queue-empty" },
    ]);
  });

  it("never re-queues a photo the worker has received, even one still waiting its turn", async () => {
    const received = await newUpload("RECEIVED");
    const upload = await repository.findUploadByKey(received.key);
    if (!upload) throw new Error("no upload");
    // The worker received it while another photo of the product was processing: it is waiting, not lost.
    await repository.claimSequence(
      received.productId,
      "earlier-upload",
      { bucket: emulator.rawBucket, key: `${received.key}.earlier`, etag: "e", bytes: 1, landedAt: null },
      new Date(),
    );
    const head = await apiDeps.objectStore.head(emulator.rawBucket, received.key);
    expect(
      await repository.claimSequence(
        received.productId,
        upload.id,
        {
          bucket: emulator.rawBucket,
          key: received.key,
          etag: head?.etag ?? "",
          bytes: 1,
          landedAt: new Date(),
        },
        new Date(),
      ),
    ).toEqual({ kind: "busy" });
    expect((await reconcile(depsAt(10))).requeued).toEqual([]);
  });

  it("looks only at uploads issued within the lookback window", async () => {
    await newUpload("ANCIENT", { issuedMinutesAgo: 4 * 60 });
    const report = await reconcile(depsAt(10));
    expect(report).toMatchObject({ requeued: [], waiting: 0 });
  });

  it("reads a page at a time and finds every lost photo across pages", async () => {
    const lost = [await newUpload("P1"), await newUpload("P2"), await newUpload("P3")];
    const report = await reconcile(depsAt(10, { settings: { ...depsAt(10).settings, pageSize: 2 } }));
    expect(report.requeued.map((item) => item.key).sort()).toEqual(lost.map((item) => item.key).sort());
  });

  it("stops starting new pages once its time budget is spent and says so", async () => {
    await newUpload("B1");
    await newUpload("B2");
    await newUpload("B3");
    // Every look at the clock is 10 s later: a 60 s budget runs out before the third page of one.
    let ticks = 0;
    const clock = () => new Date(Date.now() + 10 * 60_000 + 10_000 * ticks++);
    const settings = { ...depsAt(10).settings, pageSize: 1, timeBudgetSeconds: 60 };
    const first = await reconcile(depsAt(10, { clock, settings }));
    expect(first.truncated).toBe(true);
    expect(first.requeued.length).toBeGreaterThanOrEqual(1);
    expect(first.requeued.length).toBeLessThan(3);
    // The next run carries on: it re-queues the rest and none of those already re-queued again.
    const second = await reconcile(depsAt(10, { settings }));
    expect(second.truncated).toBe(false);
    const keys = [...first.requeued, ...second.requeued].map((item) => item.key);
    expect(new Set(keys).size).toBe(3);
    expect(keys).toHaveLength(3);
  });
});

describe("reconciler: one run at a time", () => {
  it("does nothing while another run holds the lease, and runs once it is released or expired", async () => {
    const lost = await newUpload("LEASED");
    const now = new Date(Date.now() + 10 * 60_000);
    expect(
      await repository.acquireLease(RECONCILER_LEASE, "other-run", new Date(now.getTime() + 60_000), now),
    ).toBe(true);
    expect(await reconcile(depsAt(10))).toMatchObject({ ran: false, requeued: [], failed: [] });
    // The other run's lease has run out two minutes later: this one takes over.
    expect((await reconcile(depsAt(12))).requeued.map((item) => item.key)).toEqual([lost.key]);
  });

  it("lets exactly one of two concurrent runs work", async () => {
    await newUpload("RACE");
    const reports = await Promise.all([reconcile(depsAt(10)), reconcile(depsAt(10))]);
    expect(reports.map((report) => report.ran).sort()).toEqual([false, true]);
    expect(reports.flatMap((report) => report.requeued)).toHaveLength(1);
  });
});

describe("reconciler: sequences that outlived every retry", () => {
  it("fails a sequence whose worker never finished, with a reason, and leaves a live one alone", async () => {
    const stuck = await newUpload("STUCK", { landed: false });
    const live = await newUpload("LIVE", { landed: false });
    const source = (key: string) => ({
      bucket: emulator.rawBucket,
      key,
      etag: randomUUID(),
      bytes: 100,
      landedAt: null,
    });
    await repository.claimSequence(
      stuck.productId,
      "u",
      source(stuck.key),
      new Date(Date.now() - 2 * 3600 * 1000),
    );
    await repository.claimSequence(live.productId, "u", source(live.key), new Date(Date.now() + 3600 * 1000));

    const report = await reconcile(depsAt(60));
    expect(report.failed).toEqual([{ productId: stuck.productId, sequence: 1 }]);
    const failed = await repository.findProduct(stuck.productId);
    expect(failed?.status).toBe("failed");
    expect(failed?.statusReason).toBe(
      "processing did not finish within 15 minutes (the worker stopped before completing it); upload the photo again to retry",
    );
    expect((await repository.findProduct(live.productId))?.status).toBe("processing");
    // Running again changes nothing: the failed sequence is no longer processing.
    expect((await reconcile(depsAt(60))).failed).toEqual([]);
  });

  it("fails every stuck sequence across pages", async () => {
    const stuck = [await newUpload("S1", { landed: false }), await newUpload("S2", { landed: false })];
    for (const item of stuck) {
      await repository.claimSequence(
        item.productId,
        "u",
        { bucket: emulator.rawBucket, key: item.key, etag: randomUUID(), bytes: 1, landedAt: null },
        new Date(Date.now() - 2 * 3600 * 1000),
      );
    }
    const report = await reconcile(depsAt(60, { settings: { ...depsAt(60).settings, pageSize: 1 } }));
    expect(report.failed.map((item) => item.productId).sort()).toEqual(
      stuck.map((item) => item.productId).sort(),
    );
  });
});
