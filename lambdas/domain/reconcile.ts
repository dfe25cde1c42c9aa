import type { Clock, EnhanceQueue, Log, ObjectStore, ProductRepository } from "./ports.ts";
import { objectCreatedEvent } from "./s3-events.ts";

export interface ReconcileSettings {
  rawBucket: string;
  region: string;
  lostAfterSeconds: number;
  stuckAfterSeconds: number;
  lookbackHours: number;
}

export interface ReconcileDeps {
  repository: ProductRepository;
  objectStore: ObjectStore;
  queue: EnhanceQueue;
  settings: ReconcileSettings;
  clock: Clock;
  log: Log;
}

export interface ReconcileReport {
  failed: { productId: string; sequence: number }[];
  requeued: { productId: string; key: string }[];
}

const minutes = (seconds: number) => Math.round(seconds / 60);

/**
 * Makes sure no product waits forever: fails sequences whose worker never finished, with a reason a
 * seller can act on, and re-queues photos that landed in the raw bucket without their notification
 * reaching the worker. Safe to run at any time and twice at once: failing checks the sequence is still
 * processing, and a re-queued photo is claimed once by (bucket, key, ETag) like any other delivery.
 */
export const reconcile = async (deps: ReconcileDeps): Promise<ReconcileReport> => {
  const { repository, objectStore, queue, settings, clock, log } = deps;
  const now = clock().getTime();
  const report: ReconcileReport = { failed: [], requeued: [] };

  for (const stuck of await repository.findStuckSequences(
    new Date(now - settings.stuckAfterSeconds * 1000),
  )) {
    const reason = `processing did not finish within ${minutes(settings.stuckAfterSeconds)} minutes (the worker stopped before completing it); upload the photo again to retry`;
    await repository.failSequence(stuck.productId, stuck.sequence, reason, clock());
    report.failed.push({ productId: stuck.productId, sequence: stuck.sequence });
    log.warn("stuck sequence failed", {
      productId: stuck.productId,
      sequence: stuck.sequence,
      key: stuck.key,
    });
  }

  const lostBefore = now - settings.lostAfterSeconds * 1000;
  const uploads = await repository.findUnclaimedUploads(
    new Date(now - settings.lookbackHours * 3600 * 1000),
    new Date(lostBefore),
  );
  for (const upload of uploads) {
    const head = await objectStore.head(settings.rawBucket, upload.key);
    // Not uploaded (yet, or ever), or uploaded so recently that its own notification may still come.
    if (!head || (head.lastModified && head.lastModified.getTime() > lostBefore)) continue;
    await queue.send(
      objectCreatedEvent({
        bucket: settings.rawBucket,
        key: upload.key,
        bytes: head.bytes,
        etag: head.etag,
        region: settings.region,
      }) as unknown as Record<string, unknown>,
    );
    report.requeued.push(upload);
    log.warn("re-queued a photo whose notification never reached the worker", upload);
  }
  return report;
};
