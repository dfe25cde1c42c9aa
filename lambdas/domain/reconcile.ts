import { randomUUID } from "node:crypto";
import type {
  Clock,
  EnhanceQueue,
  Log,
  ObjectStore,
  ProductRepository,
  QueueDepth,
  UnreceivedUpload,
} from "./ports.ts";
import type { ChangePublisher } from "./push.ts";
import { objectCreatedEvent } from "./s3-events.ts";

export interface ReconcileSettings {
  rawBucket: string;
  region: string;
  /** A photo that landed less than this long ago may still have its own notification on the way. */
  lostAfterSeconds: number;
  /** A landed photo not received after this long is lost, however many messages the queue holds. */
  hardCapSeconds: number;
  stuckAfterSeconds: number;
  lookbackHours: number;
  /** Rows read per query. */
  pageSize: number;
  /** No new page of work starts after this long; the next run carries on. */
  timeBudgetSeconds: number;
  /** How long a run's lease lasts: at least as long as the run can take, so two runs never overlap. */
  timeoutSeconds: number;
}

export interface ReconcileDeps {
  repository: ProductRepository;
  objectStore: ObjectStore;
  queue: EnhanceQueue;
  settings: ReconcileSettings;
  clock: Clock;
  log: Log;
  /** Tells open dashboards of a sequence failed here; absent: the changes feed alone. */
  push?: ChangePublisher | undefined;
}

/** Why a landed, unreceived photo was judged lost rather than waiting in the queue. */
export type LostBecause =
  /** Nothing is waiting or in flight in the queue that could still carry its notification. */
  | "queue-empty"
  /** More landed photos await the worker than the queue holds messages: the surplus, oldest first. */
  | "more-than-queued"
  /** It landed longer ago than the hard cap. */
  | "over-hard-cap";

export interface ReconcileReport {
  /** False when another run held the lease: this one did nothing. */
  ran: boolean;
  failed: { productId: string; sequence: number }[];
  requeued: { productId: string; key: string; because: LostBecause }[];
  /** Landed photos the worker has not received that the queue's backlog explains: left to arrive. */
  waiting: number;
  /** The queue's counts when the run looked, if it got that far. */
  queue: QueueDepth | undefined;
  /** The time budget ran out before every page was read; the next run carries on. */
  truncated: boolean;
}

export const RECONCILER_LEASE = "reconciler";
/** HEAD requests in flight at once while looking for landed photos. */
const HEAD_CONCURRENCY = 8;

const minutes = (seconds: number) => Math.round(seconds / 60);

interface LandedUpload extends UnreceivedUpload {
  landedAt: Date;
  bytes: number;
  etag: string;
}

