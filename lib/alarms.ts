import { Duration } from "aws-cdk-lib";
import { Alarm, ComparisonOperator, TreatMissingData } from "aws-cdk-lib/aws-cloudwatch";
import { SnsAction } from "aws-cdk-lib/aws-cloudwatch-actions";
import type { IFunction } from "aws-cdk-lib/aws-lambda";
import { Topic } from "aws-cdk-lib/aws-sns";
import { EmailSubscription } from "aws-cdk-lib/aws-sns-subscriptions";
import type { IQueue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { ENHANCE_QUEUE_SETTINGS } from "../lambdas/names.ts";

export interface AlarmsProps {
  queue: IQueue;
  deadLetterQueue: IQueue;
  worker: IFunction;
  /** Where alarm notifications go; without it they are visible in the console only. */
  email?: string;
}

/** The three signs that photos are not flowing: something in the DLQ, worker errors, a queue that ages. */
export class Alarms extends Construct {
  readonly topic: Topic;

  constructor(scope: Construct, id: string, props: AlarmsProps) {
    super(scope, id);
    this.topic = new Topic(this, "Topic", { enforceSSL: true });
    if (props.email) this.topic.addSubscription(new EmailSubscription(props.email));
    const action = new SnsAction(this.topic);

    const alarms = [
      new Alarm(this, "DeadLetterNotEmpty", {
        alarmDescription: "Photos failed every retry and wait in the DLQ; their products are marked failed.",
        metric: props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
          period: Duration.minutes(1),
        }),
        threshold: 0,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
      new Alarm(this, "WorkerErrors", {
        alarmDescription: "The enhance worker failed whole invocations (crash, timeout, out of memory).",
        metric: props.worker.metricErrors({ period: Duration.minutes(5) }),
        threshold: 0,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
      new Alarm(this, "OldestMessageAge", {
        alarmDescription:
          "Photos wait in the enhance queue longer than one retry cycle: the worker is behind or stuck.",
        metric: props.queue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(1) }),
        threshold: ENHANCE_QUEUE_SETTINGS.visibilityTimeoutSeconds * 2,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    ];
    for (const alarm of alarms) alarm.addAlarmAction(action);
  }
}
