import { Duration } from "aws-cdk-lib";
import { Rule, Schedule } from "aws-cdk-lib/aws-events";
import { LambdaFunction } from "aws-cdk-lib/aws-events-targets";
import { PolicyStatement } from "aws-cdk-lib/aws-iam";
import type { NodejsFunction } from "aws-cdk-lib/aws-lambda-nodejs";
import type { IQueue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { BUCKETS, RAW_PREFIX, RECONCILE_SETTINGS } from "../lambdas/names.ts";
import type { Database } from "./database.ts";
import { pixelLabFunction } from "./lambda-function.ts";
import type { Storage } from "./storage.ts";

export interface ReconcilerProps {
  storage: Storage;
  queue: IQueue;
  database: Database;
  environment: Record<string, string>;
}

/**
 * Every few minutes: re-queues photos whose S3 notification never reached the worker, and fails
 * sequences that outlived every retry, so no product waits forever.
 */
export class Reconciler extends Construct {
  readonly function: NodejsFunction;

  constructor(scope: Construct, id: string, props: ReconcilerProps) {
    super(scope, id);
    this.function = pixelLabFunction(this, "Reconcile", {
      handler: "reconcile",
      timeout: Duration.seconds(RECONCILE_SETTINGS.timeoutSeconds),
      environment: props.environment,
    });
    props.database.cluster.grantDataApiAccess(this.function);
    // Sends re-queued notifications, and reads the queue's counts to tell a backlog from a loss.
    props.queue.grantSendMessages(this.function);
    // HEAD on an upload's key: GetObject for the object, ListBucket so a missing one answers 404.
    this.function.addToRolePolicy(
      new PolicyStatement({
        actions: ["s3:GetObject"],
        resources: [props.storage.objectsArn(BUCKETS.raw, RAW_PREFIX)],
      }),
    );
    this.function.addToRolePolicy(
      new PolicyStatement({
        actions: ["s3:ListBucket"],
        resources: [props.storage.rawBucket.bucketArn],
        conditions: { StringLike: { "s3:prefix": [`${RAW_PREFIX}*`] } },
      }),
    );
    new Rule(this, "Schedule", {
      description: "Pixel Lab reconciler: lost notifications and stuck sequences",
      schedule: Schedule.rate(Duration.minutes(RECONCILE_SETTINGS.intervalMinutes)),
      targets: [new LambdaFunction(this.function, { retryAttempts: 2 })],
    });
  }
}
