import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import { parser } from "@aws-lambda-powertools/batch/parser";
import type { ParsedRecord } from "@aws-lambda-powertools/batch/types";
import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import { S3Schema } from "@aws-lambda-powertools/parser/schemas";
import type { Context, SQSEvent, SQSRecord } from "aws-lambda";
import { z } from "zod";
import { DEFERRALS_ATTRIBUTE } from "../adapters/queue.ts";
import {
  type AiEditorSource,
  type AiStepOutcome,
  type AiStepSettings,
  runAiStep,
} from "../domain/ai-step.ts";
import {
  type EnhanceOutcome,
  enhanceUpload,
  ProductBusyError,
  reenhanceProduct,
  type WorkerDeps,
} from "../domain/enhance-upload.ts";
import { decodeEventKey } from "../domain/object-keys.ts";
import type { EnhanceQueue } from "../domain/ports.ts";
import { variantSpecSchema } from "../engine/variant-spec.ts";
import { ENHANCE_QUEUE_SETTINGS, RECONCILE_SETTINGS } from "../names.ts";
import { workerDepsFromEnvironment } from "./worker-runtime.ts";

/** S3 sends this once when a notification is configured; it carries no object. */
const S3TestEventSchema = z.object({ Service: z.literal("Amazon S3"), Event: z.literal("s3:TestEvent") });
/** Sent by `POST /products/{id}/enhance`: re-enhance the latest original with one chosen variant. */
export const ReenhanceMessageSchema = z.object({
  type: z.literal("reenhance"),
  requestId: z.uuid(),
  productId: z.uuid(),
  variant: variantSpecSchema,
});
export type ReenhanceMessage = z.infer<typeof ReenhanceMessageSchema>;
/** Sent by the worker once a photo's sharp variants are stored: run its AI step. */
export const AiStepMessageSchema = z.object({
  type: z.literal("ai"),
  productId: z.uuid(),
  sequence: z.number().int().min(1),
});
export const EnhanceMessageSchema = z.union([
  S3Schema,
  S3TestEventSchema,
  ReenhanceMessageSchema,
  AiStepMessageSchema,
]);

type EnhanceRecord = ParsedRecord<SQSRecord, z.infer<typeof EnhanceMessageSchema>>;

/** What the worker needs beyond the domain's dependencies: the queue it re-sends waiting photos to. */
export interface WorkerRuntime {
  deps: WorkerDeps;
  queue: EnhanceQueue;
  maxReceiveCount: number;
  /** Seconds a record needs: one is not started with less of the invocation left. */
  photoBudgetSeconds: number;
  busyRetryDelaySeconds: number;
  /** Re-sends before a photo that keeps waiting is treated as a fault: it has waited out the retry window. */
  maxDeferrals: number;
  /** Gemini, when a key is configured: the AI step's editor and settings. */
  aiStep?: { editor: AiEditorSource; settings: AiStepSettings } | undefined;
}

/** Photos enhanced, failures by code, transient faults, time per variant, and the AI step's results, as EMF. */
const recordOutcome = (metrics: Metrics, outcome: EnhanceOutcome | AiStepOutcome): void => {
  switch (outcome.kind) {
    case "ai":
      metrics.addMetric("AiVariantsMade", MetricUnit.Count, outcome.made.length);
      metrics.addMetric("AiVariantsNeedingAttention", MetricUnit.Count, outcome.needsAttention.length);
      metrics.addMetric("AiCallsFailed", MetricUnit.Count, outcome.failed.length);
      metrics.addMetric("AiRequests", MetricUnit.Count, outcome.calls);
      return;
    case "enhanced":
      metrics.addMetric("PhotosEnhanced", MetricUnit.Count, 1);
      for (const [variant, milliseconds] of Object.entries(outcome.variantMs)) {
        metrics
          .singleMetric()
          .addDimension("Variant", variant)
          .addMetric("VariantTime", MetricUnit.Milliseconds, milliseconds);
      }
      return;
    case "failed":
      metrics
        .singleMetric()
        .addDimension("FailureCode", outcome.code)
        .addMetric("PhotosFailed", MetricUnit.Count, 1);
      return;
    case "waiting":
      metrics.addMetric("PhotosWaiting", MetricUnit.Count, 1);
      return;
    case "skipped":
      metrics.addMetric("UploadsSkipped", MetricUnit.Count, 1);
      return;
  }
};

/** A thrown error is a transient fault: count it, log it, and let the queue deliver the message again. */
const withRetryMetric = async <Outcome>(
  metrics: Metrics,
  deps: WorkerDeps,
  subject: Record<string, string>,
  attempt: { number: number },
  work: () => Promise<Outcome>,
): Promise<Outcome> => {
  try {
    return await work();
  } catch (error) {
    metrics.addMetric("TransientFailures", MetricUnit.Count, 1);
    deps.log.warn("will be retried", { ...subject, attempt: attempt.number, error: String(error) });
    throw error;
  }
};

/** Storing an AI step's last results after its deadline: they must still fit the invocation. */
const AI_STEP_MARGIN_SECONDS = 5;

/** The record was not started: too little of the invocation was left. It goes back to the queue. */
export class NotStartedError extends Error {
  constructor(remainingMs: number) {
    super(`not started: ${Math.round(remainingMs / 1000)} s of the invocation left`);
    this.name = "NotStartedError";
  }
}

/**
 * A photo for a busy product waits its turn as a fresh copy of its message, sent with a delay, and this
 * delivery succeeds: SQS counts receives per message, so waiting spends none of them and a photo that
 * waits is never moved to the DLQ. Only one that has waited longer than any sequence may run is retried
 * as a fault.
 */
