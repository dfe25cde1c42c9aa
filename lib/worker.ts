import { Duration } from "aws-cdk-lib";
import { PolicyStatement } from "aws-cdk-lib/aws-iam";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import type { NodejsFunction } from "aws-cdk-lib/aws-lambda-nodejs";
import type { IQueue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import {
  BUCKETS,
  ENHANCE_QUEUE_SETTINGS,
  ENHANCED_PREFIX,
  ENV,
  RAW_PREFIX,
  WORKER_PROCESS_ENV,
} from "../lambdas/names.ts";
import type { Database } from "./database.ts";
import { type GeminiKey, type GeminiTuning, geminiTuningEnvironment } from "./gemini-key.ts";
import { pixelLabFunction } from "./lambda-function.ts";
import type { Storage } from "./storage.ts";

export interface WorkerProps {
  storage: Storage;
  queue: IQueue;
  database: Database;
  environment: Record<string, string>;
  /** The Gemini API key's secret: the worker is the one function that reads it. */
  geminiKey: GeminiKey;
  /** The Gemini step's optional tuning; unset, the runtime's defaults. */
  geminiTuning?: GeminiTuning;
}

/**
 * The enhance worker: SQS batches with partial batch failures, sharp's Linux binaries in the bundle,
 * and exactly the access it needs — read raw/, write enhanced/, the Data API, read the Gemini key.
 */
export class Worker extends Construct {
  readonly function: NodejsFunction;

  constructor(scope: Construct, id: string, props: WorkerProps) {
    super(scope, id);
    const { storage, queue, database } = props;
    this.function = pixelLabFunction(this, "Enhance", {
      handler: "enhance",
      withSharp: true,
      // sharp decodes a 100 MP photo in memory; 2 GB also buys a full vCPU for the encode.
      memorySize: 2048,
      timeout: Duration.seconds(ENHANCE_QUEUE_SETTINGS.workerTimeoutSeconds),
      environment: {
        ...props.environment,
        ...WORKER_PROCESS_ENV,
        [ENV.geminiApiKeySecretArn]: props.geminiKey.secret.secretArn,
        ...geminiTuningEnvironment(props.geminiTuning),
      },
    });
    this.function.addEventSource(
      new SqsEventSource(queue, {
        batchSize: ENHANCE_QUEUE_SETTINGS.batchSize,
        reportBatchItemFailures: true,
        maxConcurrency: ENHANCE_QUEUE_SETTINGS.maxConcurrency,
      }),
    );
    // A photo for a busy product waits its turn as a fresh, delayed copy of its message.
    queue.grantSendMessages(this.function);
    this.function.addToRolePolicy(
      new PolicyStatement({
        actions: ["s3:GetObject"],
        resources: [storage.objectsArn(BUCKETS.raw, RAW_PREFIX)],
      }),
    );
    // Without ListBucket a missing object answers 403, not 404, and would be retried as a fault.
    this.function.addToRolePolicy(
      new PolicyStatement({
        actions: ["s3:ListBucket"],
        resources: [storage.rawBucket.bucketArn],
        conditions: { StringLike: { "s3:prefix": [`${RAW_PREFIX}*`] } },
      }),
    );
    this.function.addToRolePolicy(
      new PolicyStatement({
        actions: ["s3:PutObject"],
        resources: [storage.objectsArn(BUCKETS.enhanced, ENHANCED_PREFIX)],
      }),
    );
    database.cluster.grantDataApiAccess(this.function);
    props.geminiKey.grantRead(this.function);
  }
}