/** Runs `work` over `items`, `concurrency` at a time, keeping the input order in the results. */
const mapConcurrently = async <T, R>(
  items: T[],
  concurrency: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> => {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
  return results;
};

/**
 * Which landed photos the worker has not received are lost, and why. The queue's own counts explain the
 * rest as backlog: every landed photo whose notification still waits (or is in flight) is one of those
 * messages, so only when there are more such photos than messages, or none at all, can some be lost.
 */
export const judgeLost = (
  landed: readonly LandedUpload[],
  queue: QueueDepth,
  hardCapBefore: number,
  /** Messages known to carry photos re-queued by an earlier run: they explain none of these. */
  requeuedInQueue = 0,
): { upload: LandedUpload; because: LostBecause }[] => {
  const queued = Math.max(0, queue.visible + queue.inFlight + queue.delayed - requeuedInQueue);
  const oldestFirst = [...landed].sort((a, b) => a.landedAt.getTime() - b.landedAt.getTime());
  if (queued === 0) return oldestFirst.map((upload) => ({ upload, because: "queue-empty" }));
  const overCap = oldestFirst.filter((upload) => upload.landedAt.getTime() < hardCapBefore);
  const rest = oldestFirst.filter((upload) => upload.landedAt.getTime() >= hardCapBefore);
  const surplus = Math.max(0, landed.length - queued - overCap.length);
  return [
    ...overCap.map((upload) => ({ upload, because: "over-hard-cap" as const })),
    ...rest.slice(0, surplus).map((upload) => ({ upload, because: "more-than-queued" as const })),
  ];
};

const LOST_REASONS: Record<LostBecause, string> = {
  "queue-empty": "its notification never reached the worker and the queue holds nothing that could carry it",
  "more-than-queued": "more landed photos await the worker than the queue holds messages: this one was lost",
  "over-hard-cap": "it landed over an hour ago and the worker has never received it",
};

/**
 * Makes sure no product waits forever: fails sequences whose worker never finished, with a reason a
 * seller can act on, and re-queues photos that landed in the raw bucket without their notification
 * reaching the worker — but not photos merely waiting in a long queue. One run at a time (a lease),
 * each query a page, and no new page after the time budget: a huge backlog is worked off over runs.
 */
export const reconcile = async (deps: ReconcileDeps): Promise<ReconcileReport> => {
  const { repository, settings, clock, log } = deps;
  const report: ReconcileReport = {
    ran: false,
    failed: [],
    requeued: [],
    waiting: 0,
    queue: undefined,
    truncated: false,
  };
  const holder = randomUUID();
  const started = clock().getTime();
  if (
    !(await repository.acquireLease(
      RECONCILER_LEASE,
      holder,
      new Date(started + settings.timeoutSeconds * 1000),
      clock(),
    ))
  ) {
    log.info("another reconciler run holds the lease: nothing to do");
    return report;
  }
  report.ran = true;
  const inBudget = () => {
    const within = clock().getTime() - started < settings.timeBudgetSeconds * 1000;
    if (!within) report.truncated = true;
    return within;
  };
  try {
    await failStuckSequences(deps, report, started, inBudget);
    if (inBudget()) await requeueLostPhotos(deps, report, started, inBudget);
  } finally {
    await repository.releaseLease(RECONCILER_LEASE, holder);
  }
  if (report.requeued.length > 0 || report.failed.length > 0 || report.truncated) {
    log.info("reconciled", {
      failed: report.failed.length,
      requeued: report.requeued.length,
      waiting: report.waiting,
      truncated: report.truncated,
    });
  }
  return report;
};

const failStuckSequences = async (
  deps: ReconcileDeps,
  report: ReconcileReport,
  now: number,
  inBudget: () => boolean,
): Promise<void> => {
  const { repository, settings, clock, log } = deps;
  const reason = `processing did not finish within ${minutes(settings.stuckAfterSeconds)} minutes (the worker stopped before completing it); upload the photo again to retry`;
  const seen = new Set<string>();
  while (inBudget()) {
    const page = await repository.findStuckSequences(
      new Date(now - settings.stuckAfterSeconds * 1000),
      settings.pageSize,
    );
    // Failing a sequence takes it out of the query; one that stays (changed meanwhile) is not retried here.
    const fresh = page.filter((stuck) => !seen.has(`${stuck.productId}/${stuck.sequence}`));
    if (fresh.length === 0) return;
    for (const stuck of fresh) {
      seen.add(`${stuck.productId}/${stuck.sequence}`);
      await repository.failSequence(stuck.productId, stuck.sequence, reason, clock());
      await deps.push?.productChanged(stuck.productId);
      report.failed.push({ productId: stuck.productId, sequence: stuck.sequence });
      log.warn("stuck sequence failed", {
        productId: stuck.productId,
        sequence: stuck.sequence,
        key: stuck.key,
      });
    }
    if (page.length < settings.pageSize) return;
  }
};

const requeueLostPhotos = async (
  deps: ReconcileDeps,
  report: ReconcileReport,
  now: number,
  inBudget: () => boolean,
): Promise<void> => {
  const { repository, objectStore, queue, settings, clock, log } = deps;
  // The queue first: a photo the worker receives between the two reads only shrinks the list below, so
  // the counts can never make a waiting photo look lost.
  const depth = await queue.depth();
  report.queue = depth;
  const landedBefore = now - settings.lostAfterSeconds * 1000;
  const requeuedInQueue = await repository.countRequeuedUnreceived(new Date(landedBefore));
  const landed: LandedUpload[] = [];
  let after: { issuedAt: Date; uploadId: string } | undefined;
  while (inBudget()) {
    const page = await repository.findUnreceivedUploads({
      issuedAfter: new Date(now - settings.lookbackHours * 3600 * 1000),
      issuedBefore: new Date(landedBefore),
      requeuedBefore: new Date(landedBefore),
      limit: settings.pageSize,
      after,
    });
    const heads = await mapConcurrently(page, HEAD_CONCURRENCY, (upload) =>
      objectStore.head(settings.rawBucket, upload.key),
    );
    page.forEach((upload, index) => {
      const head = heads[index];
      // Not uploaded (yet, or ever); or landed so recently that its own notification may still come.
      if (!head?.lastModified || head.lastModified.getTime() > landedBefore) return;
      landed.push({ ...upload, landedAt: head.lastModified, bytes: head.bytes, etag: head.etag });
    });
    const last = page.at(-1);
    if (!last || page.length < settings.pageSize) break;
    after = { issuedAt: last.issuedAt, uploadId: last.uploadId };
  }
  const lost = judgeLost(landed, depth, now - settings.hardCapSeconds * 1000, requeuedInQueue);
  report.waiting = landed.length - lost.length;
  for (const { upload, because } of lost) {
    await queue.send(
      objectCreatedEvent({
        bucket: settings.rawBucket,
        key: upload.key,
        bytes: upload.bytes,
        etag: upload.etag,
        region: settings.region,
        eventTime: upload.landedAt,
      }) as unknown as Record<string, unknown>,
    );
    await repository.recordRequeue(upload, `re-queued: ${LOST_REASONS[because]}`, clock());
    report.requeued.push({ productId: upload.productId, key: upload.key, because });
    log.warn("re-queued a photo whose notification never reached the worker", {
      productId: upload.productId,
      key: upload.key,
      because,
      queue: depth,
    });
  }
};
