import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import { parser } from "@aws-lambda-powertools/batch/parser";
import type { ParsedRecord } from "@aws-lambda-powertools/batch/types";
import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import { S3Schema } from "@aws-lambda-powertools/parser/schemas";
import type { Context, SQSEvent, SQSRecord } from "aws-lambda";
import { z } from "zod";
import {
  type EnhanceOutcome,
  enhanceUpload,
  reenhanceProduct,
  type WorkerDeps,
} from "../domain/enhance-upload.ts";
import { decodeEventKey } from "../domain/object-keys.ts";
import { variantSpecSchema } from "../engine/variant-spec.ts";
import { workerDepsFromEnvironment } from "./runtime.ts";

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
export const EnhanceMessageSchema = z.union([S3Schema, S3TestEventSchema, ReenhanceMessageSchema]);

type EnhanceRecord = ParsedRecord<SQSRecord, z.infer<typeof EnhanceMessageSchema>>;

/** Photos enhanced, failures by code, transient faults, and time per variant, as CloudWatch EMF. */
const recordOutcome = (metrics: Metrics, outcome: EnhanceOutcome): void => {
  if (outcome.kind === "enhanced") {
    metrics.addMetric("PhotosEnhanced", MetricUnit.Count, 1);
    for (const [variant, milliseconds] of Object.entries(outcome.variantMs)) {
      metrics
        .singleMetric()
        .addDimension("Variant", variant)
        .addMetric("VariantTime", MetricUnit.Milliseconds, milliseconds);
    }
  } else if (outcome.kind === "failed") {
    metrics
      .singleMetric()
      .addDimension("FailureCode", outcome.code)
      .addMetric("PhotosFailed", MetricUnit.Count, 1);
  } else {
    metrics.addMetric("UploadsSkipped", MetricUnit.Count, 1);
  }
};

/** A thrown error is a transient fault: count it, log it, and let the queue deliver the message again. */
const withRetryMetric = async (
  metrics: Metrics,
  deps: WorkerDeps,
  subject: Record<string, string>,
  attempt: { number: number },
  work: () => Promise<EnhanceOutcome>,
): Promise<EnhanceOutcome> => {
  try {
    return await work();
  } catch (error) {
    metrics.addMetric("TransientFailures", MetricUnit.Count, 1);
    deps.log.warn("will be retried", { ...subject, attempt: attempt.number, error: String(error) });
    throw error;
  }
};

export const enhanceRecord = async (
  deps: WorkerDeps,
  maxReceiveCount: number,
  record: EnhanceRecord,
  metrics: Metrics,
): Promise<void> => {
  const message = record.body;
  if ("Event" in message) return;
  const receiveCount = Number(record.attributes.ApproximateReceiveCount);
  const attempt = { number: receiveCount, isLast: receiveCount >= maxReceiveCount };
  if ("type" in message) {
    const outcome = await withRetryMetric(metrics, deps, { productId: message.productId }, attempt, () =>
      reenhanceProduct(deps, message, attempt),
    );
    recordOutcome(metrics, outcome);
    if (outcome.kind === "skipped")
      deps.log.info("re-enhancement skipped", { productId: message.productId, reason: outcome.reason });
    return;
  }
  for (const s3Record of message.Records) {
    if (!s3Record.eventName.startsWith("ObjectCreated:")) continue;
    const object = { bucket: s3Record.s3.bucket.name, key: decodeEventKey(s3Record.s3.object.key) };
    const outcome = await withRetryMetric(metrics, deps, object, attempt, () =>
      enhanceUpload(deps, object, attempt),
    );
    recordOutcome(metrics, outcome);
    if (outcome.kind === "skipped") deps.log.info("upload skipped", { ...object, reason: outcome.reason });
  }
};

/**
 * The SQS → Lambda worker. Records go one at a time (a photo's decode is memory-heavy) and each
 * failed record is reported alone, so the rest of the batch is not redelivered.
 */
export const createEnhanceHandler = (
  deps: WorkerDeps,
  maxReceiveCount: number,
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
    try {
      return await processPartialResponse(
        event,
        (record: EnhanceRecord) => enhanceRecord(deps, maxReceiveCount, record, metrics),
        processor,
        { context, processInParallel: false },
      );
    } finally {
      metrics.publishStoredMetrics();
    }
  };
};

const { maxReceiveCount, ...deps } = workerDepsFromEnvironment();
export const handler = createEnhanceHandler(deps, maxReceiveCount);
