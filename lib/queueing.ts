import { Duration } from "aws-cdk-lib";
import { EventType, type IBucket } from "aws-cdk-lib/aws-s3";
import { SqsDestination } from "aws-cdk-lib/aws-s3-notifications";
import { Queue, QueueEncryption } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { ENHANCE_QUEUE_SETTINGS, QUEUES, RAW_PREFIX, resourceName } from "../lambdas/names.ts";

export interface QueueingProps {
  stage: string;
  rawBucket: IBucket;
}

/**
 * The enhance queue and its DLQ, fed by the raw bucket's ObjectCreated notifications for `raw/`.
 * The same settings (visibility, maxReceiveCount) drive the local stack's queue.
 */
export class Queueing extends Construct {
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;

  constructor(scope: Construct, id: string, props: QueueingProps) {
    super(scope, id);
    this.deadLetterQueue = new Queue(this, "EnhanceDeadLetter", {
      queueName: resourceName(props.stage, QUEUES.enhanceDeadLetter),
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.queue = new Queue(this, "Enhance", {
      queueName: resourceName(props.stage, QUEUES.enhance),
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // AWS's guidance: at least 6× the function timeout, so retries by the event source do not race.
      visibilityTimeout: Duration.seconds(ENHANCE_QUEUE_SETTINGS.visibilityTimeoutSeconds),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: {
        queue: this.deadLetterQueue,
        maxReceiveCount: ENHANCE_QUEUE_SETTINGS.maxReceiveCount,
      },
    });
    props.rawBucket.addEventNotification(EventType.OBJECT_CREATED, new SqsDestination(this.queue), {
      prefix: RAW_PREFIX,
    });
  }
}