const waitTurn = async (
  runtime: WorkerRuntime,
  record: EnhanceRecord,
  outcome: Extract<EnhanceOutcome, { kind: "waiting" }>,
): Promise<void> => {
  const deferrals = Number(record.messageAttributes[DEFERRALS_ATTRIBUTE]?.stringValue ?? 0);
  if (deferrals >= runtime.maxDeferrals) throw new ProductBusyError(outcome.productId);
  await runtime.queue.send(record.body as Record<string, unknown>, {
    delaySeconds: runtime.busyRetryDelaySeconds,
    deferrals: deferrals + 1,
  });
  runtime.deps.log.info("photo waits its turn", {
    productId: outcome.productId,
    deferrals: deferrals + 1,
    delaySeconds: runtime.busyRetryDelaySeconds,
  });
};

export const enhanceRecord = async (
  runtime: WorkerRuntime,
  record: EnhanceRecord,
  metrics: Metrics,
  context?: Context,
): Promise<void> => {
  const { deps, maxReceiveCount } = runtime;
  const message = record.body;
  const remainingMs = context?.getRemainingTimeInMillis() ?? Number.POSITIVE_INFINITY;
  // An AI step needs its whole budget, so a slow Gemini never outlives the invocation (and the message is
  // never delivered twice because of it); a photo needs a photo's.
  const budgetSeconds =
    "type" in message && message.type === "ai" && runtime.aiStep
      ? runtime.aiStep.settings.budgetSeconds + AI_STEP_MARGIN_SECONDS
      : runtime.photoBudgetSeconds;
  if (remainingMs < budgetSeconds * 1000) throw new NotStartedError(remainingMs);
  if ("Event" in message) return;
  const receiveCount = Number(record.attributes.ApproximateReceiveCount);
  const attempt = { number: receiveCount, isLast: receiveCount >= maxReceiveCount };
  const settle = async (outcome: EnhanceOutcome, subject: Record<string, string>) => {
    recordOutcome(metrics, outcome);
    if (outcome.kind === "waiting") await waitTurn(runtime, record, outcome);
    if (outcome.kind === "skipped") deps.log.info("skipped", { ...subject, reason: outcome.reason });
  };
  if ("type" in message && message.type === "ai") {
    const subject = { productId: message.productId, sequence: String(message.sequence) };
    const aiStep = runtime.aiStep;
    if (!aiStep) {
      deps.log.info("skipped", { ...subject, reason: "the AI step is not configured in this worker" });
      return;
    }
    const outcome = await withRetryMetric(metrics, deps, subject, attempt, () =>
      runAiStep({ ...deps, editor: aiStep.editor, aiSettings: aiStep.settings }, message),
    );
    recordOutcome(metrics, outcome);
    if (outcome.kind === "skipped") deps.log.info("skipped", { ...subject, reason: outcome.reason });
    return;
  }
  if ("type" in message) {
    const subject = { productId: message.productId };
    await settle(
      await withRetryMetric(metrics, deps, subject, attempt, () => reenhanceProduct(deps, message, attempt)),
      subject,
    );
    return;
  }
  for (const s3Record of message.Records) {
    if (!s3Record.eventName.startsWith("ObjectCreated:")) continue;
    const object = {
      bucket: s3Record.s3.bucket.name,
      key: decodeEventKey(s3Record.s3.object.key),
      eventTime: new Date(s3Record.eventTime),
    };
    const subject = { bucket: object.bucket, key: object.key };
    await settle(
      await withRetryMetric(metrics, deps, subject, attempt, () => enhanceUpload(deps, object, attempt)),
      subject,
    );
  }
};

/**
 * The SQS → Lambda worker. Records go one at a time (a photo's decode is memory-heavy) and each
 * failed record is reported alone, so the rest of the batch is not redelivered. Records the time budget
 * leaves unstarted are reported as failures too, and made visible again at once.
 */
export const createEnhanceHandler = (
  runtime: WorkerRuntime,
  metrics = new Metrics({
    namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? "PixelLab",
    serviceName: "pixel-lab",
  }),
) => {
  const processor = new BatchProcessor(EventType.SQS, {
    parser,
    innerSchema: EnhanceMessageSchema,
    transformer: "json",
  });
  return async (event: SQSEvent, context: Context) => {
    const notStarted: string[] = [];
    try {
      return await processPartialResponse(
        event,
        async (record: EnhanceRecord) => {
          try {
            await enhanceRecord(runtime, record, metrics, context);
          } catch (error) {
            if (error instanceof NotStartedError) notStarted.push(record.receiptHandle);
            throw error;
          }
        },
        processor,
        { context, processInParallel: false },
      );
    } finally {
      metrics.publishStoredMetrics();
      // Not started is not failed: back on the queue now rather than after the visibility timeout.
      if (notStarted.length > 0) {
        await runtime.queue.release(notStarted).catch((error: unknown) =>
          runtime.deps.log.warn(
            "could not release unstarted records; they return after their visibility timeout",
            {
              error: String(error),
            },
          ),
        );
      }
    }
  };
};

const { maxReceiveCount, queue, aiStep, ...deps } = workerDepsFromEnvironment();
export const handler = createEnhanceHandler({
  deps,
  queue,
  maxReceiveCount,
  aiStep,
  photoBudgetSeconds: ENHANCE_QUEUE_SETTINGS.photoBudgetSeconds,
  busyRetryDelaySeconds: ENHANCE_QUEUE_SETTINGS.busyRetryDelaySeconds,
  maxDeferrals:
    Math.ceil(RECONCILE_SETTINGS.stuckAfterSeconds / ENHANCE_QUEUE_SETTINGS.busyRetryDelaySeconds) + 1,
});
