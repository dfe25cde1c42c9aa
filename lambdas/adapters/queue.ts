import {
  ChangeMessageVisibilityBatchCommand,
  GetQueueAttributesCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import type { EnhanceQueue } from "../domain/ports.ts";

export interface SqsOptions {
  region: string;
  /** Set for the local emulator, whose queue URLs name a host that does not resolve. */
  endpoint?: string | undefined;
}

export const createSqsClient = ({ region, endpoint }: SqsOptions): SQSClient =>
  new SQSClient({
    region,
    ...(endpoint ? { endpoint, credentials: { accessKeyId: "local", secretAccessKey: "local" } } : {}),
  });

/** The message attribute that counts how often a message has been re-sent to wait its turn. */
export const DEFERRALS_ATTRIBUTE = "deferrals";

export const createEnhanceQueue = (sqs: SQSClient, queueUrl: string): EnhanceQueue => ({
  async ping() {
    await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }));
  },
  async send(message, options = {}) {
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: JSON.stringify(message),
        ...(options.delaySeconds ? { DelaySeconds: options.delaySeconds } : {}),
        ...(options.deferrals
          ? {
              MessageAttributes: {
                [DEFERRALS_ATTRIBUTE]: { DataType: "Number", StringValue: String(options.deferrals) },
              },
            }
          : {}),
      }),
    );
  },
  async depth() {
    const { Attributes: attributes = {} } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: [
          "ApproximateNumberOfMessages",
          "ApproximateNumberOfMessagesNotVisible",
          "ApproximateNumberOfMessagesDelayed",
        ],
      }),
    );
    const count = (name: keyof typeof attributes) => Number(attributes[name] ?? 0);
    return {
      visible: count("ApproximateNumberOfMessages"),
      inFlight: count("ApproximateNumberOfMessagesNotVisible"),
      delayed: count("ApproximateNumberOfMessagesDelayed"),
    };
  },
  async release(receiptHandles) {
    // ChangeMessageVisibilityBatch takes at most 10 entries.
    for (let start = 0; start < receiptHandles.length; start += 10) {
      await sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: queueUrl,
          Entries: receiptHandles.slice(start, start + 10).map((handle, index) => ({
            Id: String(start + index),
            ReceiptHandle: handle,
            VisibilityTimeout: 0,
          })),
        }),
      );
    }
  },
});
