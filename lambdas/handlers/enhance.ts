import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import { parser } from "@aws-lambda-powertools/batch/parser";
import type { ParsedRecord } from "@aws-lambda-powertools/batch/types";
import { S3Schema } from "@aws-lambda-powertools/parser/schemas";
import type { Context, SQSEvent, SQSRecord } from "aws-lambda";
import { z } from "zod";
import { enhanceUpload, type WorkerDeps } from "../domain/enhance-upload.ts";
import { decodeEventKey } from "../domain/object-keys.ts";
import { workerDepsFromEnvironment } from "./runtime.ts";

/** S3 sends this once when a notification is configured; it carries no object. */
const S3TestEventSchema = z.object({ Service: z.literal("Amazon S3"), Event: z.literal("s3:TestEvent") });
export const EnhanceMessageSchema = z.union([S3Schema, S3TestEventSchema]);

type EnhanceRecord = ParsedRecord<SQSRecord, z.infer<typeof EnhanceMessageSchema>>;

export const enhanceRecord = async (
  deps: WorkerDeps,
  maxReceiveCount: number,
  record: EnhanceRecord,
): Promise<void> => {
  const message = record.body;
  if ("Event" in message) return;
  const receiveCount = Number(record.attributes.ApproximateReceiveCount);
  const attempt = { number: receiveCount, isLast: receiveCount >= maxReceiveCount };
  for (const s3Record of message.Records) {
    if (!s3Record.eventName.startsWith("ObjectCreated:")) continue;
    const object = { bucket: s3Record.s3.bucket.name, key: decodeEventKey(s3Record.s3.object.key) };
    const outcome = await enhanceUpload(deps, object, attempt);
    if (outcome.kind === "skipped") deps.log.info("upload skipped", { ...object, reason: outcome.reason });
  }
};

/**
 * The SQS → Lambda worker. Records go one at a time (a photo's decode is memory-heavy) and each
 * failed record is reported alone, so the rest of the batch is not redelivered.
 */
export const createEnhanceHandler = (deps: WorkerDeps, maxReceiveCount: number) => {
  const processor = new BatchProcessor(EventType.SQS, {
    parser,
    innerSchema: EnhanceMessageSchema,
    transformer: "json",
  });
  return (event: SQSEvent, context: Context) =>
    processPartialResponse(
      event,
      (record: EnhanceRecord) => enhanceRecord(deps, maxReceiveCount, record),
      processor,
      {
        context,
        processInParallel: false,
      },
    );
};

const { maxReceiveCount, ...deps } = workerDepsFromEnvironment();
export const handler = createEnhanceHandler(deps, maxReceiveCount);
